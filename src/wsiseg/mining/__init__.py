"""Stage 3b: hard-negative mining and importance sampling between training rounds (the paper's future work).

After a round, the round's model predicts the training patients' slides (:mod:`wsiseg.inference`); the
false-positive regions above a threshold, away from annotated tumour, become a pool of patches centred on
them (:func:`find_false_positives`, :func:`mine_pool`), cached by digest like the training patches, which the
next round draws a share of every batch from. Importance sampling weights the training patches by the
previous round's per-patch loss (:func:`patch_losses`, :func:`importance_weights`). Only training patients
are ever mined.

Names are imported lazily (PEP 562): the config schema reads :class:`MiningSpec` without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.lazy import lazy_getattr

_SOURCES = {
    "LossScorer": "losses", "importance_weights": "losses", "patch_losses": "losses",
    "MinedPool": "pool", "MiningSource": "pool", "mine_pool": "pool", "pool_key": "pool",
    "find_false_positives": "regions", "MiningSpec": "spec", "Restart": "spec",
}  # fmt: skip
__all__ = [
    "LossScorer",
    "MinedPool",
    "MiningSource",
    "MiningSpec",
    "Restart",
    "find_false_positives",
    "importance_weights",
    "mine_pool",
    "patch_losses",
    "pool_key",
]

if TYPE_CHECKING:
    from wsiseg.mining.losses import LossScorer, importance_weights, patch_losses
    from wsiseg.mining.pool import MinedPool, MiningSource, mine_pool, pool_key
    from wsiseg.mining.regions import find_false_positives
    from wsiseg.mining.spec import MiningSpec, Restart


__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
