"""The ``predict.py`` task: a checkpoint and slides in, one tumour-probability heatmap per slide out."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from wsiseg.atomic import write_text_atomic
from wsiseg.errors import CheckpointError
from wsiseg.inference import (
    HeatmapWriter,
    PredictionData,
    PredictSettings,
    ReadingOptions,
    TilePredictor,
    choose_tissue,
    file_digest,
    find_slides,
    settings_digest,
    slide_inventory,
)
from wsiseg.inference.exported import exported_format, load_exported
from wsiseg.model import ModelSpec, load_model
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
    """Predict heatmaps for ``cfg.slides`` with ``cfg.ckpt_path`` (see ``conf/predict.yaml``).

    ``ckpt_path`` is one checkpoint or a list of them (an ensemble: the members must share their input
    resolution and tile size); an exported model (``.pt`` TorchScript, ``.onnx``) counts as a checkpoint
    (:func:`load_member`); ``inference.tta`` adds test-time augmentation; ``tissue_from`` chooses the tissue
    settings (:func:`predict_settings`).
    """
    checkpoints = checkpoint_paths(cfg.ckpt_path)
    members, specs = load_members(checkpoints, cfg.get("channels_last"))  # from their records, never their code
    settings = predict_settings(cfg, specs, checkpoints)
    model = TilePredictor(members, settings.tta, settings.reduction)
    slides = find_cohort_slides(cfg)
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    member_digests = [file_digest(c) for c in checkpoints]
    digests = (ensemble_digest(member_digests), settings_digest(digest_settings(settings, len(checkpoints))))
    record_run(cfg, cfg.paths.output_dir)
    meta = {
        "provenance": run_record(),
        "checkpoint": str(checkpoints[0]) if len(checkpoints) == 1 else None,
        "checkpoint_digest": digests[0],
        "checkpoints": [{"path": str(c), "digest": d} for c, d in zip(checkpoints, member_digests, strict=True)],
        "config_digest": digests[1],
        "settings": asdict(settings),
    }
    reading = ReadingOptions(cfg.num_workers, cfg.read_threads, cfg.plan_workers, cfg.batch_size, cfg.background_nice)
    data = PredictionData(slides, settings, out_dir, digests, reading)
    writer = HeatmapWriter(out_dir, meta, tiff=cfg.write_tiff, png=cfg.write_png, tiff_colour=cfg.write_tiff_colour)
    trainer: pl.Trainer = instantiate(cfg.trainer, **PREDICT_TRAINER_ARGS, callbacks=[writer])
    return predict_heatmaps(trainer, model, data, writer)


def predict_settings(cfg: DictConfig, specs: Sequence[ModelSpec], checkpoints: Sequence[Path]) -> PredictSettings:
    """``cfg.inference`` at the members' resolution and tile size, with the tissue settings of ``cfg.tissue_from``.

    ``checkpoint`` (the default): those the first member's training used (its record), or ``conf/tissue`` for a
    checkpoint from before the record; ``config``: ``conf/tissue``. See :func:`~wsiseg.inference.choose_tissue`.
    """
    configured: PredictSettings = instantiate(cfg.inference, _convert_="all")(
        model_mpp=specs[0].input_mpp, tile=specs[0].tile_size
    )
    recorded = [spec.tissue for spec in specs]
    source = cfg.get("tissue_from", "checkpoint")
    tissue = choose_tissue(recorded, configured.tissue, source, [str(c) for c in checkpoints])
    return replace(configured, tissue=tissue)


def find_cohort_slides(cfg: DictConfig) -> list[tuple[str, Path]]:
    """The slides of ``cfg.slides``; a folder's inventory is logged and written to the run folder first."""
    options = instantiate(cfg.cohorts, _convert_="all") if cfg.get("cohorts") else None
    inventory = slide_inventory(cfg.slides, options)
    if inventory is None:  # a file or a glob
        return find_slides(cfg.slides)
    inventory.report(cfg.paths.output_dir)
    if not inventory.records:
        listed = f"python -m wsiseg.cohorts {cfg.slides} lists them"
        raise FileNotFoundError(f"{cfg.slides}: no slide to predict ({inventory.reasons()}; {listed})")
    return [(r.stem, r.path) for r in inventory.records]


def checkpoint_paths(ckpt_path: str | Sequence[str]) -> list[Path]:
    """``ckpt_path`` as a list of files: one path, or a list of them (``ckpt_path=[a,b,c]``: an ensemble).

    Raises:
        ValueError: an empty list, or a checkpoint named twice.
    """
    paths = [Path(ckpt_path)] if isinstance(ckpt_path, str | Path) else [Path(str(p)) for p in ckpt_path]
    if not paths:
        raise ValueError("ckpt_path is an empty list: name a checkpoint, or several for an ensemble")
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) < len(resolved):
        raise ValueError(f"ckpt_path names a checkpoint twice: {[str(p) for p in paths]}")
    return paths


def load_members(checkpoints: Sequence[Path], channels_last: bool | None) -> tuple[list[nn.Module], list[ModelSpec]]:
    """Every checkpoint's (or exported model's: :func:`load_member`) module and record; they must tile alike.

    Raises:
        CheckpointError: a member is refused, or reads another resolution or tile size than the first.
    """
    loaded = [load_member(c, channels_last) for c in checkpoints]
    spec = loaded[0][1]
    for path, (_, other) in zip(checkpoints[1:], loaded[1:], strict=True):
        if (other.input_mpp, other.tile_size) != (spec.input_mpp, spec.tile_size):
            raise CheckpointError(
                path,
                f"an ensemble's members must share their input resolution and tile size: it reads "
                f"{other.tile_size} px tiles at {other.input_mpp:g} um/px, {checkpoints[0]} reads "
                f"{spec.tile_size} px at {spec.input_mpp:g} um/px",
            )
    return [module for module, _ in loaded], [other for _, other in loaded]


def load_member(path: Path, channels_last: bool | None) -> tuple[nn.Module, ModelSpec]:
    """A checkpoint's module, or an exported model (``.pt`` TorchScript, ``.onnx``; see ``python -m wsiseg.export``).

    ``channels_last`` applies to checkpoints; an exported model runs as it was exported.
    """
    if exported_format(path) is not None:
        return load_exported(path)
    return load_model(path, channels_last)


def ensemble_digest(member_digests: Sequence[str]) -> str:
    """The digest heatmaps are keyed by: the checkpoint's own, or one over an ensemble's members in order."""
    return member_digests[0] if len(member_digests) == 1 else settings_digest({"ensemble": list(member_digests)})


def digest_settings(settings: PredictSettings, members: int) -> dict:
    """The settings that decide a heatmap: the reduction only for an ensemble, ``tta`` only when used.

    So heatmaps of one checkpoint without augmentation keep the digest they had before these settings existed.
    """
    values = asdict(settings)
    if members == 1:
        values.pop("reduction")
    if values["tta"] == "none":
        values.pop("tta")
    return values


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
        writer.add_tiffs(data.skipped, data.claims)  # a TIFF asked for now, on slides finished earlier
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
