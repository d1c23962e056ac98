"""A tiny checkpoint written the way train.py stores one (model record and weights), without training."""

from __future__ import annotations

from pathlib import Path

import torch

from wsiseg.model import ModelSpec
from wsiseg.model.spec import MODEL_KEY
from wsiseg.tissue import TissueParams

TILE = 32


def tiny_spec(**changes) -> ModelSpec:
    values = {
        "network": "UNet", "network_kwargs": {"base_width": 4, "depth": 2}, "input_mpp": 2.0, "tile_size": TILE,
        "mean": (0.6, 0.5, 0.4), "std": (0.2, 0.25, 0.3), "split": {"p1": "test"}, "tissue": TissueParams(),
    }  # fmt: skip
    return ModelSpec(**(values | changes))


def tiny_checkpoint_file(path: Path, seed: int = 0, **changes) -> Path:
    """A checkpoint of a random tiny U-Net whose batch norms have non-trivial statistics (eval mode matters)."""
    spec = tiny_spec(**changes)
    torch.manual_seed(seed)
    module = spec.build()
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
    torch.save({"state_dict": module.state_dict(), MODEL_KEY: spec.to_dict()}, path)
    return path


def random_tiles(n: int, seed: int = 0, tile: int = TILE) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, tile, tile), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
