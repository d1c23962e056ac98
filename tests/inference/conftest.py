"""A stand-in model whose output is a fixed function of each pixel's colour, and a tiny trained checkpoint."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from tests.conftest import compose_config
from wsiseg.tasks.train import run as train


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
def tiny_checkpoint(tiny_cohort, tmp_path_factory):
    """A real checkpoint of train.py on the tiny cohort (a few steps: for the machinery, not for accuracy)."""
    out = tmp_path_factory.mktemp("train")
    cfg = compose_config(
        "train",
        [
            "experiment=demo", f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={out / 'cache'}",
            f"paths.output_dir={out}", "sampling.magnification=3.888", "sampling.patch_size=32", "sampling.out_size=32",
            "data.loader.num_workers=0", "data.loader.prepare_workers=1", "model.net.depth=2", "model.net.base_width=4",
            "trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
        ],
    )  # fmt: skip
    return train(cfg).last_checkpoint


@pytest.fixture(scope="session")
def few_slides(tiny_cohort, tmp_path_factory):
    """A plain folder with 9 of the tiny cohort's slides (every third one): for tests that predict repeatedly."""
    import shutil

    from wsiseg.inference import find_slides

    folder = tmp_path_factory.mktemp("few_slides")
    for _, path in find_slides(tiny_cohort)[::3]:
        shutil.copy(path, folder / path.name)
    return folder
