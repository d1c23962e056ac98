"""Train the U-Net: ``python train.py experiment=demo`` (see conf/train.yaml and README.md)."""

import hydra
from omegaconf import DictConfig

from wsiseg.tasks.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the optimised metric for sweepers."""
    result = run(cfg)
    return result.metrics.get(cfg.get("optimized_metric", "val/dice"))


if __name__ == "__main__":
    main()
