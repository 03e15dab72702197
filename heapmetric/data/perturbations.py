"""Rule-based perturbations of real outputs: the negatives of the robustness pairs and of the robustness suite.

Each perturbation is a pure function ``(text, rng, ctx) -> str | None``: it reads only the output, a seeded
:class:`random.Random` and a :class:`PerturbContext` (the input fields and outputs of *other* items), uses no
model, and returns ``None`` when it does not apply (nothing to swap, too short, result equal to the input).
:func:`perturb` is the entry point: it seeds the generator from ``(seed, name, key)`` so the same call gives
the same text on every machine and Python version, and it guarantees a non-empty result that differs from the
original beyond whitespace.

Which criteria each perturbation breaks is data (``perturbation_targets.yaml``, see :func:`load_targets`):
a shuffle breaks fluency and coherence, not coverage, so it makes pairs only for the former.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any

from heapmetric.errors import InputError, UnknownNameError

TARGETS_FILE = "perturbation_targets.yaml"


@dataclass(frozen=True)
class PerturbContext:
    """What a perturbation may read besides the output: the item's task and input fields and ``donors``,
    outputs written for *other* inputs of the same dataset and split (for off-topic answers and entity pools)."""

    source: str | None = None
    context: str | None = None
    reference: str | None = None
    donors: Sequence[str] = field(default_factory=tuple)
    task: str | None = None


Perturbation = Callable[[str, random.Random, PerturbContext], "str | None"]

# ---------------------------------------------------------------------------------------------- text helpers

_SENT_END = re.compile(r"(?<=[.!?])\s+")
_WORD_CHARS = re.compile(r"\w", re.UNICODE)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _lowercase_like(template: str, original: str) -> str:
    """``template`` lowercased when the original has no capital letters (the USR dialogue data is lowercased),
    so that casing alone never gives the perturbed side away."""
    return template.lower() if not any(c.isupper() for c in original) else template


def split_units(text: str) -> tuple[list[str], str]:
    """Sentences (or lines, when the text has several non-empty lines) and the separator that rejoins them."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 2:
        return lines, "\n"
    return [s for s in _SENT_END.split(text.strip()) if s.strip()], " "


def _ends_sentence(word: str) -> bool:
    return word.rstrip("\"')]»”’").endswith((".", "!", "?"))


# ---------------------------------------------------------------------------------------------- perturbations


def word_shuffle_global(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """All words in a random order (word salad); needs at least 4 words."""
    words = text.split()
    if len(words) < 4 or len(set(words)) < 2:
        return None
    for _ in range(5):
        rng.shuffle(words)
        out = " ".join(words)
        if out != _norm(text):
            return out
    return None


def fragment_salad(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """A telegraphic word list: 30-60% of the words (punctuation stripped) in a random order, cut into
    fragments of 1-5 words that each start with a capital and end with a period ("A library. The mayor cafe
    roads."), so the text looks like short sentences but none is one; needs at least 8 words."""
    words = [w for w in (re.sub(r"[^\w'-]", "", w) for w in text.split()) if w]
    if len(words) < 8 or len(set(w.lower() for w in words)) < 4:
        return None
    keep = rng.sample(words, max(3, round(rng.uniform(0.3, 0.6) * len(words))))
    fragments: list[str] = []
    i = 0
    while i < len(keep):
        n = rng.randint(1, 5)
        chunk = keep[i : i + n]
        fragments.append(chunk[0][:1].upper() + chunk[0][1:] + "".join(" " + w for w in chunk[1:]) + ".")
        i += n
    return _lowercase_like(" ".join(fragments), text)


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _replace_words(text: str, spans: list[re.Match[str]], words: list[str]) -> str:
    """``text`` with its whitespace-separated words replaced one for one (line breaks and spacing kept)."""
    out, last = [], 0
    for m, w in zip(spans, words, strict=True):
        out += [text[last : m.start()], w]
        last = m.end()
    return "".join(out) + text[last:]


def word_shuffle_local(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Words shuffled inside windows of 3 (each window moved at least once where its words differ); line
    breaks and spacing stay where they were."""
    spans = _words(text)
    words = [m.group(0) for m in spans]
    if len(words) < 4:
        return None
    start = rng.randrange(3)
    out = words[:start]
    for i in range(start, len(words), 3):
        window = words[i : i + 3]
        if len(set(window)) > 1:
            original = list(window)
            while window == original:
                rng.shuffle(window)
        out.extend(window)
    return _replace_words(text, spans, out)


def sentence_shuffle(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Sentences (or lines) in a new order; needs at least 2 different ones."""
    units, sep = split_units(text)
    if len(units) < 2 or len(set(units)) < 2:
        return None
    order = list(units)
    while order == units:
        rng.shuffle(order)
    return sep.join(order)


def repeat_sentence(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """One sentence (or line) repeated 2-3 extra times right after itself."""
    units, sep = split_units(text)
    if not units:
        return None
    i = rng.randrange(len(units))
    copies = rng.randint(2, 3)
    return sep.join(units[: i + 1] + [units[i]] * copies + units[i + 1 :])


def ngram_loop(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """A degenerate loop: a 2-4 word n-gram from the middle repeated 4-6 times in place; needs 6 words."""
    spans = _words(text)
    if len(spans) < 6:
        return None
    n = rng.randint(2, min(4, len(spans) // 2))
    end = rng.randint(max(n, len(spans) * 3 // 10), max(n, len(spans) * 7 // 10))
    gram = " ".join(m.group(0) for m in spans[end - n : end])
    cut = spans[end - 1].end()
    return text[:cut] + f" {gram}" * rng.randint(4, 6) + text[cut:]


def truncate(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Cut after 30-60% of the words, mid-sentence (never right after a sentence end); needs 8 words."""
    spans = _words(text)
    if len(spans) < 8:
        return None
    low, high = max(1, round(0.3 * len(spans))), max(1, round(0.6 * len(spans)))
    cuts = [k for k in range(low, high + 1) if not _ends_sentence(spans[k - 1].group(0))]
    if not cuts:
        return None
    k = rng.choice(cuts)
    return text[: spans[k - 1].end()].rstrip(",;:-–—")


def drop_sentence(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """One sentence (or line) left out, keeping the rest fluent; needs at least 2."""
    units, sep = split_units(text)
    if len(units) < 2:
        return None
    i = rng.randrange(len(units))
    return sep.join(units[:i] + units[i + 1 :])


def off_topic(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """An output written for another input (a donor) that shares under half of the original's words."""
    mine = set(_norm(text).lower().split())
    candidates = []
    for d in ctx.donors:
        theirs = set(_norm(d).lower().split())
        if theirs and len(mine & theirs) / len(mine | theirs) < 0.5 and _norm(d) != _norm(text):
            candidates.append(d)
    return rng.choice(candidates) if candidates else None


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")


def _changed_number(token: str, rng: random.Random) -> str:
    sep = "." if "." in token else "," if "," in token else ""
    if sep:
        whole, frac = token.split(sep, 1)
        value = int(whole)
        new = value + rng.choice([-1, 1]) * rng.randint(1, max(1, value // 2 or 1))
        return (
            f"{max(new, 0) if value >= 0 else new}{sep}{frac}" if new != value else f"{value + 1}{sep}{frac}"
        )
    value = int(token)
    if 1900 <= value <= 2100:
        delta = rng.randint(1, 9)
    else:
        delta = rng.randint(1, max(2, value // 2))
    new = value + delta if value - delta < 0 or rng.random() < 0.5 else value - delta
    return str(new).zfill(len(token)) if token.startswith("0") else str(new)


def number_change(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """One or two numbers changed to other values (years by 1-9, counts by up to half); needs a number."""
    spans = [m.span() for m in _NUMBER.finditer(text)]
    if not spans:
        return None
    chosen = sorted(rng.sample(spans, min(len(spans), rng.randint(1, 2))), reverse=True)
    out = text
    for start, end in chosen:
        out = out[:start] + _changed_number(text[start:end], rng) + out[end:]
    return out


_CAP_SPAN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of\s+|de\s+|von\s+)?[A-Z][\w'’-]*)*")
_MR_VALUE = re.compile(r"(\w+)\s*=\s*(?:'([^']+)'|\"([^\"]+)\"|([^,()'\"]+))")
_STOP_CAPS = {"I", "I'm", "I've", "I'll", "I'd", "The", "A", "An", "It", "He", "She", "We", "They", "You"}


def _entities(text: str) -> list[str]:
    """Capitalised spans (names, places, organisations): mid-sentence ones, and sentence-initial ones of two
    or more words ("Paul Merson"); a leading "The"/"A"/pronoun is not part of the span."""
    out = []
    for m in _CAP_SPAN.finditer(text):
        words = m.group(0).split()
        while words and words[0] in _STOP_CAPS:
            words.pop(0)
        span = " ".join(words)
        before = text[: m.start()].rstrip()
        initial = not before or before.endswith((".", "!", "?", ":", "\n", '"', "“"))
        if len(span) < 2 or (initial and (len(words) < 2 or words != m.group(0).split())):
            continue
        out.append(span)
    return out


def _mr_values(source: str | None) -> list[str]:
    """Slot values of a meaning representation such as ``inform(name='x',food=thai)``."""
    if not source or "=" not in source:
        return []
    values = []
    for m in _MR_VALUE.finditer(source):
        value = next(g for g in m.groups()[1:] if g is not None).strip()
        if m.group(1) != "type" and len(value) > 1 and value.lower() not in ("yes", "no", "none", "dontcare"):
            values.append(value)
    return values


def entity_swap(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """A name, place or slot value of the output replaced by another one from the source, else from other
    items' outputs (capitalised spans, or the slot values of a meaning-representation source)."""
    lowered = text.lower()
    mr = [v for v in _mr_values(ctx.source) if v.lower() in lowered]
    own = mr or list(dict.fromkeys(_entities(text)))
    if not own:
        return None
    if mr:
        pool = [v for v in _mr_values(ctx.source) if v.lower() not in lowered]
        pool += [v for d in ctx.donors for v in _mr_values(d)] if not pool else []
    else:
        pool = [e for e in dict.fromkeys(_entities(ctx.source or "")) if e not in text]
        if not pool:
            pool = [e for d in ctx.donors for e in dict.fromkeys(_entities(d)) if e not in text]
    pool = [p for p in dict.fromkeys(pool) if p.lower() not in lowered]
    if not pool:
        return None
    target = rng.choice(own)
    replacement = rng.choice(pool)
    if mr:
        start = lowered.index(target.lower())
        return text[:start] + replacement + text[start + len(target) :]
    return re.sub(rf"(?<!\w){re.escape(target)}(?!\w)", replacement, text)


REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I'm sorry, I cannot assist with this request.",
    "As an AI language model, I am not able to answer that.",
    "Sorry, I don't have enough information to respond to this.",
    "I'm afraid I can't provide a response to that.",
    "Unfortunately, I am unable to complete this task.",
)

GENERIC_RESPONSES = (
    "I don't know.",
    "That's cool.",
    "Haha, okay.",
    "I'm not sure what you mean.",
    "Yes.",
    "Ok, sounds good.",
)


def _template(templates: Sequence[str], text: str, rng: random.Random) -> str | None:
    choices = [t for t in templates if _norm(_lowercase_like(t, text)) != _norm(text)]
    return _lowercase_like(rng.choice(choices), text) if choices else None


def refusal(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """A generic refusal or non-answer ("I'm sorry, but I can't help with that.") from several templates."""
    return _template(REFUSALS, text, rng)


def generic_response(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """A dull, generic dialogue reply ("I don't know.", "That's cool.") from several templates."""
    return _template(GENERIC_RESPONSES, text, rng)


def _last_turn(context: str) -> str:
    turns = [t for t in context.splitlines() if t.strip()]
    return re.sub(r"^(User|System|Speaker \d|[AB]):\s*", "", turns[-1].strip()) if turns else ""


def echo_input(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """The input parroted back: in a dialogue task the last turn of the context, elsewhere the source (the
    user's request or post), else the last line of the context."""
    dialogue = (ctx.task or "").startswith("dialogue")
    if dialogue and ctx.context and ctx.context.strip():
        echo = _last_turn(ctx.context)
    elif ctx.source and ctx.source.strip():
        echo = ctx.source.strip()
    else:
        echo = _last_turn(ctx.context or "")
    return echo if echo and _norm(echo) != _norm(text) else None


_AUXES = r"is|are|was|were|can|could|will|would|should|must|may|might|has|have|had|does|do|did"
_NEGATED = [
    (re.compile(r"\b(can)\s*not\b", re.I), r"\1"),
    (re.compile(r"\b(wo)\s*n['’]t\b", re.I), "will"),
    (re.compile(r"\b(ca)\s*n['’]t\b", re.I), "can"),
    (re.compile(rf"\b({_AUXES}|need|dare)\s*n['’]t\b", re.I), r"\1"),
    (re.compile(rf"\b({_AUXES})\s+not\b", re.I), r"\1"),
    (re.compile(r"\s+nicht\b"), ""),
    (re.compile(r"\b(never)\b", re.I), "always"),
]
_AUX = re.compile(rf"\b({_AUXES})\b(?!\s*not\b|\s*n['’]t)", re.I)
_AUX_DE = re.compile(r"\b(ist|sind|war|waren|kann|können|wird|werden|hat|haben|muss|müssen)\b(?!\s+nicht)")


def negation(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Polarity flipped once: a negation removed where there is one ("isn't" -> "is", "nicht" dropped),
    else "not" ("nicht" in German) inserted after an auxiliary verb."""
    found = [(m, repl) for pattern, repl in _NEGATED for m in pattern.finditer(text)]
    if found:
        m, repl = rng.choice(found)
        return text[: m.start()] + m.expand(repl) + text[m.end() :]
    for pattern, word in ((_AUX, "not"), (_AUX_DE, "nicht")):
        spots = list(pattern.finditer(text))
        if spots:
            m = rng.choice(spots)
            return f"{text[: m.end()]} {word}{text[m.end() :]}"
    return None


def strip_punctuation(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Every punctuation mark removed and everything lowercased."""
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(kept.lower().split()) or None


_KEYS = "qwertyuiop asdfghjkl zxcvbnm"


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[: i + 1] + word[i] + word[i + 1 :]
    row = next((r for r in _KEYS.split() if word[i].lower() in r), None)
    if row is None:
        return word[:i] + word[i + 1 :]
    j = row.index(word[i].lower())
    near = row[j - 1] if j > 0 and (j == len(row) - 1 or rng.random() < 0.5) else row[j + 1]
    return word[:i] + near + word[i + 1 :]


def typos(text: str, rng: random.Random, ctx: PerturbContext) -> str | None:
    """Character noise: about 15% of the words of 3+ letters (at least one) get a swap, drop, double or
    neighbouring-key typo."""
    words = text.split(" ")
    eligible = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 3 and w.isalpha()]
    if not eligible:
        eligible = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 3]
    if not eligible:
        return None
    for i in rng.sample(eligible, max(1, round(0.15 * len(eligible)))):
        words[i] = _typo(words[i], rng)
    return " ".join(words)


PERTURBATIONS: dict[str, Perturbation] = {
    "word_shuffle_global": word_shuffle_global,
    "word_shuffle_local": word_shuffle_local,
    "fragment_salad": fragment_salad,
    "sentence_shuffle": sentence_shuffle,
    "repeat_sentence": repeat_sentence,
    "ngram_loop": ngram_loop,
    "truncate": truncate,
    "drop_sentence": drop_sentence,
    "off_topic": off_topic,
    "number_change": number_change,
    "entity_swap": entity_swap,
    "negation": negation,
    "refusal": refusal,
    "generic_response": generic_response,
    "echo_input": echo_input,
    "strip_punctuation": strip_punctuation,
    "typos": typos,
}
"""Every perturbation by name, in the order tables list them."""


def perturb(
    name: str, text: str, *, seed: int = 0, key: str = "", ctx: PerturbContext | None = None
) -> str | None:
    """Apply perturbation ``name`` to ``text``; ``None`` when it does not apply.

    The random generator is seeded from ``(seed, name, key)`` (pass a stable key such as the record id), so
    the result is the same on every run and machine. A returned text is non-empty and differs from ``text``
    after whitespace is normalised.
    """
    fn = PERTURBATIONS.get(name)
    if fn is None:
        raise UnknownNameError("perturbation", name, PERTURBATIONS)
    digest = hashlib.sha256(f"{seed}\0{name}\0{key}".encode()).digest()
    out = fn(text, random.Random(int.from_bytes(digest[:8], "big")), ctx or PerturbContext())
    if out is None or not out.strip() or _norm(out) == _norm(text):
        return None
    return out


# ---------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Targets:
    """One perturbation's entry of ``perturbation_targets.yaml``: what it does, why it breaks the criteria
    it lists (``task/criterion`` or ``task/*`` patterns), and whether it needs the judge to see the input."""

    name: str
    description: str
    why: str
    breaks: tuple[str, ...]
    needs_input: bool = False

    def matches(self, criterion_id: str) -> bool:
        return any(fnmatchcase(criterion_id, p) for p in self.breaks)


@functools.lru_cache(maxsize=1)
def _load_table() -> tuple[dict[str, Targets], dict[str, str]]:
    import yaml

    where = {"file": f"heapmetric/data/{TARGETS_FILE}"}
    text = (resources.files("heapmetric.data") / TARGETS_FILE).read_text(encoding="utf-8")
    data: Any = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("perturbations"), dict):
        raise InputError("expected a mapping with 'perturbations'", **where)
    out: dict[str, Targets] = {}
    for name, spec in data["perturbations"].items():
        if name not in PERTURBATIONS:
            raise InputError(f"unknown perturbation {name!r}", field=f"perturbations.{name}", **where)
        if not isinstance(spec, dict) or not all(
            isinstance(spec.get(k), str) for k in ("description", "why")
        ):
            raise InputError("needs 'description' and 'why' strings", field=f"perturbations.{name}", **where)
        breaks = spec.get("breaks") or []
        if not isinstance(breaks, list) or not all(isinstance(b, str) and "/" in b for b in breaks):
            raise InputError(
                "'breaks' must be a list of task/criterion patterns",
                field=f"perturbations.{name}.breaks",
                **where,
            )
        out[name] = Targets(
            name=name,
            description=" ".join(spec["description"].split()),
            why=" ".join(spec["why"].split()),
            breaks=tuple(breaks),
            needs_input=bool(spec.get("needs_input", False)),
        )
    untargeted = data.get("untargeted") or {}
    if not isinstance(untargeted, dict) or not all(isinstance(v, str) for v in untargeted.values()):
        raise InputError(
            "'untargeted' must map task/criterion patterns to reasons", field="untargeted", **where
        )
    missing = sorted(set(PERTURBATIONS) - set(out))
    if missing:
        raise InputError(f"no entry for perturbation(s) {', '.join(missing)}", **where)
    return {name: out[name] for name in PERTURBATIONS}, {
        k: " ".join(v.split()) for k, v in untargeted.items()
    }


def load_targets() -> dict[str, Targets]:
    """The perturbation → criteria table, validated (every perturbation known, every entry complete)."""
    return _load_table()[0]


def untargeted_reason(criterion_id: str) -> str | None:
    """Why criterion ``task/criterion`` gets no robustness pair (``None`` when the table gives no reason)."""
    return next((r for p, r in _load_table()[1].items() if fnmatchcase(criterion_id, p)), None)


def perturbations_for(
    criterion_id: str, fields: Sequence[str] = ("source", "context", "reference")
) -> list[str]:
    """Names of the perturbations that break criterion ``task/criterion``; those that need the judge to see
    the input are left out when the criterion reads none of its ``fields``."""
    return [
        t.name
        for t in load_targets().values()
        if t.matches(criterion_id) and (not t.needs_input or any(f != "instruction" for f in fields))
    ]


def targets_markdown() -> str:
    """The perturbation × criterion tables of ``docs/robustness.md``, rendered from the targets YAML and the
    criteria registry (a test keeps the document equal to this)."""
    from heapmetric import registry

    lines = ["| perturbation | what it does | why it breaks the criteria below |", "|---|---|---|"]
    for t in load_targets().values():
        needs = " Only where the judge reads the input." if t.needs_input else ""
        lines.append(f"| `{t.name}` | {t.description}{needs} | {t.why} |")
    lines += ["", "| criterion | reads | perturbations that break it |", "|---|---|---|"]
    for c in registry.list_criteria():
        names = ", ".join(f"`{n}`" for n in perturbations_for(c.id, c.fields))
        reason = untargeted_reason(c.id) or "no reason given"
        reads = ", ".join(c.fields) or "output only"
        lines.append(f"| `{c.id}` | {reads} | {names or f'none: {reason}'} |")
    return "\n".join(lines)
