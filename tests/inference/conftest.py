"""A stand-in model whose output is a fixed function of each pixel's colour, and a folder of a few slides."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch


class ColourModel(pl.LightningModule):
    """Tumour probability := mean of the RGB values, pixel by pixel (no context, so tiling must not matter)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def predict_step(self, batch, batch_idx=0, dataloader_idx=0):
        image = batch["image"].float() / 255 if batch["image"].dtype == torch.uint8 else batch["image"]
        return image.mean(dim=1, keepdim=True) + 0 * self.dummy  # (B, 1, T, T)


@pytest.fixture
def colour_model():
    return ColourModel()


@pytest.fixture(scope="session")
def few_slides(tiny_cohort, tmp_path_factory):
    """A plain folder with 9 of the tiny cohort's slides (every third one): for tests that predict repeatedly."""
    import shutil

    from wsiseg.inference import find_slides

    folder = tmp_path_factory.mktemp("few_slides")
    for _, path in find_slides(tiny_cohort)[::3]:
        shutil.copy(path, folder / path.name)
    return folder
