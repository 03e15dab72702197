"""Calibration maps from a raw metric score to a criterion's human scale, stored as plain numbers.

A checkpoint's ``heapmetric.json`` may hold ``"calibration": {"<task>/<criterion>": spec}`` where ``spec`` is

- ``{"type": "linear", "slope": a, "intercept": b, "scale": [lo, hi]}``: ``clip(a * raw + b, lo, hi)``, or
- ``{"type": "isotonic", "x": [...], "y": [...]}``: piecewise-linear interpolation through increasing knots
  ``(x, y)`` (flat beyond the ends), as fitted by :func:`fit_isotonic`.

These are pure functions over lists of floats; the trainer fits them, the scorer applies them.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from heapmetric.errors import ModelLoadError


def apply(raw: Sequence[float], spec: dict[str, Any]) -> list[float]:
    """Map raw scores through one calibration ``spec``."""
    kind = spec.get("type")
    if kind == "linear":
        a, b = float(spec["slope"]), float(spec["intercept"])
        lo, hi = spec.get("scale") or (float("-inf"), float("inf"))
        return [min(max(a * r + b, lo), hi) for r in raw]
    if kind == "isotonic":
        xs, ys = [float(v) for v in spec["x"]], [float(v) for v in spec["y"]]
        if not xs or len(xs) != len(ys):
            raise ModelLoadError("isotonic calibration needs x and y lists of the same non-zero length")
        return [_interp(r, xs, ys) for r in raw]
    raise ModelLoadError(f"unknown calibration type {kind!r} (expected linear or isotonic)")


def _interp(r: float, xs: list[float], ys: list[float]) -> float:
    if r <= xs[0]:
        return ys[0]
    if r >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, r)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (r - x0) / (x1 - x0)


def fit_linear(
    raw: Sequence[float], human: Sequence[float], scale: Sequence[float] | None = None
) -> dict[str, Any]:
    """Least-squares ``human ~ slope * raw + intercept``; a constant ``raw`` gives slope 0."""
    n = len(raw)
    if n == 0 or n != len(human):
        raise ValueError("fit_linear needs equally long, non-empty lists")
    mx, my = sum(raw) / n, sum(human) / n
    sxx = sum((x - mx) ** 2 for x in raw)
    sxy = sum((x - mx) * (y - my) for x, y in zip(raw, human, strict=True))
    slope = sxy / sxx if sxx > 0 else 0.0
    spec: dict[str, Any] = {"type": "linear", "slope": slope, "intercept": my - slope * mx}
    if scale is not None:
        spec["scale"] = [float(scale[0]), float(scale[1])]
    return spec


def fit_isotonic(raw: Sequence[float], human: Sequence[float], max_knots: int = 64) -> dict[str, Any]:
    """Non-decreasing fit of ``human`` on ``raw`` (pool-adjacent-violators), as at most ``max_knots`` knots."""
    if not raw or len(raw) != len(human):
        raise ValueError("fit_isotonic needs equally long, non-empty lists")
    pairs = sorted(zip(raw, human, strict=True))
    blocks: list[list[float]] = []  # [sum_y, count, x_first, x_last]
    for x, y in pairs:
        blocks.append([y, 1.0, x, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            y2, c2, _, xl = blocks.pop()
            blocks[-1][0] += y2
            blocks[-1][1] += c2
            blocks[-1][3] = xl
    xs, ys = [], []
    for s, c, xf, xl in blocks:
        xs.append((xf + xl) / 2)
        ys.append(s / c)
    if len(xs) > max_knots:
        step = (len(xs) - 1) / (max_knots - 1)
        keep = sorted({round(i * step) for i in range(max_knots)})
        xs, ys = [xs[i] for i in keep], [ys[i] for i in keep]
    return {"type": "isotonic", "x": xs, "y": ys}
