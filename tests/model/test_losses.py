from __future__ import annotations

import math

import pytest
import torch

from wsiseg.model import BCEDiceLoss

LOGITS = torch.tensor([0.0, math.log(3.0)]).view(1, 1, 1, 2)  # probabilities 0.5, 0.75
TARGET = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)


def test_bce_by_hand() -> None:
    # pixel 1: -log(0.5); pixel 2: -log(1 - 0.75) = log(4); mean over 2 pixels
    expected = (math.log(2.0) + math.log(4.0)) / 2
    assert BCEDiceLoss()(LOGITS, TARGET).item() == pytest.approx(expected, rel=1e-6)


def test_dice_by_hand() -> None:
    # intersection 0.5; sum(p) + sum(t) = 1.25 + 1; smooth 1 -> 1 - (1 + 1) / (2.25 + 1)
    expected = 1.0 - 2.0 / 3.25
    loss = BCEDiceLoss(bce_weight=0.0, dice_weight=1.0)(LOGITS, TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_dice_is_per_batch() -> None:
    # two images: one all-correct-ish, one empty; Dice pools both (smooth 0)
    logits = torch.tensor([10.0, -10.0]).view(2, 1, 1, 1)
    target = torch.tensor([1.0, 0.0]).view(2, 1, 1, 1)
    p = torch.sigmoid(torch.tensor(10.0)).item()
    expected = 1.0 - 2 * p / (p + (1 - p) + 1.0)
    loss = BCEDiceLoss(bce_weight=0.0, dice_weight=1.0, smooth=0.0)(logits, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_weighted_sum() -> None:
    bce = (math.log(2.0) + math.log(4.0)) / 2
    dice = 1.0 - 2.0 / 3.25
    loss = BCEDiceLoss(bce_weight=0.5, dice_weight=2.0)(LOGITS, TARGET)
    assert loss.item() == pytest.approx(0.5 * bce + 2.0 * dice, rel=1e-6)


def test_errors() -> None:
    with pytest.raises(ValueError):
        BCEDiceLoss(bce_weight=0.0, dice_weight=0.0)
    with pytest.raises(ValueError, match="shapes differ"):
        BCEDiceLoss()(LOGITS, TARGET.view(1, 2, 1, 1))
