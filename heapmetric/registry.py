"""The criteria registry: tasks and criteria as versioned YAML data files in ``heapmetric/criteria/``.

Each file describes one task::

    task: summarization
    version: 1
    description: ...
    criteria:
      coherence:
        definition: ...
        scale: [1, 5]              # the human scale of the converted data
        fields: [source]           # input fields the criterion reads besides the output
        instructions:              # >= 3 paraphrases; the first is the canonical one used at inference
          - ...

A free-text instruction (``--instruction``) becomes a :class:`Criterion` through :func:`free_text_criterion`
and takes the same path through rendering, scoring and the service as a registered one.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from heapmetric.errors import InputError, UnknownNameError

FIELDS = ("source", "context", "reference", "instruction")
"""Input fields a criterion may read; ``output`` is always read."""


@dataclass(frozen=True)
class Criterion:
    """One task × criterion: what to judge, how to ask for it, which fields it reads, and its human scale."""

    task: str
    name: str
    definition: str
    instructions: tuple[str, ...]
    fields: tuple[str, ...] = ()
    scale: tuple[float, float] | None = None
    version: int = 1
    custom: bool = False
    datasets: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        """``task/criterion``, the key used in results and reports."""
        return f"{self.task}/{self.name}"

    @property
    def instruction(self) -> str:
        """The canonical instruction, used at inference."""
        return self.instructions[0]


def free_text_criterion(
    instruction: str, *, fields: tuple[str, ...] | None = None, scale: tuple[float, float] | None = None
) -> Criterion:
    """A criterion from a user's own instruction ("Rate how polite the reply is"), identified by its hash."""
    text = instruction.strip()
    if not text:
        raise InputError("the instruction is empty", field="instruction")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Criterion(
        task="custom",
        name=f"instruction-{digest}",
        definition=text,
        instructions=(text,),
        fields=tuple(fields) if fields is not None else ("source", "context", "reference"),
        scale=scale,
        custom=True,
    )


def _parse(name: str, data: Any) -> tuple[str, dict[str, Criterion]]:
    where = {"file": f"heapmetric/criteria/{name}"}
    if not isinstance(data, dict):
        raise InputError("expected a mapping at top level", **where)
    for key in ("task", "version", "criteria"):
        if key not in data:
            raise InputError("missing required key", field=key, **where)
    unknown = set(data) - {"task", "version", "description", "criteria", "datasets"}
    if unknown:
        raise InputError("unknown key", field=sorted(unknown)[0], **where)
    task = data["task"]
    out: dict[str, Criterion] = {}
    for cname, spec in data["criteria"].items():
        f = f"criteria.{cname}"
        if not isinstance(spec, dict):
            raise InputError("expected a mapping", field=f, **where)
        bad = set(spec) - {"definition", "instructions", "fields", "scale", "datasets"}
        if bad:
            raise InputError("unknown key", field=f"{f}.{sorted(bad)[0]}", **where)
        instructions = spec.get("instructions") or []
        if len(instructions) < 3 or not all(isinstance(i, str) and i.strip() for i in instructions):
            raise InputError(
                "needs at least 3 non-empty instruction paraphrases", field=f"{f}.instructions", **where
            )
        if not isinstance(spec.get("definition"), str):
            raise InputError("missing definition", field=f"{f}.definition", **where)
        fields_ = tuple(spec.get("fields") or ())
        if set(fields_) - set(FIELDS):
            raise InputError(f"fields must be among {FIELDS}", field=f"{f}.fields", **where)
        scale = spec.get("scale")
        if scale is not None and (len(scale) != 2 or not scale[0] < scale[1]):
            raise InputError("scale must be [low, high]", field=f"{f}.scale", **where)
        out[cname] = Criterion(
            task=task,
            name=cname,
            definition=spec["definition"].strip(),
            instructions=tuple(i.strip() for i in instructions),
            fields=fields_,
            scale=tuple(scale) if scale else None,
            version=int(data["version"]),
            datasets=tuple(spec.get("datasets") or data.get("datasets") or ()),
        )
    return task, out


@functools.lru_cache(maxsize=1)
def _load() -> tuple[dict[str, dict[str, Criterion]], str]:
    import yaml

    tasks: dict[str, dict[str, Criterion]] = {}
    digest = hashlib.sha256()
    folder = resources.files("heapmetric") / "criteria"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        text = entry.read_text(encoding="utf-8")
        digest.update(entry.name.encode() + b"\0" + text.encode())
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(
                f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                file=f"heapmetric/criteria/{entry.name}",
                line=mark.line + 1 if mark is not None else None,
            ) from exc
        task, criteria = _parse(entry.name, parsed)
        if task in tasks:
            raise InputError(f"task {task!r} defined twice", file=f"heapmetric/criteria/{entry.name}")
        tasks[task] = criteria
    return tasks, digest.hexdigest()[:12]


def registry_version() -> str:
    """A short hash of every criteria file: changes whenever any wording changes."""
    return _load()[1]


def tasks() -> list[str]:
    """Names of all registered tasks."""
    return sorted(_load()[0])


def list_criteria(task: str | None = None) -> list[Criterion]:
    """All registered criteria, or those of one task."""
    registry = _load()[0]
    if task is not None:
        if task not in registry:
            raise UnknownNameError("task", task, registry)
        return list(registry[task].values())
    return [c for t in sorted(registry) for c in registry[t].values()]


def get_criterion(task: str, criterion: str) -> Criterion:
    """The registered criterion ``task/criterion``; unknown names raise with close matches."""
    registry = _load()[0]
    if task not in registry:
        raise UnknownNameError("task", task, registry)
    if criterion not in registry[task]:
        raise UnknownNameError(f"criterion of task {task!r}", criterion, registry[task])
    return registry[task][criterion]


def resolve(
    task: str | None = None, criterion: str | None = None, instruction: str | None = None
) -> Criterion:
    """The criterion a caller means: a free-text ``instruction`` wins, else ``task`` + ``criterion``.

    ``criterion`` may also be given as ``task/criterion``.
    """
    if instruction:
        return free_text_criterion(instruction)
    if criterion and "/" in criterion and not task:
        task, criterion = criterion.split("/", 1)
    if not task or not criterion:
        raise InputError("name a task and a criterion (--task/--criterion) or give an --instruction")
    return get_criterion(task, criterion)
