"""Training objectives: the pairwise Bradley–Terry loss and the pointwise loss on normalised grades."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(
    s_better: torch.Tensor,
    s_worse: torch.Tensor,
    weights: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean of ``-log sigmoid(s_better - s_worse)``: the negative log-likelihood of the human preference
    under P(better > worse) = sigmoid(s_better - s_worse). ``weights`` (e.g. label margins) reweight pairs.

    ``targets`` are soft labels: the probability that ``better`` is better (an LLM judge's probability, say);
    the loss is then the cross-entropy ``-(p log sigmoid(d) + (1 - p) log sigmoid(-d))``, which equals the
    hard-label loss at ``p = 1``."""
    diff = s_better.float() - s_worse.float()
    if targets is None:
        losses = -F.logsigmoid(diff)
    else:
        p = targets.float().to(diff.device)
        losses = -(p * F.logsigmoid(diff) + (1.0 - p) * F.logsigmoid(-diff))
    if weights is None:
        return losses.mean()
    weights = weights.float()
    return (losses * weights).sum() / weights.sum().clamp_min(1e-8)


def pointwise_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error between raw scores and grades normalised per criterion (z-scores)."""
    return F.mse_loss(scores.float(), targets.float())


def pair_accuracy(s_better: torch.Tensor, s_worse: torch.Tensor) -> float:
    """Share of pairs ordered correctly (a tie in scores counts half)."""
    diff = (s_better - s_worse).detach().float()
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())
