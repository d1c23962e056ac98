"""The stain normaliser inside the model: applied before the network, recorded in the checkpoint, fitted on the
training patches or a reference image before training."""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from tests.data.test_stain import PURPLE, RUIFROK, _tile
from wsiseg.data.dataset import PatchDataset
from wsiseg.data.stain import StainNormalizer
from wsiseg.errors import CheckpointError
from wsiseg.model import ConfigInCheckpoint, ModelSpec, SegmentationModule, StainReference, UNet, load_model

from .synthetic import DiscDataset


def module(stain: StainNormalizer | None) -> SegmentationModule:
    torch.manual_seed(0)
    return SegmentationModule(UNet(base_width=4, depth=2), functools.partial(torch.optim.Adam, lr=1e-2), stain=stain)


def test_tiles_are_normalised_before_the_network_sees_them() -> None:
    images = torch.stack([_tile(RUIFROK, seed, size=32) for seed in range(3)])  # (3, 3, 32, 32) another centre's
    with_stain, without = module(StainNormalizer("macenko")).eval(), module(None).eval()
    normalised = StainNormalizer("macenko")(images)
    assert (normalised - images).abs().mean() > 0.01  # the normaliser changes these tiles
    torch.testing.assert_close(with_stain(images), without(normalised))


def test_the_reference_travels_in_the_checkpoint(tmp_path: Path) -> None:
    fitted = StainNormalizer("macenko").fit(torch.stack([_tile(PURPLE, s, size=32) for s in range(8)]))
    trained = module(fitted)
    loader = torch.utils.data.DataLoader(DiscDataset(8), batch_size=4)
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[ConfigInCheckpoint({}, input_mpp=2.0, tile_size=32)])  # fmt: skip
    trainer.fit(trained, loader)
    trainer.save_checkpoint(tmp_path / "s.ckpt")
    rebuilt, spec = load_model(tmp_path / "s.ckpt")
    assert spec.stain == fitted.record() and spec.stain["method"] == "macenko"
    torch.testing.assert_close(rebuilt.stain.stain_matrix, fitted.stain_matrix)
    images = torch.stack([_tile(RUIFROK, seed, size=32) for seed in range(2)])
    torch.testing.assert_close(rebuilt.predict_step(images), trained.eval().predict_step(images))


@pytest.mark.parametrize(
    ("stain", "message"),
    [
        ({"method": "os.system"}, "stain: method"),
        ({"method": "macenko", "stain_matrix": "x"}, "stain: "),
        ({**StainNormalizer("reinhard").record(), "lab_std": [1.0, float("nan"), 1.0]}, "lab_std"),
        ({**StainNormalizer("macenko").record(), "command": "rm"}, "unknown key"),
    ],
)
def test_a_crafted_stain_record_is_refused(stain: dict, message: str) -> None:
    record = ModelSpec("UNet", {"base_width": 4, "depth": 2}, input_mpp=2.0, tile_size=32).to_dict() | {"stain": stain}
    with pytest.raises(CheckpointError, match=message):
        ModelSpec.from_dict(record, "crafted.ckpt")


def patch_dataset(tmp_path: Path, tiles: torch.Tensor) -> PatchDataset:
    images = (tiles.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (N, S, S, 3)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "masks.npy", np.zeros(images.shape[:3], np.uint8))
    return PatchDataset(tmp_path / "images.npy", tmp_path / "masks.npy", np.arange(len(images)))


def test_the_reference_is_fitted_on_the_training_patches_or_an_image(tmp_path: Path) -> None:
    tiles = torch.stack([_tile(RUIFROK, seed, size=32) for seed in range(12)])
    trainer = SimpleNamespace(ckpt_path=None, datamodule=SimpleNamespace(train_set=patch_dataset(tmp_path, tiles)))
    model = module(StainNormalizer("macenko"))
    StainReference(tiles=8).on_fit_start(trainer, model)
    columns = model.stain.stain_matrix / model.stain.stain_matrix.norm(dim=0)
    assert torch.allclose(columns, torch.tensor(RUIFROK, dtype=torch.float32), atol=0.03)  # the training centre's
    resumed = module(StainNormalizer("macenko"))
    StainReference(tiles=8).on_fit_start(SimpleNamespace(ckpt_path="last.ckpt", datamodule=None), resumed)
    assert torch.equal(resumed.stain.stain_matrix, StainNormalizer("macenko").stain_matrix)  # the checkpoint's
    from skimage.io import imsave

    mosaic = torch.cat([torch.cat(list(tiles[i : i + 4]), dim=2) for i in (0, 4, 8)], dim=1)  # (3, 96, 128)
    imsave(tmp_path / "region.png", (mosaic.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    from_image = module(StainNormalizer("reinhard"))
    StainReference(image=str(tmp_path / "region.png")).on_fit_start(SimpleNamespace(ckpt_path=None), from_image)
    assert not torch.equal(from_image.stain.lab_mean, StainNormalizer("reinhard").lab_mean)


def test_the_validation_pictures_show_the_tiles_the_network_sees() -> None:
    images = torch.stack([_tile(RUIFROK, seed, size=32) for seed in range(4)])
    batch = {"image": images, "mask": torch.zeros(4, 1, 32, 32)}
    for stain in (None, StainNormalizer("macenko")):
        model = module(stain).eval()
        model._shared_step(batch, "val")
        expected = images if stain is None else stain(images)
        torch.testing.assert_close(model.val_examples["image"], expected)
