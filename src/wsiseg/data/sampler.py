"""A training shuffle that is a pure function of (seed, epoch), so a resumed run sees the same patch order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """Shuffle ``size`` indices anew every epoch, from ``seed`` and the epoch number only.

    Lightning calls :meth:`set_epoch` at the start of every training epoch. Unlike a ``RandomSampler`` on the
    global RNG, the order of epoch *e* does not depend on what ran before, so a run resumed from a checkpoint
    (``ckpt_path=last``) draws exactly the batches of an uninterrupted run. (Under DDP, Lightning's
    ``DistributedSampler`` is seeded the same way, by seed and epoch.)

    Args:
        size: number of samples.
        seed: the shuffle seed.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.seed, self.epoch = int(size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(np.random.default_rng((self.seed, self.epoch)).permutation(self.size).tolist())

    def __len__(self) -> int:
        return self.size
