"""The ``predict.py`` task: a checkpoint and slides in, one tumour-probability heatmap per slide out."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from wsiseg.atomic import write_text_atomic
from wsiseg.inference import (
    HeatmapWriter,
    PredictionData,
    PredictSettings,
    file_digest,
    find_slides,
    settings_digest,
)
from wsiseg.model import load_config_from_checkpoint
from wsiseg.provenance import run_record
from wsiseg.tasks.instantiate import record_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictSummary:
    """Slides predicted now, skipped (already complete) and failed (name -> reason)."""

    out_dir: Path
    done: list[str]
    skipped: list[str]
    failed: dict[str, str]


def load_model(checkpoint: Path, channels_last: bool | None = None) -> tuple[pl.LightningModule, dict]:
    """Rebuild the trained module from its checkpoint alone (config stored in it, weights-only load).

    Args:
        checkpoint: a ``train.py`` checkpoint.
        channels_last: run in channels-last memory format (faster on GPUs); ``None`` keeps the training choice.
    """
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    train_cfg = load_config_from_checkpoint(checkpoint)
    model_cfg = dict(train_cfg["model"])
    if channels_last is not None:
        model_cfg["channels_last"] = channels_last
    model = instantiate(model_cfg)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state["state_dict"])
    return model.eval(), train_cfg


def run(cfg: DictConfig) -> PredictSummary:
    """Predict heatmaps for ``cfg.slides`` with ``cfg.ckpt_path`` (see ``conf/predict.yaml``)."""
    checkpoint = Path(cfg.ckpt_path)
    model, train_cfg = load_model(checkpoint, cfg.get("channels_last"))
    settings = PredictSettings.from_training(train_cfg["data"], **instantiate(cfg.inference, _convert_="all"))
    slides = find_slides(cfg.slides)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digests = (file_digest(checkpoint), settings_digest(asdict(settings)))
    record_run(cfg, cfg.paths.output_dir)
    meta = {
        "provenance": run_record(),
        "checkpoint": str(checkpoint),
        "checkpoint_digest": digests[0],
        "config_digest": digests[1],
        "settings": asdict(settings),
    }
    data = PredictionData(slides, settings, out_dir, *digests, cfg.num_workers, cfg.plan_workers)
    writer = HeatmapWriter(out_dir, meta, tiff=cfg.write_tiff, png=cfg.write_png)
    trainer: pl.Trainer = instantiate(cfg.trainer, **PREDICT_TRAINER_ARGS, callbacks=[writer])
    return predict_heatmaps(trainer, model, data, writer)


#: Trainer arguments a prediction run always uses (each slide goes to one rank: no distributed sampler).
PREDICT_TRAINER_ARGS = {
    "logger": False, "enable_progress_bar": False, "enable_checkpointing": False,
    "use_distributed_sampler": False, "enable_model_summary": False,
}  # fmt: skip


def predict_heatmaps(
    trainer: pl.Trainer, model: pl.LightningModule, data: PredictionData, writer: HeatmapWriter
) -> PredictSummary:
    """Run ``trainer.predict`` (``writer`` among its callbacks); each rank reports, rank 0 merges the reports."""
    trainer.predict(model, datamodule=data, return_predictions=False)
    part = {"done": writer.done, "skipped": data.skipped, "failed": {**data.failed, **writer.failed}}
    write_text_atomic(data.out_dir / f"summary-rank{trainer.global_rank}.json", json.dumps(part, indent=2))
    trainer.strategy.barrier()
    return _summarise(data.out_dir, trainer.world_size, trainer.is_global_zero)


def _summarise(out_dir: Path, world: int, report: bool) -> PredictSummary:
    done, skipped, failed = [], [], {}
    for rank in range(world):
        part = json.loads((out_dir / f"summary-rank{rank}.json").read_text())
        done += part["done"]
        skipped += part["skipped"]
        failed.update(part["failed"])
    if report:
        (out_dir / "summary.json").write_text(
            json.dumps({"done": done, "skipped": skipped, "failed": failed}, indent=2)
        )
        log.info(
            "predicted %d slides, skipped %d already done, %d failed -> %s",
            len(done),
            len(skipped),
            len(failed),
            out_dir,
        )
        for name, reason in failed.items():
            log.error("FAILED %s: %s", name, reason)
    return PredictSummary(out_dir, done, skipped, failed)
