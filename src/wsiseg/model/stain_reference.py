"""Fit the stain normaliser's reference before training: over the training patches, or from a reference image.

The reference a model is trained towards is stored in its checkpoint (the normaliser's buffers and the model
record), so prediction maps every new slide onto the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from wsiseg.data.dataset import PatchDataset
from wsiseg.data.stain import fit_reference

log = logging.getLogger(__name__)


class StainReference(pl.Callback):
    """Fit ``pl_module.stain``'s reference when training starts (not when resuming: the checkpoint has it).

    Args:
        tiles: How many training patches, spread evenly over the training split (so over its slides and
            centres), the reference is the typical one of; 0 keeps the normaliser's own (published) reference.
        image: Instead of the training patches, an RGB image (PNG, JPEG or TIFF: a region exported from a
            reference slide at the model's resolution), cut into 256 px tiles.
        batch_size: Tiles measured at once.
    """

    def __init__(self, tiles: int = 256, image: str | None = None, batch_size: int = 64) -> None:
        if tiles < 0 or batch_size < 1:
            raise ValueError("tiles must be >= 0 and batch_size >= 1")
        self.tiles, self.image, self.batch_size = tiles, image, batch_size

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Replace the normaliser's reference buffers with the fitted ones (every rank alike: same tiles)."""
        stain = getattr(pl_module, "stain", None)
        if stain is None:
            log.warning("StainReference: the model has no stain normaliser (model.stain); nothing to fit")
            return
        if trainer.ckpt_path is not None or (self.tiles == 0 and self.image is None):
            return
        batches = self._image_batches() if self.image else self._patch_batches(trainer)
        fitted = fit_reference(stain.method, batches, stain.settings).to(pl_module.device)
        stain.load_state_dict(fitted.state_dict())
        source = self.image or f"{self.tiles} training patches"
        log.info("stain reference (%s) from %s: %s", stain.method, source,
                 {k: v for k, v in stain.record().items() if isinstance(v, list)})  # fmt: skip

    def _patch_batches(self, trainer: pl.Trainer) -> Iterator[torch.Tensor]:
        train = getattr(trainer.datamodule, "train_set", None)
        if not isinstance(train, PatchDataset):
            raise RuntimeError("StainReference needs a PatchDataModule's training patches (or image=...)")
        rows = np.unique(train.rows)
        chosen = rows[np.linspace(0, len(rows) - 1, min(self.tiles, len(rows))).round().astype(int)]
        plain = PatchDataset(train.images_path, train.masks_path, np.unique(chosen), transform=None)
        for start in range(0, len(plain), self.batch_size):
            yield torch.stack([plain[i]["image"] for i in range(start, min(start + self.batch_size, len(plain)))])

    def _image_batches(self) -> Iterator[torch.Tensor]:
        import tifffile
        from skimage.io import imread

        path = Path(self.image)
        if not path.is_file():
            raise FileNotFoundError(f"StainReference: reference image not found: {path}")
        rgb = tifffile.imread(path) if path.suffix.lower() in (".tif", ".tiff") else imread(path)
        rgb = np.asarray(rgb)[..., :3]  # (H, W, 3) uint8
        size = 256 if min(rgb.shape[:2]) >= 256 else min(rgb.shape[:2])
        tiles = [rgb[y : y + size, x : x + size] for y in range(0, rgb.shape[0] - size + 1, size)
                 for x in range(0, rgb.shape[1] - size + 1, size)]  # fmt: skip
        images = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).float().div(255)  # (N, 3, S, S)
        yield from images.split(self.batch_size)
