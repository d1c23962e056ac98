"""Segmentation losses on logits: binary cross-entropy plus an optional soft Dice term."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice_loss(probs: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)``, summed over the whole batch.

    Args:
        probs: Probabilities (B, 1, H, W).
        target: Float mask of the same shape, values in [0, 1].
        smooth: Additive smoothing; keeps the loss defined (0) on empty masks and predictions.

    Returns:
        A scalar tensor.
    """
    intersection = (probs * target).sum()  # ()
    total = probs.sum() + target.sum()  # ()
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE(logits, mask) + dice_weight * soft_dice_loss(sigmoid(logits), mask)``.

    The BCE term is the mean over pixels; the Dice term pools all pixels of the batch (per-batch Dice).

    Args:
        bce_weight: Weight of the binary cross-entropy.
        dice_weight: Weight of the soft Dice loss; 0 (default) skips it.
        smooth: Dice smoothing constant.

    Raises:
        ValueError: On negative weights or both weights zero.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 0.0, smooth: float = 1.0) -> None:
        super().__init__()
        if bce_weight < 0 or dice_weight < 0 or bce_weight + dice_weight == 0:
            raise ValueError(f"weights must be >= 0 and not both 0, got bce={bce_weight}, dice={dice_weight}")
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Compute the loss.

        Args:
            logits: Raw network output (B, 1, H, W).
            target: Float mask (B, 1, H, W) in [0, 1].

        Returns:
            A scalar tensor.

        Raises:
            ValueError: If the shapes differ.
        """
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} shapes differ")
        target = target.to(logits.dtype)
        loss = logits.new_zeros(())  # ()
        if self.bce_weight:
            loss = loss + self.bce_weight * F.binary_cross_entropy_with_logits(logits, target)
        if self.dice_weight:
            loss = loss + self.dice_weight * soft_dice_loss(torch.sigmoid(logits), target, self.smooth)
        return loss
