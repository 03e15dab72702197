"""The versioned synthesis prompts (``heapmetric/synth/prompts/*.yaml``): loading, checking, rendering."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from heapmetric.errors import InputError, UnknownNameError

STAGES = ("instruction_feedback", "response_feedback", "instructions", "response", "refine", "repair")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class StagePrompt:
    """One stage's prompt: ``kind`` (json | sections | text), an optional ``schema``, system and user templates.

    A ``sections`` stage is answered as headed bullet lists (``Strengths:`` then ``- item`` lines), which small
    models fill far more reliably than JSON; ``sections`` maps each schema field to its heading. Its reply is
    parsed into the same dict as a JSON reply and checked against the same schema.
    """

    stage: str
    kind: str
    user: str
    system: str | None = None
    schema: dict[str, str] | None = None
    sections: dict[str, str] | None = None

    @property
    def example_items(self) -> frozenset[str]:
        """The template's own lines (its worked example; bullets stripped), normalised: a sections reply that
        repeats them has copied the example instead of answering."""
        from heapmetric.synth.structured import normalise_item

        lines = (re.sub(r"^- ", "", x.strip()) for x in self.user.splitlines())
        return frozenset(
            n
            for n in (normalise_item(x) for x in lines)
            if n and not _PLACEHOLDER.search(n) and not n.endswith(":")
        )

    def render(self, **values: Any) -> str:
        """The user message with every ``{{name}}`` replaced; a missing value is an error."""
        missing = [m for m in _PLACEHOLDER.findall(self.user) if m not in values]
        if missing:
            raise KeyError(f"prompt {self.stage!r} needs {missing}")
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.user)

    def messages(self, **values: Any) -> list[dict[str, str]]:
        """System (if any) + rendered user message."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": self.render(**values)}]


@dataclass(frozen=True)
class PromptSet:
    """All stage prompts of one file, with its name, version and a hash of its text."""

    name: str
    version: int
    digest: str
    stages: dict[str, StagePrompt]

    @property
    def id(self) -> str:
        """``name@version#digest``: changes whenever the wording changes."""
        return f"{self.name}@{self.version}#{self.digest}"

    def __getitem__(self, stage: str) -> StagePrompt:
        return self.stages[stage]


def _parse(filename: str, text: str) -> PromptSet:
    import yaml

    where = {"file": f"heapmetric/synth/prompts/{filename}"}
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InputError("expected a mapping", **where)
    for key in ("name", "version", "stages"):
        if key not in data:
            raise InputError("missing required key", field=key, **where)
    stages: dict[str, StagePrompt] = {}
    for stage in STAGES:
        spec = data["stages"].get(stage)
        if not isinstance(spec, dict) or not isinstance(spec.get("user"), str):
            raise InputError("missing stage or its 'user' template", field=f"stages.{stage}", **where)
        kind = spec.get("kind", "text")
        if kind not in ("json", "sections", "text"):
            raise InputError("kind must be json, sections or text", field=f"stages.{stage}.kind", **where)
        schema = spec.get("schema")
        if kind in ("json", "sections") and not isinstance(schema, dict):
            raise InputError(f"a {kind} stage needs a schema", field=f"stages.{stage}.schema", **where)
        sections = spec.get("sections")
        if kind == "sections" and (not isinstance(sections, dict) or set(sections) != set(schema)):
            raise InputError(
                "a sections stage needs a heading for each schema field",
                field=f"stages.{stage}.sections",
                **where,
            )
        stages[stage] = StagePrompt(
            stage=stage,
            kind=kind,
            user=spec["user"],
            system=spec.get("system"),
            schema=schema,
            sections=sections if kind == "sections" else None,
        )
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return PromptSet(name=str(data["name"]), version=int(data["version"]), digest=digest, stages=stages)


#: ``--prompt-set`` names per model class: ``small`` is worded so that a 135M model can fill it (headed lists),
#: ``capable`` asks capable chat models for JSON in every structured stage. A file stem works too.
PROMPT_SETS = {"small": "refed", "capable": "refed_capable"}


@functools.lru_cache(maxsize=8)
def load_prompts(name: str = "refed") -> PromptSet:
    """The prompt set ``heapmetric/synth/prompts/<name>.yaml`` (``name`` may be a :data:`PROMPT_SETS` alias)."""
    name = PROMPT_SETS.get(name, name)
    folder = resources.files("heapmetric") / "synth" / "prompts"
    known = sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".yaml"))
    if name not in known:
        raise UnknownNameError("synthesis prompt set", name, known)
    return _parse(f"{name}.yaml", (folder / f"{name}.yaml").read_text(encoding="utf-8"))
