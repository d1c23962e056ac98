"""Helpers shared by the tasks: lists of objects from config groups, and the run record of every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from wsiseg.provenance import write_run_record


def instantiate_list(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a ``name -> {_target_: ...}`` mapping, in order; ``None`` entries are skipped.

    This is how ``callbacks/`` and ``logger/`` configs become lists: an override such as
    ``callbacks.lr_monitor=null`` removes one.
    """
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry is not None and "_target_" in entry]


def record_run(cfg: DictConfig, folder: str | Path, seed: int | None = None) -> Path:
    """Write ``run.json`` (versions, git revision, seed, command, resolved config) into ``folder``."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside a Hydra app: keep the unresolved form
        config = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    return write_run_record(folder, config, seed)
