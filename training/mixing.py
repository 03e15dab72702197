"""Multi-task mixing: how often each (dataset, task, criterion) group is drawn, and a resumable sampler.

The sampler has no hidden state: the examples of micro-step ``k`` are a pure function of ``(seed, k)``, so a
resumed run that knows its step count draws exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from heapmetric.errors import InputError


def group_weights(
    sizes: Mapping[str, int],
    mode: str = "proportional",
    *,
    cap: int | None = None,
    temperature: float = 2.0,
    dataset_weights: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Sampling probability of each group.

    - ``proportional``: ``min(n, cap)`` (examples-proportional mixing with a cap, as in T5);
    - ``temperature``: ``n ** (1 / temperature)`` (T=1 is proportional, large T tends to uniform);
    - ``uniform``: every group equally;
    - ``balanced``: two levels, for groups named ``dataset/...``: each dataset gets ``N_d ** (1 / T)`` (``N_d``
      its examples, each group's count capped at ``cap``), shared among its groups by ``n ** (1 / T)``, so a
      dataset with many criteria does not crowd out one with few.

    ``dataset_weights`` then multiplies the weight of every group of a named dataset (``dataset/...``) and the
    weights are renormalised. Groups with no examples get weight 0; the weights sum to 1.
    """
    weights = _mode_weights(sizes, mode, cap=cap, temperature=temperature)
    if not dataset_weights:
        return weights
    scaled = {k: w * dataset_weights.get(k.split("/", 1)[0], 1.0) for k, w in weights.items()}
    total = sum(scaled.values())
    if total <= 0:
        raise InputError("dataset_weights leave no group with a positive weight", field="dataset_weights")
    return {k: w / total for k, w in scaled.items()}


def _mode_weights(
    sizes: Mapping[str, int], mode: str, *, cap: int | None, temperature: float
) -> dict[str, float]:
    if not sizes or not any(n > 0 for n in sizes.values()):
        raise InputError("no training examples in any group")
    if mode == "balanced":
        capped = {k: (min(n, cap) if cap else n) for k, n in sizes.items() if n > 0}
        by_dataset: dict[str, list[str]] = {}
        for name in capped:
            by_dataset.setdefault(name.split("/", 1)[0], []).append(name)
        out = {name: 0.0 for name in sizes}
        d_raw = {d: float(sum(capped[g] for g in gs)) ** (1.0 / temperature) for d, gs in by_dataset.items()}
        d_total = sum(d_raw.values())
        for d, gs in by_dataset.items():
            g_raw = {g: float(capped[g]) ** (1.0 / temperature) for g in gs}
            g_total = sum(g_raw.values())
            for g in gs:
                out[g] = d_raw[d] / d_total * g_raw[g] / g_total
        return out
    raw: dict[str, float] = {}
    for name, n in sizes.items():
        if n <= 0:
            raw[name] = 0.0
        elif mode == "proportional":
            raw[name] = float(min(n, cap) if cap else n)
        elif mode == "temperature":
            raw[name] = float(n) ** (1.0 / temperature)
        elif mode == "uniform":
            raw[name] = 1.0
        else:
            raise InputError(f"unknown mixing mode {mode!r}", field="mixing")
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


class MixtureSampler:
    """Draws ``(group, index)`` pairs by group weight, then uniformly inside the group, keyed by step."""

    def __init__(self, sizes: Mapping[str, int], weights: Mapping[str, float], seed: int) -> None:
        self.names: list[str] = [n for n in sorted(sizes) if weights.get(n, 0) > 0 and sizes[n] > 0]
        self.sizes = np.array([sizes[n] for n in self.names], dtype=np.int64)
        p = np.array([weights[n] for n in self.names], dtype=np.float64)
        self.p = p / p.sum()
        self.seed = int(seed)

    def draw(self, micro_step: int, size: int) -> list[tuple[str, int]]:
        """The ``size`` examples of micro-step ``micro_step`` (the same for the same seed and step)."""
        rng = np.random.default_rng([self.seed, int(micro_step)])
        groups = rng.choice(len(self.names), size=size, p=self.p)
        picks = (rng.random(size) * self.sizes[groups]).astype(np.int64)
        return [(self.names[g], int(i)) for g, i in zip(groups, picks, strict=False)]

    def rng(self, micro_step: int, salt: int = 1) -> np.random.Generator:
        """A generator for per-step choices other than the examples (e.g. the instruction paraphrase)."""
        return np.random.default_rng([self.seed, int(micro_step), salt])


def shard(batch: Sequence, process_index: int, num_processes: int) -> list:
    """This process's share of a global batch (round-robin, so every process gets a near-equal share)."""
    return list(batch[process_index::num_processes])
