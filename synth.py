"""Generate the synthetic CAMELYON17-like cohort: ``python synth.py synth=demo`` (see conf/synth.yaml)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="synth")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    from wsiseg.tasks.synth import run

    run(cfg)


if __name__ == "__main__":
    # wsiseg is imported here and in main, not at the top: spawned workers (DataLoader, slide pools) import
    # this file again as __mp_main__, and need none of it
    import wsiseg.tasks  # noqa: F401  the configs' typed schemas, before Hydra composes

    main()
