"""Train the U-Net: ``python train.py experiment=demo`` (see conf/train.yaml and README.md)."""

import hydra
from omegaconf import DictConfig

from wsiseg.tasks.sweep import sweep_value
from wsiseg.tasks.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` (``val/dice`` of the last epoch) for sweepers."""
    return sweep_value(run(cfg).metrics, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
