"""Generate the synthetic CAMELYON17-like cohort: ``python synth.py synth=demo`` (see conf/synth.yaml)."""

import hydra
from omegaconf import DictConfig

from wsiseg.tasks.synth import run


@hydra.main(version_base="1.3", config_path="conf", config_name="synth")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run(cfg)


if __name__ == "__main__":
    main()
