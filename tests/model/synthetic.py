"""A tiny synthetic segmentation task (bright discs on noise) and a small module for the model tests."""

from __future__ import annotations

import functools

import torch
from torch.utils.data import Dataset

from wsiseg.model import SegmentationModule, UNet


class DiscDataset(Dataset):
    """Noisy grey images with one bright disc each; the mask is the thresholded disc."""

    def __init__(self, n: int, size: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        centres = torch.randint(8, size - 8, (n, 2), generator=g)
        radii = torch.randint(3, 7, (n,), generator=g)
        dist2 = (yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2  # (N, H, W)
        self.mask = (dist2 <= radii[:, None, None] ** 2).float()[:, None]  # (N, 1, H, W)
        noise = 0.4 * torch.rand(n, 3, size, size, generator=g)  # (N, 3, H, W)
        self.image = (noise + 0.5 * self.mask).clamp(0, 1)  # (N, 3, H, W)

    def __len__(self) -> int:
        return len(self.mask)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.image[i], "mask": self.mask[i], "name": f"patch_{i}"}


def make_module(**kwargs) -> SegmentationModule:
    torch.manual_seed(0)
    net = UNet(base_width=4, depth=2)
    return SegmentationModule(net, functools.partial(torch.optim.Adam, lr=1e-2), **kwargs)
