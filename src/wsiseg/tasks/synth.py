"""The ``synth.py`` task: compose the preset with Hydra, generate the cohort, report where it is."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from wsiseg.synth.cohort import generate_cohort

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> Path:
    """Generate the cohort described by ``cfg`` (see ``conf/synth.yaml``); returns its ``stage_labels.csv``."""
    spec = instantiate(cfg.synth, _convert_="all")
    labels = generate_cohort(spec, cfg.out_dir, seed=cfg.seed, workers=cfg.workers, overwrite=cfg.overwrite)
    log.info("cohort %r (seed %d) ready in %s", spec.name, cfg.seed, labels.parent)
    return labels
