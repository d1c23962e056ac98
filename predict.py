"""Predict tumour heatmaps: ``python predict.py ckpt_path=<checkpoint> slides=<folder|glob|cohort>``."""

import sys

import hydra
from omegaconf import DictConfig

from wsiseg.tasks.predict import run


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exits with status 1 when any slide failed."""
    if run(cfg).failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
