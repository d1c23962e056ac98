from __future__ import annotations

import functools
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from wsiseg.model import (
    ConfigInCheckpoint,
    PredictionGridLogger,
    SegmentationModule,
    UNet,
    load_config_from_checkpoint,
)

from .synthetic import make_module

CONFIG = {"model": {"net": {"base_width": 4, "depth": 2}}, "data": {"patch_size": 32, "mpp": 0.5}, "seed": 0}


class LossRecorder(pl.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def test_fit_logs_schedules_and_checkpoints(tmp_path: Path, disc_loaders) -> None:
    pl.seed_everything(0)
    scheduler = functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2], gamma=0.1)
    module = make_module(scheduler=scheduler)
    recorder = LossRecorder()
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/dice", mode="max", save_last=True)
    logger = TensorBoardLogger(tmp_path)
    trainer = pl.Trainer(
        max_steps=12,  # 3 epochs of 4 batches
        accelerator="cpu",
        logger=logger,
        callbacks=[recorder, checkpoint, PredictionGridLogger(max_images=4), ConfigInCheckpoint(CONFIG)],
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    train, val = disc_loaders
    trainer.fit(module, train, val)

    assert trainer.current_epoch == 3
    assert sum(recorder.losses[-2:]) < sum(recorder.losses[:2])
    assert {"train/loss", "train/loss_step", "train/loss_epoch", "val/loss", "val/dice", "val/iou"}.issubset(
        trainer.callback_metrics
    )
    assert trainer.optimizers[0].param_groups[0]["lr"] == 1e-2 * 0.1

    examples = module.val_examples
    assert examples["image"].shape == (8, 3, 32, 32) and examples["prob"].device.type == "cpu"
    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    assert "val/examples" in events.Tags()["images"]
    assert len(events.Images("val/examples")) == 3  # one per epoch, none for the sanity check

    for path in (Path(checkpoint.last_model_path), Path(checkpoint.best_model_path)):
        assert load_config_from_checkpoint(path) == CONFIG
    restored = SegmentationModule.load_from_checkpoint(checkpoint.last_model_path, net=UNet(base_width=4, depth=2))
    assert restored.hparams.optimizer == {"_target_": "torch.optim.adam.Adam", "_partial_": True, "lr": 1e-2}
    torch.testing.assert_close(restored.net.head.weight, module.net.head.weight)

    (result,) = trainer.test(module, val, verbose=False)
    assert {"test/loss", "test/dice", "test/iou"}.issubset(result)
