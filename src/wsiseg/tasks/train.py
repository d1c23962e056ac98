"""The ``train.py`` task: compose data, model, trainer, callbacks and loggers from the config, and fit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from wsiseg.mining.spec import MiningSpec
from wsiseg.model import ConfigInCheckpoint
from wsiseg.model.plain import to_plain
from wsiseg.provenance import run_record
from wsiseg.tasks.instantiate import instantiate_list, record_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a training run leaves: its final metrics and checkpoints."""

    metrics: dict[str, float]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    output_dir: Path


def run(cfg: DictConfig) -> TrainResult:
    """Train the segmentation model described by ``cfg`` (see ``conf/train.yaml``), round after round.

    Args:
        cfg: the composed config; ``cfg.ckpt_path`` resumes a run (weights, optimizer, epoch, sampler);
            ``cfg.mining.rounds`` later rounds with mined hard negatives and / or importance sampling
            (:mod:`wsiseg.tasks.rounds`).

    Returns:
        The last round's metrics and checkpoints.
    """
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    if hasattr(datamodule, "inventory") and rank_zero_only.rank == 0:  # what the cohorts hold, before any work
        datamodule.inventory().report(cfg.paths.output_dir)
    mining: MiningSpec = instantiate(cfg.mining) if cfg.get("mining") else MiningSpec()
    if mining.start is not None and mining.rounds > 0:
        result = given_round(cfg, datamodule, Path(mining.start))
    else:
        result = fit(cfg, datamodule, instantiate(cfg.model), cfg.get("ckpt_path"))
    for round_ in range(1, mining.rounds + 1):
        if result.last_checkpoint is None:
            raise RuntimeError(
                "a later training round needs the previous round's last.ckpt (callbacks.latest_checkpoint)"
            )
        from wsiseg.tasks.rounds import prepare_round, round_config  # the inference stage: only rounds need it

        round_cfg = round_config(cfg, mining, round_)
        model = prepare_round(round_cfg, datamodule, mining, round_, result.last_checkpoint)
        result = fit(round_cfg, datamodule, model, None)
    return result


def given_round(cfg: DictConfig, datamodule: pl.LightningDataModule, checkpoint: Path) -> TrainResult:
    """Round 0 taken from ``mining.start``: the datamodule prepared as a fit would, the split checked.

    Raises:
        ValueError: the checkpoint was trained on another patient split (its pool would mine, and its
            rounds train on, other patients than this config's).
    """
    from wsiseg.model import read_checkpoint
    from wsiseg.model.checkpoint import stored_split

    split = stored_split(read_checkpoint(checkpoint), checkpoint) or {}
    ours = datamodule.split_patients(datamodule.slides())  # before any patch is extracted
    if split != ours:
        changed = sorted(p for p in set(split) | set(ours) if split.get(p) != ours.get(p))
        raise ValueError(f"mining.start={checkpoint} was trained on another patient split than this config's "
                         f"({len(changed)} patients differ, e.g. {changed[:3]})")  # fmt: skip
    datamodule.prepare_data()
    datamodule.setup("fit")
    log.info("round 0: %s (mining.start)", checkpoint)
    return TrainResult({}, None, checkpoint, Path(cfg.paths.output_dir))


def check_input_size(model: pl.LightningModule, datamodule: pl.LightningDataModule) -> None:
    """Fail before any patch is read when the network cannot take the datamodule's tiles (``check_input_size``).

    Raises:
        ValueError: The tile side is not a multiple of what the network needs; the message names the nearest sides.
    """
    check = getattr(getattr(model, "net", None), "check_input_size", None)
    tile = getattr(datamodule, "tile_size", None)
    if check is None or not isinstance(tile, int):
        return
    try:
        check(tile, tile)
    except ValueError as err:
        multiple = getattr(model.net, "input_multiple", None)
        hint = f" (e.g. {tile - tile % multiple} or {tile - tile % multiple + multiple})" if multiple else ""
        raise ValueError(f"sampling.out_size={tile} does not suit model.net: {err}; choose sampling.out_size as a "
                         f"multiple of {multiple or 'what it needs'}{hint}") from err  # fmt: skip


def fit(
    cfg: DictConfig, datamodule: pl.LightningDataModule, model: pl.LightningModule, ckpt_path: str | None
) -> TrainResult:
    """One round: callbacks, loggers and trainer from ``cfg``, then ``trainer.fit``."""
    check_input_size(model, datamodule)
    callbacks = instantiate_list(cfg.get("callbacks"))
    config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # typed choices as plain strings: data
    callbacks.append(ConfigInCheckpoint(config, run_record(cfg.get("seed"))))
    record_run(cfg, cfg.paths.output_dir, cfg.get("seed"))
    loggers = instantiate_list(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    # the choices a sweep varies (the logger's hparams.yaml): nested plain values, which the logger flattens to
    # data/..., model/... keys where it needs flat ones; factories such as the optimizer become {"_target_", "lr"}
    settings = datamodule.settings() if hasattr(datamodule, "settings") else dict(datamodule.hparams)
    hparams = to_plain({"data": settings, "model": dict(model.hparams)})
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    # weights_only: a checkpoint to resume from is loaded without running any pickled code
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    checkpoint = trainer.checkpoint_callback  # the first: best by the monitored metric
    best = Path(checkpoint.best_model_path) if checkpoint and checkpoint.best_model_path else None
    newest = [c.best_model_path for c in trainer.checkpoint_callbacks if c.monitor is None and c.best_model_path]
    last = Path(newest[0]) if newest else None
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        log.info("metrics: %s", {k: round(v, 4) for k, v in sorted(metrics.items())})
        log.info("best checkpoint: %s", best)
    return TrainResult(metrics, best, last, Path(cfg.paths.output_dir))
