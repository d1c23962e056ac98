"""The ``predict.py`` task: a checkpoint and slides in, one tumour-probability heatmap per slide out."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytorch_lightning as pl
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
from wsiseg.model import load_model
from wsiseg.provenance import run_record
from wsiseg.tasks.instantiate import record_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictSummary:
    """One run's slides: predicted now, skipped, left to another run, failed.

    ``skipped``: already complete; ``elsewhere``: being predicted by another run sharing the folder (name ->
    that run); ``failed``: name -> reason.
    """

    out_dir: Path
    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    elsewhere: dict[str, str] = field(default_factory=dict)
    run_id: str = ""


def run(cfg: DictConfig) -> PredictSummary:
    """Predict heatmaps for ``cfg.slides`` with ``cfg.ckpt_path`` (see ``conf/predict.yaml``)."""
    checkpoint = Path(cfg.ckpt_path)
    model, spec = load_model(checkpoint, cfg.get("channels_last"))  # from the checkpoint's record, never its code
    settings: PredictSettings = instantiate(cfg.inference, _convert_="all")(
        model_mpp=spec.input_mpp, tile=spec.tile_size
    )
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
    """Run ``trainer.predict`` (``writer`` among its callbacks); each rank reports, rank 0 merges the reports.

    Reports are this run's own files (``.runs/<run>/rank<r>.json``, merged into ``summary-<run>.json``;
    ``summary.json`` is a copy of the latest run's), so runs sharing the folder never overwrite each other's.
    """
    try:
        trainer.predict(model, datamodule=data, return_predictions=False)
    finally:  # also when prediction fails: a claim left held would keep the slide from later runs here
        if data.claims is not None:
            data.claims.release_all()
    claims = data.claims
    part = {
        "done": writer.done, "skipped": data.skipped + claims.finished_elsewhere, "elsewhere": claims.elsewhere,
        "failed": {**data.failed, **writer.failed},
    }  # fmt: skip
    write_text_atomic(_part_path(data.out_dir, data.run_id, trainer.global_rank), json.dumps(part, indent=2))
    trainer.strategy.barrier()
    return _summarise(data.out_dir, data.run_id, trainer.world_size, trainer.is_global_zero)


def _part_path(out_dir: Path, run_id: str, rank: int) -> Path:
    return out_dir / ".runs" / run_id / f"rank{rank}.json"


def _summarise(out_dir: Path, run_id: str, world: int, report: bool) -> PredictSummary:
    merged: dict = {"run": run_id, "done": [], "skipped": [], "elsewhere": {}, "failed": {}, "done_by_rank": []}
    for rank in range(world):
        part = json.loads(_part_path(out_dir, run_id, rank).read_text())
        merged["done"] += part["done"]
        merged["done_by_rank"].append(part["done"])
        merged["skipped"] += part["skipped"]
        merged["elsewhere"].update(part["elsewhere"])
        merged["failed"].update(part["failed"])
    if report:
        text = json.dumps(merged, indent=2)
        write_text_atomic(out_dir / f"summary-{run_id}.json", text)
        write_text_atomic(out_dir / "summary.json", text)
        shutil.rmtree(out_dir / ".runs" / run_id, ignore_errors=True)
        with contextlib.suppress(OSError):
            (out_dir / ".runs").rmdir()
        _log_summary(out_dir, merged)
    return PredictSummary(out_dir, merged["done"], merged["skipped"], merged["failed"], merged["elsewhere"], run_id)


def _log_summary(out_dir: Path, merged: dict) -> None:
    log.info("predicted %d slides, skipped %d already done, %d failed -> %s", len(merged["done"]),
             len(merged["skipped"]), len(merged["failed"]), out_dir)  # fmt: skip
    if merged["elsewhere"]:
        runs = sorted(set(merged["elsewhere"].values()))
        log.warning("%d slides were being predicted by other runs sharing %s and were left to them: %s",
                    len(merged["elsewhere"]), out_dir, "; ".join(runs[:3]))  # fmt: skip
    for name, reason in merged["failed"].items():
        log.error("FAILED %s: %s", name, reason)
