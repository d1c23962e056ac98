from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from wsiseg.model import ConfigInCheckpoint, PredictionGridLogger, load_config_from_checkpoint
from wsiseg.model.mosaic import prediction_grid, tile_mosaic
from wsiseg.model.plain import find_non_plain, to_plain
from wsiseg.model.spec import CONFIG_KEY


def test_tile_mosaic_by_hand() -> None:
    tiles = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 1, 2, 2)  # values 0, 1, 2
    grid = tile_mosaic(tiles, ncol=2, padding=1, pad_value=9.0)
    assert grid.shape == (1, 7, 7)  # 2 rows, 2 cols of 2x2 with 1 px padding
    assert grid[0, 1:3, 1:3].eq(0).all() and grid[0, 1:3, 4:6].eq(1).all() and grid[0, 4:6, 1:3].eq(2).all()
    assert grid[0, 4:6, 4:6].eq(9).all() and grid[0, 0].eq(9).all()


def test_prediction_grid_columns() -> None:
    image, mask, prob = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8), torch.full((2, 1, 8, 8), 0.25)
    grid = prediction_grid(image, mask, prob, overlay=True, padding=0)
    assert grid.shape == (3, 16, 32)
    assert grid[:, :8, 8:16].eq(1).all()  # mask white
    assert torch.allclose(grid[:, :8, 16:24], torch.tensor(0.25))  # probability grey
    assert prediction_grid(image, mask, prob, overlay=False, padding=0).shape == (3, 16, 24)


def test_grid_logger_skips_without_tensorboard() -> None:
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, current_epoch=0, loggers=[])
    module = SimpleNamespace(val_examples={"image": torch.rand(1, 3, 4, 4)})
    PredictionGridLogger().on_validation_epoch_end(trainer, module)  # no error, nothing to do


def test_config_must_be_plain() -> None:
    with pytest.raises(TypeError, match="data.root"):
        ConfigInCheckpoint({"data": {"root": Path("/x")}})
    assert find_non_plain({"a": [1, (2.0, "b")], "c": None}) is None


def test_to_plain_partial() -> None:
    import functools

    plain = to_plain({"opt": functools.partial(torch.optim.Adam, lr=0.1), "mean": (0.5,)})
    assert plain == {"opt": {"_target_": "torch.optim.adam.Adam", "_partial_": True, "lr": 0.1}, "mean": (0.5,)}


def test_load_config_needs_key(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "x.ckpt")
    with pytest.raises(KeyError, match=CONFIG_KEY):
        load_config_from_checkpoint(tmp_path / "x.ckpt")
