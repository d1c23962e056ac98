"""Classify slides, stage patients, write the submission: ``python stage.py heatmaps=<folder> cohort=<folder>``."""

import hydra
from omegaconf import DictConfig

from wsiseg.tasks.stage import run


@hydra.main(version_base="1.3", config_path="conf", config_name="stage")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the held-out (else out-of-fold) kappa for sweepers."""
    kappa = run(cfg).kappa
    return kappa.get("test", kappa.get("cv"))


if __name__ == "__main__":
    main()
