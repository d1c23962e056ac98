"""Build lists of objects (callbacks, loggers) from config groups whose entries each carry a ``_target_``."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def instantiate_list(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a ``name -> {_target_: ...}`` mapping, in order; ``None`` entries are skipped.

    This is how ``callbacks/`` and ``logger/`` configs become lists: an override such as
    ``callbacks.lr_monitor=null`` removes one.
    """
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry is not None and "_target_" in entry]
