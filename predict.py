"""Predict tumour heatmaps: ``python predict.py ckpt_path=<checkpoint> slides=<folder|glob|cohort>``."""

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exits with status 1 when any slide failed."""
    from wsiseg.tasks.predict import run

    if run(cfg).failed:
        sys.exit(1)


if __name__ == "__main__":
    # wsiseg is imported here and in main, not at the top: spawned workers (DataLoader, slide pools) import
    # this file again as __mp_main__, and need none of it
    import wsiseg.tasks  # noqa: F401  the configs' typed schemas, before Hydra composes

    main()
