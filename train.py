"""Train the U-Net: ``python train.py experiment=demo`` (see conf/train.yaml and README.md)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` (``val/dice`` of the last epoch) for sweepers."""
    from wsiseg.tasks.sweep import sweep_value
    from wsiseg.tasks.train import run

    return sweep_value(run(cfg).metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    # wsiseg is imported here and in main, not at the top: spawned workers (DataLoader, slide pools) import
    # this file again as __mp_main__, and need none of it
    import wsiseg.tasks  # noqa: F401  the configs' typed schemas, before Hydra composes

    main()
