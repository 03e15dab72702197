"""``heapmetric criteria``: list the registered tasks and criteria, or validate the criteria files."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common

    p = sub.add_parser(
        "criteria",
        help="list or validate the registered tasks and criteria",
        description="List the criteria registry (heapmetric/criteria/*.yaml).",
    )
    p.add_argument("action", nargs="?", choices=["list", "validate", "show"], default="list")
    p.add_argument("name", nargs="?", help="for 'show': task/criterion")
    p.add_argument("--task", help="only this task")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heapmetric import registry

    if args.action == "validate":
        criteria = registry.list_criteria()
        print(
            f"ok: {len(registry.tasks())} tasks, {len(criteria)} criteria, "
            f"registry version {registry.registry_version()}"
        )
        return 0
    if args.action == "show":
        c = registry.resolve(criterion=args.name)
        items = [c]
    else:
        items = registry.list_criteria(args.task)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "task": c.task,
                        "criterion": c.name,
                        "definition": c.definition,
                        "fields": list(c.fields),
                        "scale": list(c.scale) if c.scale else None,
                        "instructions": list(c.instructions),
                        "datasets": list(c.datasets),
                        "version": c.version,
                    }
                    for c in items
                ],
                indent=2,
            )
        )
        return 0
    width = max(len(c.id) for c in items)
    for c in items:
        scale = f"[{c.scale[0]:g}, {c.scale[1]:g}]" if c.scale else "-"
        print(f"{c.id:<{width}}  {scale:<10}  {c.definition}")
        if args.action == "show":
            print("fields: " + ", ".join(("output",) + c.fields))
            for i, text in enumerate(c.instructions):
                print(f"  [{i}] {text}")
    return 0
