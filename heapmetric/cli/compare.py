"""``heapmetric compare``: P(output_a better than output_b) for every row of a file of pairs.

    heapmetric compare -i pairs.jsonl --task summarization --criterion coherence -o judged.jsonl
    heapmetric compare -i pairs.csv --map output_a=sys1,output_b=sys2,source=src --instruction "..."

Rows need ``output_a`` and ``output_b`` (or ``--map``). Writes the rows with ``p_a_better`` added (plus
``score_a``/``score_b`` when the judge scores each side). The trained metric gives sigmoid(s_a - s_b); a
generative judge asks A-or-B with the positions swapped. Takes the same options as ``heapmetric score``.
"""

from __future__ import annotations

import argparse
import sys

from heapmetric.cli.score import (
    PAIR_FIELDS,
    PROGRESS_MIN_ITEMS,
    add_model_options,
    check_batch_size,
    field_values,
    load_judge,
    parse_mapping,
    read_rows,
    resolve_criteria,
    write_rows,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from heapmetric.cli import add_common

    p = sub.add_parser(
        "compare",
        help="P(a better than b) for pairs of outputs in a file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_options(p)
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import statistics

    from heapmetric.errors import InputError
    from heapmetric.judges.base import PairItem

    if getattr(args, "engine", "local") == "ray":
        from heapmetric.distributed.cli import run_ray

        return run_ray(args, "compare")
    check_batch_size(args)
    mapping = parse_mapping(args.mapping, PAIR_FIELDS)
    rows = read_rows(args, mapping)
    pairs, lines, sides = [], [], []
    for line, row in rows:
        values = field_values(row, mapping, PAIR_FIELDS, file=args.input, line=line)
        for side in ("output_a", "output_b"):
            if side not in values:
                raise InputError(
                    "missing required field", file=args.input, line=line, field=mapping.get(side, side)
                )
        if (
            "instruction" not in values
            and "task" not in values
            and "criterion" not in values
            and args.instruction
        ):
            values["instruction"] = args.instruction
        if "instruction" not in values:
            values.setdefault("task", args.task)
            values.setdefault("criterion", args.criterion)
        refs = values.pop("references", None)
        if refs and "reference" not in values:
            values["reference"] = refs[0]
        sides.append((values.pop("system_a", None), values.pop("system_b", None)))
        pairs.append(PairItem(**values))
        lines.append(line)
    resolve_criteria(pairs, lines, args)
    judge = load_judge(args)
    result = judge.compare(
        pairs, batch_size=args.batch_size, show_progress=not args.quiet and len(pairs) >= PROGRESS_MIN_ITEMS
    )
    out = []
    for i, (_, row) in enumerate(rows):
        new = dict(row)
        new["p_a_better"] = result.probabilities[i]
        if result.scores_a is not None and result.scores_b is not None:
            new["score_a"], new["score_b"] = result.scores_a[i], result.scores_b[i]
        out.append(new)
    write_rows(args, out)
    if not args.quiet:
        probs = result.probabilities
        wins = sum(p > 0.5 for p in probs)
        print(
            f"mean P(a better) {statistics.fmean(probs):.4f}; a preferred in {wins} of {len(probs)} pairs",
            file=sys.stderr,
        )
        by_pair: dict[tuple[str, str], list[float]] = {}
        for (sa, sb), p in zip(sides, probs, strict=True):
            if sa is not None and sb is not None:
                by_pair.setdefault((sa, sb), []).append(p)
        for (sa, sb), ps in sorted(by_pair.items()):
            print(
                f"{sa} vs {sb}: mean P(a better) {statistics.fmean(ps):.4f} over {len(ps)} pairs",
                file=sys.stderr,
            )
    return 0
