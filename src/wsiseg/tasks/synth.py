"""The ``synth.py`` task: compose the preset with Hydra, generate the cohort, report where it is."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from wsiseg.synth.cohort import generate_cohort
from wsiseg.synth.gallery import write_preset_gallery

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> Path:
    """Generate the cohort described by ``cfg`` (see ``conf/synth.yaml``); returns its ``stage_labels.csv``."""
    spec = instantiate(cfg.synth, _convert_="all")
    labels = generate_cohort(spec, cfg.out_dir, seed=cfg.seed, workers=cfg.workers, overwrite=cfg.overwrite)
    log.info("cohort %r (seed %d) ready in %s", spec.name, cfg.seed, labels.parent)
    gallery, made = labels.parent / "gallery.png", labels.parent / "cohort.json"
    if cfg.get("gallery", True) and (not gallery.exists() or gallery.stat().st_mtime < made.stat().st_mtime):
        write_preset_gallery(spec, gallery, seed=cfg.seed)
        log.info("what the preset draws, at full resolution: %s", gallery)
    return labels
