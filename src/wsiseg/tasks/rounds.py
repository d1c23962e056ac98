"""The later rounds of ``train.py``: mine the last round's false positives, reweight, and train again.

Round 0 is the plain training run in ``paths.output_dir``; round ``r >= 1`` runs in ``<output_dir>/round-<r>``
(its own checkpoints, TensorBoard run and ``run.json``) and records in ``round-<r>/mining/`` what it was
given: the heatmaps of the training patients' slides predicted by the previous round's ``last.ckpt``, the
pool's ``pool.json`` (which checkpoint mined it, its digest, the settings, patches per slide) and, with
importance sampling, ``losses.npy`` and ``weights.npy`` (one per training patch, oversampling repeats included).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from wsiseg.atomic import write_text_atomic
from wsiseg.data import PatchDataModule
from wsiseg.inference import (
    HeatmapWriter,
    PredictionData,
    PredictSettings,
    ReadingOptions,
    TilePredictor,
    file_digest,
    settings_digest,
)
from wsiseg.mining import MinedPool, MiningSource, MiningSpec, importance_weights, mine_pool, patch_losses
from wsiseg.model import load_model
from wsiseg.tasks.predict import PREDICT_TRAINER_ARGS, predict_heatmaps

log = logging.getLogger(__name__)


def round_config(cfg: DictConfig, mining: MiningSpec, round_: int) -> DictConfig:
    """The config of round ``round_``: its own output folder, ``mining.epochs`` epochs, ``mining.lr``."""
    base = Path(str(OmegaConf.select(cfg, "paths.output_dir")))
    rcfg = copy.deepcopy(cfg)
    OmegaConf.update(rcfg, "paths.output_dir", str(base / f"round-{round_}"))
    if mining.epochs is not None:
        OmegaConf.update(rcfg, "trainer.max_epochs", mining.epochs)
    if mining.lr is not None:
        OmegaConf.update(rcfg, "model.optimizer.lr", mining.lr)
    return rcfg


def prepare_round(
    cfg: DictConfig, datamodule: PatchDataModule, mining: MiningSpec, round_: int, previous: Path
) -> pl.LightningModule:
    """Give ``datamodule`` the round's pool and weights; return the module the round trains.

    Args:
        cfg: the round's config (:func:`round_config`; ``paths.output_dir``: the round's folder).
        datamodule: the run's datamodule, set up by the previous round.
        mining: the settings.
        round_: this round (>= 1).
        previous: the previous round's ``last.ckpt``.
    """
    folder = Path(cfg.paths.output_dir) / "mining"
    folder.mkdir(parents=True, exist_ok=True)
    trained, _ = load_model(previous)  # from its record: the checkpoint is data
    pool = None
    if mining.hard_negatives:
        pool = mine_training_slides(cfg, datamodule, mining, round_, previous, trained, folder)
    weights = None
    if mining.importance:
        trainer = instantiate(cfg.trainer, **PREDICT_TRAINER_ARGS)
        losses = patch_losses(trained, datamodule.train_set, trainer, datamodule.loader.batch_size)
        weights = importance_weights(losses, mining.importance_floor)
        np.save(folder / "losses.npy", losses)
        np.save(folder / "weights.npy", weights)
        log.info("round %d: importance weights from %s (loss mean %.4f, max %.4f; weight max / mean %.1f)",
                 round_, previous, losses.mean(), losses.max(), weights.max() * len(weights))  # fmt: skip
    datamodule.set_round(pool.cache if pool is not None else None, mining.share, weights)
    model = instantiate(cfg.model)
    if mining.restart == "finetune":
        model.load_state_dict(trained.state_dict())  # the weights load_model read: the file is not read again
    return model


def mine_training_slides(
    cfg: DictConfig, datamodule: PatchDataModule, mining: MiningSpec, round_: int, previous: Path,
    trained: pl.LightningModule, folder: Path,
) -> MinedPool:  # fmt: skip
    """Predict the training patients' slides with the previous round's model and mine their false positives."""
    split_of = datamodule.split_of
    slides = [s for s in datamodule.slides() if split_of.get(s.patient) == "train"]  # never val or test
    settings = PredictSettings(model_mpp=datamodule.input_mpp, tile=datamodule.tile_size,
                               heatmap_mpp=mining.heatmap_mpp, tissue=datamodule.tissue)  # fmt: skip
    digests = (file_digest(previous), settings_digest(asdict(settings)))
    meta = {"checkpoint": str(previous), "checkpoint_digest": digests[0], "config_digest": digests[1],
            "checkpoints": [{"path": str(previous), "digest": digests[0]}], "settings": asdict(settings),
            "purpose": f"hard-negative mining for round {round_}"}  # fmt: skip
    heatmaps = folder / "heatmaps"
    pairs = [(Path(s.slide).stem, s.path) for s in slides]
    reading = ReadingOptions(num_workers=mining.workers, plan_workers=datamodule.loader.prepare_workers)
    data = PredictionData(pairs, settings, heatmaps, digests, reading)
    writer = HeatmapWriter(heatmaps, meta, tiff=False, png=False)
    trainer = instantiate(cfg.trainer, **PREDICT_TRAINER_ARGS, callbacks=[writer])
    predict_heatmaps(trainer, TilePredictor([trained]), data, writer)
    source = MiningSource(round_, previous, digests[0], datamodule.cache.folder.name)
    pool = mine_pool(slides, split_of, heatmaps, datamodule.spec, mining, source, datamodule.cache_dir,
                     datamodule.loader.prepare_workers)  # fmt: skip
    write_text_atomic(folder / "pool.json", json.dumps(pool.provenance, indent=2))
    return pool
