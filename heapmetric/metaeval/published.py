"""Correlations published in the literature, for side-by-side reproduction tables (docs/metaeval.md).

SummEval: summary-level (= our item level) Spearman ρ and Kendall τ of ROUGE-1/2/L, Table 1 of G-Eval
(Liu et al., EMNLP 2023, arXiv:2303.16634; its baseline rows follow the UniEval paper, Zhong et al., EMNLP
2022, arXiv:2210.07197). Transcribed from a public copy of the tables (see docs/metaeval.md). Topical-Chat: turn-level (= our segment level) Pearson r and Spearman ρ of
ROUGE-L and BLEU-4, Table 2 of G-Eval, which takes them from USR (Mehri & Eskenazi, ACL 2020).

Keys: ``(dataset, metric, criterion, level, statistic) -> value``, criteria named as in heapmetric's converted
data (Topical-Chat uses the USR names: ``natural``, ``maintains_context``, ``engaging``, ``uses_knowledge``).
"""

from __future__ import annotations

_SUMMEVAL = {
    # metric: {criterion: (spearman, kendall)}
    "rouge1": {
        "coherence": (0.167, 0.126),
        "consistency": (0.160, 0.130),
        "fluency": (0.115, 0.094),
        "relevance": (0.326, 0.252),
    },
    "rouge2": {
        "coherence": (0.184, 0.139),
        "consistency": (0.187, 0.155),
        "fluency": (0.159, 0.128),
        "relevance": (0.290, 0.219),
    },
    "rougeL": {
        "coherence": (0.128, 0.099),
        "consistency": (0.115, 0.092),
        "fluency": (0.105, 0.084),
        "relevance": (0.311, 0.237),
    },
}

_TOPICAL_CHAT = {
    # metric: {criterion: (pearson, spearman)}
    "rougeL": {
        "natural": (0.176, 0.146),
        "maintains_context": (0.193, 0.203),
        "engaging": (0.295, 0.300),
        "uses_knowledge": (0.310, 0.327),
    },
    "bleu": {
        "natural": (0.180, 0.175),
        "maintains_context": (0.131, 0.235),
        "engaging": (0.232, 0.316),
        "uses_knowledge": (0.213, 0.310),
    },
}

SOURCES = {
    "summeval": "G-Eval (Liu et al. 2023) Table 1 = UniEval (Zhong et al. 2022) SummEval table, summary-level",
    "topicalchat_usr": "G-Eval (Liu et al. 2023) Table 2, from USR (Mehri & Eskenazi 2020), turn-level",
}

PUBLISHED: dict[tuple[str, str, str, str, str], float] = {}
for _metric, _crits in _SUMMEVAL.items():
    for _crit, (_rho, _tau) in _crits.items():
        PUBLISHED[("summeval", _metric, _crit, "item", "spearman")] = _rho
        PUBLISHED[("summeval", _metric, _crit, "item", "kendall")] = _tau
for _metric, _crits in _TOPICAL_CHAT.items():
    for _crit, (_r, _rho) in _crits.items():
        PUBLISHED[("topicalchat_usr", _metric, _crit, "segment", "pearson")] = _r
        PUBLISHED[("topicalchat_usr", _metric, _crit, "segment", "spearman")] = _rho


def published(dataset: str, metric: str, criterion: str, level: str, statistic: str) -> float | None:
    """The published value, or None when the papers do not report that cell."""
    return PUBLISHED.get((dataset, metric, criterion, level, statistic))
