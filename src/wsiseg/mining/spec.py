"""The settings of the training rounds after the first (``conf/mining``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Restart = Literal["finetune", "afresh"]
"""How a later round starts: from the previous round's last weights, or from a new initialisation."""


@dataclass(frozen=True)
class MiningSpec:
    """Training rounds, hard-negative mining and importance sampling.

    Attributes:
        rounds: rounds after the first (0: plain training). Each starts after the previous one ends.
        hard_negatives: mine false positives into the pool before each later round.
        threshold: tumour probability above which a heatmap region outside tumour is a false positive.
        per_slide: at most this many regions per slide (the most probable first), one patch centred on each.
        share: share of every batch drawn from the pool (the rest: the training patches).
        restart: ``finetune`` (from the previous round's last checkpoint) or ``afresh`` (new initialisation).
        epochs: epochs of each later round (``None``: ``trainer.max_epochs``).
        lr: learning rate of the later rounds (``None``: ``model.optimizer.lr``), e.g. the rate round 0 ended at;
            the model's scheduler starts again from it.
        importance: weight the training patches by the previous round's per-patch loss.
        importance_floor: share of a uniform weight mixed into the importance weights (no patch drops out).
        heatmap_mpp: resolution of the mining heatmaps (um/px).
        workers: DataLoader workers reading tiles for the mining prediction.
        start: a ``train.py`` checkpoint of this very config (same data, split and recipe) to take as round 0
            instead of training it (e.g. the baseline of an experiment table); ``None``: train round 0.
    """

    rounds: int = 0
    hard_negatives: bool = True
    threshold: float = 0.5
    per_slide: int = 8
    share: float = 0.25
    restart: Restart = "finetune"
    epochs: int | None = None
    lr: float | None = None
    importance: bool = False
    importance_floor: float = 0.1
    heatmap_mpp: float = 4.0
    workers: int = 1
    start: str | None = None

    def __post_init__(self) -> None:
        """Check the numbers and the restart choice."""
        restart = str(getattr(self.restart, "value", self.restart))
        if restart not in ("finetune", "afresh"):
            raise ValueError(f"mining.restart must be 'finetune' or 'afresh', got {restart!r}")
        object.__setattr__(self, "restart", restart)
        if self.rounds < 0 or self.per_slide < 0 or (self.epochs is not None and self.epochs < 1):
            raise ValueError("mining.rounds and per_slide must be >= 0, epochs >= 1 (or null)")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"mining.lr must be positive (or null), got {self.lr}")
        if not 0 < self.threshold < 1 or not 0 <= self.share < 1 or not 0 <= self.importance_floor <= 1:
            raise ValueError("mining.threshold is in (0, 1), share in [0, 1), importance_floor in [0, 1]")

    @property
    def active(self) -> bool:
        """Whether a later round has anything to do differently from the first."""
        return self.rounds > 0
