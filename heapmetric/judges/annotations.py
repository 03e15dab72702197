"""``annotations:FILE``: an existing alpaca_eval annotations file replayed as a judge.

Each record ``{instruction, output_1, output_2, preference}`` says how much ``output_2`` was preferred over
``output_1`` (alpaca_eval encoding: ``1 + P(output_2 better)``, 1.5 or 0 a draw, null no verdict). ``compare``
looks a pair up by ``(source = instruction, output_a, output_b)`` in either orientation and returns P(output_a
better); a null preference comes back as NaN (no verdict), never as a tie. A pair the file does not have is an
error naming it, unless ``missing=nan``.

>>> # annotations:results/alpaca-7b/weighted_alpaca_eval_gpt4_turbo/annotations.json?missing=nan
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

from heapmetric.errors import InputError, UnsupportedError
from heapmetric.judges.base import CompareResult, JudgeInfo, PairItem, ScoreItem, ScoreResult


class AnnotationsJudge:
    """Replays alpaca_eval annotations (see the module docstring)."""

    def __init__(self, path: str | Path, *, missing: str = "error") -> None:
        from heapmetric.bench.formats import read_json_records

        if missing not in ("error", "nan"):
            raise InputError(f"missing must be 'error' or 'nan', got {missing!r}", field="missing")
        self.path, self.missing = str(path), missing
        self._table: dict[tuple[str, str, str], float] = {}
        annotators = set()
        digest = hashlib.sha256()
        for number, row in read_json_records(path):
            for key in ("instruction", "output_1", "output_2"):
                if not isinstance(row.get(key), str):
                    raise InputError("expected a string", file=self.path, line=number, field=key)
            pref = row.get("preference")
            if pref is None or (isinstance(pref, float) and math.isnan(pref)):
                p2 = math.nan
            else:
                if isinstance(pref, bool) or not isinstance(pref, (int, float)):
                    raise InputError(
                        f"expected a number or null, got {pref!r}",
                        file=self.path,
                        line=number,
                        field="preference",
                    )
                pref = 1.5 if pref == 0 else float(pref)
                if not 1.0 <= pref <= 2.0:
                    raise InputError(
                        f"preference {pref} is outside [1, 2]",
                        file=self.path,
                        line=number,
                        field="preference",
                    )
                p2 = pref - 1.0
            self._table[(row["instruction"], row["output_2"], row["output_1"])] = p2
            self._table.setdefault(
                (row["instruction"], row["output_1"], row["output_2"]),
                math.nan if math.isnan(p2) else 1.0 - p2,
            )
            digest.update(repr((row["instruction"], row["output_1"], row["output_2"], pref)).encode("utf-8"))
            if row.get("annotator"):
                annotators.add(str(row["annotator"]))
        self._annotator = ",".join(sorted(annotators)) or None
        self._hash = digest.hexdigest()[:16]

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=f"annotations:{Path(self.path).name}",
            kind="annotations",
            order_free=True,
            can_score=False,
            metadata={"path": self.path, "annotator": self._annotator, "version": self._hash},
        )

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(output_a better) from the file for each pair (NaN where the file has no verdict)."""
        probs: list[float] = []
        for i, pair in enumerate(pairs):
            key = (pair.source or "", pair.output_a, pair.output_b)
            if key not in self._table:
                if self.missing == "nan":
                    probs.append(math.nan)
                    continue
                instruction = " ".join((pair.source or "").split())[:60]
                raise InputError(
                    f"pair {i} (id {pair.id!r}, instruction {instruction!r}) is not in the "
                    "annotations file (both outputs and the instruction must match)",
                    file=self.path,
                )
            probs.append(self._table[key])
        return CompareResult(
            probabilities=probs,
            metadata={"judge": self.info.name, "unparsed": sum(1 for p in probs if math.isnan(p))},
        )

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        raise UnsupportedError("annotations judges only compare pairs")


def _factory(arg: str | None, *, missing: str = "error") -> AnnotationsJudge:
    if not arg:
        raise InputError("annotations:FILE needs a file (an alpaca_eval annotations.json)", field="judge")
    return AnnotationsJudge(arg, missing=missing)


def _register() -> None:
    from heapmetric.judges.spec import register_judge

    register_judge(
        "annotations", _factory, help="alpaca_eval annotations replayed: annotations:FILE", replace=True
    )


_register()
