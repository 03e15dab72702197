"""Bradley-Terry and pointwise losses."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import bradley_terry_loss, pair_accuracy, pointwise_loss


def test_bradley_terry_is_the_preference_nll() -> None:
    sb, sw = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    expected = (-math.log(1 / (1 + math.exp(-2))) - math.log(1 / (1 + math.exp(1)))) / 2
    assert float(bradley_terry_loss(sb, sw)) == pytest.approx(expected, rel=1e-5)
    weighted = bradley_terry_loss(sb, sw, torch.tensor([1.0, 0.0]))
    assert float(weighted) == pytest.approx(-math.log(1 / (1 + math.exp(-2))), rel=1e-5)


def test_bradley_terry_gradient_pushes_scores_apart() -> None:
    sb = torch.zeros(3, requires_grad=True)
    sw = torch.zeros(3, requires_grad=True)
    bradley_terry_loss(sb, sw).backward()
    assert (sb.grad < 0).all() and (sw.grad > 0).all()


def test_pair_accuracy_and_pointwise() -> None:
    assert pair_accuracy(torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 0.0, 3.0])) == pytest.approx(0.5)
    assert float(pointwise_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0]))) == pytest.approx(2.0)
