"""Classify slides, stage patients, write the submission: ``python stage.py heatmaps=<folder> cohort=<folder>``."""

import hydra
from omegaconf import DictConfig

METRICS = ("kappa/test", "kappa/cv")  # the held-out patients' kappa, the out-of-fold kappa of the fitted ones


@hydra.main(version_base="1.3", config_path="conf", config_name="stage")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers.

    ``kappa/test`` (the default) falls back to ``kappa/cv`` when no patient is held out (``holdout=none``).
    """
    from wsiseg.tasks.stage import run
    from wsiseg.tasks.sweep import check_metric_name, sweep_value

    name = check_metric_name(cfg.get("optimized_metric"), METRICS)
    kappa = run(cfg).kappa
    return sweep_value({f"kappa/{part}": value for part, value in kappa.items()}, name, {"kappa/test": "kappa/cv"})


if __name__ == "__main__":
    # wsiseg is imported here and in main, not at the top: spawned workers (DataLoader, slide pools) import
    # this file again as __mp_main__, and need none of it
    import wsiseg.tasks  # noqa: F401  the configs' typed schemas, before Hydra composes

    main()
