from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

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


def _examples(n: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "image": torch.rand(n, 3, 8, 8),
        "mask": (torch.rand(n, 1, 8, 8) > 0.5).float(),
        "prob": torch.rand(n, 1, 8, 8),
    }


def _trainer(loggers, **changes) -> SimpleNamespace:
    state = dict(sanity_checking=False, is_global_zero=True, current_epoch=0, global_step=7, loggers=loggers)
    return SimpleNamespace(**{**state, **changes})


def test_grid_logger_writes_the_grid_to_tensorboard(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path, name="tb", version="")
    examples = _examples()
    PredictionGridLogger(max_images=2).on_validation_epoch_end(
        _trainer([logger]), SimpleNamespace(val_examples=examples)
    )
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    (image,) = events.Images("val/examples")
    # 2 rows (max_images) of patch | mask | probability | overlay, 8 px tiles with 2 px padding
    assert (image.step, image.height, image.width) == (7, 2 * 10 + 2, 4 * 10 + 2)
    decoded = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(image.encoded_image_string, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    expected = prediction_grid(examples["image"][:2], examples["mask"][:2], examples["prob"][:2])  # (3, H, W)
    assert np.abs(decoded.astype(float) - expected.permute(1, 2, 0).numpy() * 255).max() <= 1.0


def test_grid_logger_writes_nothing_when_it_should_not(tmp_path: Path) -> None:
    logger = TensorBoardLogger(tmp_path, name="tb", version="")
    calls = []
    logger.experiment.add_image = lambda *args, **kwargs: calls.append(args)
    callback, module = PredictionGridLogger(every_n_epochs=2), SimpleNamespace(val_examples=_examples())
    callback.on_validation_epoch_end(_trainer([logger], sanity_checking=True), module)
    callback.on_validation_epoch_end(_trainer([logger], is_global_zero=False), module)
    callback.on_validation_epoch_end(_trainer([logger], current_epoch=1), module)  # not an even epoch
    callback.on_validation_epoch_end(_trainer([logger]), SimpleNamespace(val_examples=None))
    callback.on_validation_epoch_end(_trainer([SimpleNamespace(experiment=logger.experiment)]), module)  # no TB
    assert calls == []
    callback.on_validation_epoch_end(_trainer([logger], current_epoch=2), module)
    assert len(calls) == 1 and calls[0][0] == "val/examples" and calls[0][1].shape == (3, 3 * 10 + 2, 4 * 10 + 2)


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
