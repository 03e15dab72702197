"""AlpacaEval 2.0 with any judge: each model output is compared with the reference (baseline) output for the
same instruction; the judge's P(model better) becomes alpaca_eval's preference ``1 + p``; the leaderboard row
holds alpaca_eval's columns (win rate, standard error, counts, discrete win rate, average length) and the
length-controlled win rate of :mod:`heapmetric.stats.glm`.

Judges that are not order-free are asked in both orders and the two probabilities averaged (alpaca_eval itself
asks once, in a random order). Identical outputs are a draw without asking. A pair whose verdict could not be
parsed in either order gets no preference: it is left out of the statistics and counted in ``n_unparsed``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.bench.cache import AnnotationCache
from heapmetric.bench.formats import ModelOutputs, align_to_reference
from heapmetric.bench.judging import combine_orders, judge_both_orders
from heapmetric.errors import InputError
from heapmetric.judges.base import Judge, PairItem

log = logging.getLogger(__name__)

#: alpaca_eval's leaderboard columns (the model name is the unnamed first column), then ours.
LEADERBOARD_COLUMNS = (
    "win_rate",
    "standard_error",
    "n_wins",
    "n_wins_base",
    "n_draws",
    "n_total",
    "discrete_win_rate",
    "avg_length",
    "length_controlled_winrate",
)
EXTRA_COLUMNS = ("lc_standard_error", "n_unparsed", "n_unparsed_orders", "judge")


def default_reference_path() -> Path:
    """AlpacaEval 2.0's reference outputs (gpt4_1106_preview) under the data folder."""
    from heapmetric.env import data_dir

    return data_dir() / "alpacaeval" / "model_outputs" / "gpt4_1106_preview.json"


def default_model_outputs() -> list[Path]:
    """The shipped systems' outputs (every file in ``alpacaeval/model_outputs`` except the reference)."""
    ref = default_reference_path()
    return sorted(p for p in ref.parent.glob("*.json") if p.name != ref.name)


@dataclass(frozen=True)
class GamedFile:
    """alpaca_eval's ``df_gamed.csv`` (Hub dataset tatsu-lab/alpaca_eval): per-instruction difficulty and the
    gamed baselines' annotations, which the published length-controlled GLM needs."""

    difficulty: dict[int, float]
    preference: tuple[float, ...]
    std_delta_len: tuple[float, ...]
    instruction_difficulty: tuple[float, ...]


def read_gamed_file(path: str | os.PathLike) -> GamedFile:
    """Parse ``df_gamed.csv`` (columns ``index, instruction_difficulty, preference, std_delta_len``)."""
    difficulty: dict[int, float] = {}
    pref, sdl, diff = [], [], []
    if not Path(path).is_file():
        raise InputError("file not found", file=str(path))
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                idx, d = int(float(row["index"])), float(row["instruction_difficulty"])
                p, s = float(row["preference"]), float(row["std_delta_len"])
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(
                    f"expected numeric index, instruction_difficulty, preference, std_delta_len ({exc})",
                    file=str(path),
                    line=number,
                ) from exc
            difficulty.setdefault(idx, d)
            pref.append(p)
            sdl.append(s)
            diff.append(d)
    return GamedFile(difficulty, tuple(pref), tuple(sdl), tuple(diff))


@dataclass
class AlpacaEvalResult:
    """One model's leaderboard ``row`` and its alpaca_eval-format ``annotations``."""

    generator: str
    row: dict[str, Any]
    annotations: list[dict[str, Any]] = field(repr=False)
    lc: dict[str, Any] = field(default_factory=dict)


def evaluate_model(
    judge: Judge,
    model: ModelOutputs,
    reference: ModelOutputs,
    *,
    cache: AnnotationCache | None = None,
    task: str | None = None,
    criterion: str | None = None,
    gamed: GamedFile | None = None,
    batch_size: int = 64,
    show_progress: bool = False,
) -> AlpacaEvalResult:
    """Judge one model's outputs against the reference outputs and compute its leaderboard row."""
    from heapmetric.stats.glm import GamedAnnotations, length_controlled_winrate
    from heapmetric.stats.winrate import avg_length, preference_from_probability, win_rate

    aligned = align_to_reference(model, reference)
    ref_position = {r["instruction"]: i for i, r in enumerate(reference.records)}
    asked = [i for i, (m, r) in enumerate(aligned) if m["output"] != r["output"]]
    pairs = [
        PairItem(
            output_a=aligned[i][0]["output"],
            output_b=aligned[i][1]["output"],
            source=aligned[i][0]["instruction"],
            task=task,
            criterion=criterion,
            id=f"{model.generator}/{ref_position[aligned[i][0]['instruction']]}",
        )
        for i in asked
    ]
    ab, ba = judge_both_orders(judge, pairs, cache=cache, batch_size=batch_size, show_progress=show_progress)
    p_model = [0.5] * len(aligned)
    n_unparsed_orders = 0
    details: dict[int, tuple[Any, Any]] = {}
    for k, i in enumerate(asked):
        p_model[i] = combine_orders(ab[k], ba[k])
        n_unparsed_orders += (not ab[k].parsed) + (not ba[k].parsed and not judge.info.order_free)
        details[i] = (ab[k], ba[k])
    preferences = [preference_from_probability(p) for p in p_model]
    n_unparsed = sum(1 for p in preferences if not math.isfinite(p))
    if n_unparsed:
        log.warning(
            "%s: %d of %d pairs got no usable verdict from %s in any order; they are left out",
            model.generator,
            n_unparsed,
            len(aligned),
            judge.info.name,
        )
    wr = win_rate(preferences)
    model_lengths = [len(m["output"]) for m, _ in aligned]
    base_lengths = [len(r["output"]) for _, r in aligned]
    lc_info: dict[str, Any]
    if model.generator == reference.generator:
        lc_value, lc_se, lc_info = 50.0, float("nan"), {"glm": "baseline"}
    else:
        kwargs: dict[str, Any] = {}
        if gamed is not None:
            try:
                kwargs["instruction_difficulty"] = [
                    gamed.difficulty[ref_position[m["instruction"]]] for m, _ in aligned
                ]
            except KeyError as exc:
                raise InputError(
                    f"the gamed-annotations file has no difficulty for reference item {exc}", field="index"
                ) from exc
            kwargs["gamed"] = GamedAnnotations(
                gamed.preference, gamed.std_delta_len, gamed.instruction_difficulty
            )
        lc = length_controlled_winrate(preferences, model_lengths, base_lengths, **kwargs)
        lc_value, lc_se, lc_info = lc.length_controlled_winrate, lc.lc_standard_error, lc.to_dict()
    row = {
        "win_rate": wr.win_rate,
        "standard_error": wr.standard_error,
        "n_wins": wr.n_wins,
        "n_wins_base": wr.n_wins_base,
        "n_draws": wr.n_draws,
        "n_total": wr.n_total,
        "discrete_win_rate": wr.discrete_win_rate,
        "avg_length": avg_length([m["output"] for m in model.records]),
        "length_controlled_winrate": lc_value,
        "lc_standard_error": lc_se,
        "n_unparsed": n_unparsed,
        "n_unparsed_orders": n_unparsed_orders,
        "judge": judge.info.name,
    }
    annotations = []
    for i, (m, r) in enumerate(aligned):
        pref = preferences[i]
        ann = {
            "instruction": m["instruction"],
            "output_1": r["output"],
            "generator_1": reference.generator,
            "dataset": r.get("dataset", m.get("dataset")),
            "output_2": m["output"],
            "generator_2": model.generator,
            "annotator": judge.info.name,
            "preference": pref if math.isfinite(pref) else None,
        }
        if i in details:
            first, second = details[i]
            ann["p_model_first"] = first.p if first.parsed else None
            ann["p_reference_first"] = (1.0 - second.p) if second.parsed else None
            raw = {k: v for k, v in (("model_first", first.raw), ("reference_first", second.raw)) if v}
            if raw and not judge.info.order_free:
                ann["raw_completion"] = raw
            verdicts = {
                k: v for k, v in (("model_first", first.verdict), ("reference_first", second.verdict)) if v
            }
            if verdicts:
                ann["verdicts"] = verdicts
        else:
            ann["identical_outputs"] = True
        annotations.append(ann)
    return AlpacaEvalResult(model.generator, row, annotations, lc_info)


def evaluate(
    judge: Judge, models: Sequence[ModelOutputs], reference: ModelOutputs, **kwargs: Any
) -> list[AlpacaEvalResult]:
    """:func:`evaluate_model` for each model, in order (names must be unique)."""
    names = [m.generator for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"two model-outputs files have the same generator {dupes[0]!r}; rename one (--name)")
    return [evaluate_model(judge, m, reference, **kwargs) for m in models]


def read_published_leaderboard(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """An alpaca_eval leaderboard CSV (unnamed first column = model) as ``{model: {column: value}}``."""
    out: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        for row in reader:
            if not row or not row[0]:
                continue
            values = {}
            for key, cell in zip(header[1:], row[1:], strict=False):
                try:
                    values[key] = float(cell)
                except ValueError:
                    continue
            out[row[0]] = values
    return out


def default_published_path() -> Path:
    from heapmetric.env import data_dir

    return (
        data_dir()
        / "alpacaeval"
        / "leaderboards"
        / "alpacaeval2_weighted_alpaca_eval_gpt4_turbo_leaderboard.csv"
    )
