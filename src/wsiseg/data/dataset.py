"""A torch ``Dataset`` over the memory-mapped patch cache, with on-the-fly augmentation."""

from __future__ import annotations

import os
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset


class PatchDataset(Dataset):
    """Patches of a cache by row number; each item ``{"image": (3, S, S) float [0, 1], "mask": (1, S, S), "row"}``.

    The memory maps are opened lazily in each DataLoader worker (nothing large is pickled). The augmentation is
    reseeded once in every process that draws from it, from that process's torch seed: albumentations keeps its
    own random state, which no global seed reaches (``Compose(seed=None)`` draws it from the OS), and forked
    workers would inherit one and the same state. Torch seeds each worker from the loader's base seed plus the
    worker id (and ``seed_everything(workers=True)`` from the run's seed), so a run's augmentations repeat
    from run to run and differ between workers.

    Args:
        images_path: (M, S, S, 3) uint8 ``.npy``.
        masks_path: (M, S, S) uint8 ``.npy``.
        rows: the rows this dataset serves (repeated rows = oversampling).
        transform: albumentations pipeline applied to image and mask together, or ``None``.
    """

    def __init__(self, images_path: Path, masks_path: Path, rows: np.ndarray, transform: A.Compose | None = None):
        self.images_path, self.masks_path = Path(images_path), Path(masks_path)
        self.rows = np.asarray(rows, np.int64)
        self.transform = transform
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._seeded_in: int | None = None  # the process whose torch seed the augmentation was reseeded from

    def __len__(self) -> int:
        return len(self.rows)

    def _open(self) -> None:
        self._images = np.load(self.images_path, mmap_mode="r")
        self._masks = np.load(self.masks_path, mmap_mode="r")

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        if self._images is None:
            self._open()
        if self.transform is not None and self._seeded_in != os.getpid():
            self.transform.set_random_seed(torch.initial_seed() % 2**32)
            self._seeded_in = os.getpid()
        row = int(self.rows[i])
        image, mask = np.array(self._images[row]), np.array(self._masks[row])  # copies: (S, S, 3), (S, S)
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        image_t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)  # (3, S, S)
        mask_t = torch.from_numpy(np.ascontiguousarray(mask)).unsqueeze(0).float()  # (1, S, S)
        return {"image": image_t, "mask": mask_t, "row": row}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_images"] = state["_masks"] = state["_seeded_in"] = None  # reopened and reseeded in the worker
        return state
