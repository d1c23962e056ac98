"""Importance sampling: each training patch weighted by the previous round's loss on it."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from wsiseg.data.dataset import PatchDataset


class LossScorer(pl.LightningModule):
    """Per-patch binary cross-entropy of a trained module (``trainer.predict``: one loss per patch)."""

    def __init__(self, model: pl.LightningModule) -> None:
        super().__init__()
        self.model = model

    def predict_step(self, batch: dict, batch_idx: int = 0, dataloader_idx: int = 0) -> torch.Tensor:
        """(B,) mean BCE over each patch's pixels."""
        logits = self.model(batch["image"]).float()  # (B, 1, S, S)
        return F.binary_cross_entropy_with_logits(logits, batch["mask"], reduction="none").mean(dim=(1, 2, 3))


def patch_losses(
    model: pl.LightningModule, dataset: PatchDataset, trainer: pl.Trainer, batch_size: int = 64
) -> np.ndarray:
    """The model's loss on every patch of ``dataset`` (its rows, without augmentation), in order."""
    plain = PatchDataset(dataset.images_path, dataset.masks_path, np.unique(dataset.rows), transform=None)
    loader = DataLoader(plain, batch_size=batch_size, shuffle=False)
    losses = torch.cat(trainer.predict(LossScorer(model.eval()), dataloaders=loader)).double().numpy()
    by_row = dict(zip(plain.rows.tolist(), losses.tolist(), strict=True))
    return np.array([by_row[int(r)] for r in dataset.rows], np.float64)  # each repeat of a row: its loss


def importance_weights(losses: np.ndarray, floor: float) -> np.ndarray:
    """Sampling weights proportional to the loss, with ``floor`` of a uniform weight mixed in (sum = 1)."""
    losses = np.clip(np.asarray(losses, np.float64), 0, None)
    n = len(losses)
    uniform = np.full(n, 1.0 / n)
    if losses.sum() <= 0:
        return uniform
    return floor * uniform + (1 - floor) * losses / losses.sum()
