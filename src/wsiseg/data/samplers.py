"""The training order of a round: importance-weighted draws and a fixed share of every batch from a mined pool.

:class:`RoundSampler` serves a ``ConcatDataset([patches, pool])``: indices below ``n_main`` are the cache's
training patches (oversampling repeats included), the others the pool of mined hard negatives. Each batch
holds ``round(share * batch_size)`` pool patches and the rest from the patches; the patches are a
permutation, or, with ``weights``, ``torch.utils.data.WeightedRandomSampler`` draws with replacement
(importance sampling). Everything is a function of ``seed`` and the epoch (Lightning calls ``set_epoch``),
so a resumed run repeats the order. Under DDP every rank takes whole batches, ``rank`` of every
``num_replicas``: each rank's batches keep the share, and together they cover the epoch once. It is a
``DistributedSampler``, so Lightning passes it through unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DistributedSampler, WeightedRandomSampler


class RoundSampler(DistributedSampler):
    """Indices of an epoch of a training round (see the module's description).

    Args:
        dataset: the concatenated dataset (``len == n_main + n_pool``).
        n_main: how many leading indices are the cache's training patches.
        batch_size: the loader's batch size (per process).
        share: share of every batch taken from the pool (0 without a pool).
        weights: ``n_main`` non-negative sampling weights of the patches, or ``None`` for a permutation.
        num_replicas: processes (DDP world size).
        rank: this process.
        seed: the run's sampling seed.
    """

    def __init__(
        self, dataset: Sequence, n_main: int, batch_size: int, share: float = 0.0,
        weights: np.ndarray | None = None, num_replicas: int = 1, rank: int = 0, seed: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.n_main, self.n_pool, self.batch_size = n_main, len(dataset) - n_main, batch_size
        if not 0 <= share < 1:
            raise ValueError(f"the pool's share of a batch must be in [0, 1), got {share}")
        self.k_pool = max(1, round(share * batch_size)) if self.n_pool > 0 and share > 0 else 0
        if self.k_pool >= batch_size:
            raise ValueError(f"share {share} leaves no room for training patches in batches of {batch_size}")
        if weights is not None:
            weights = np.asarray(weights, np.float64)
            if (
                weights.shape != (n_main,)
                or not np.isfinite(weights).all()
                or (weights < 0).any()
                or weights.sum() <= 0
            ):
                raise ValueError(f"weights must be {n_main} finite non-negative numbers, not all 0")
        self.weights = weights
        per_batch = batch_size - self.k_pool
        self.batches = (n_main // per_batch) // num_replicas * num_replicas  # whole batches, equal per rank
        self.num_samples = self.batches // num_replicas * batch_size
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is None:
            main = torch.randperm(self.n_main, generator=g)
        else:
            draws = WeightedRandomSampler(torch.as_tensor(self.weights), self.n_main, replacement=True, generator=g)
            main = torch.tensor(list(draws), dtype=torch.int64)
        per_batch = self.batch_size - self.k_pool
        needed = self.batches * self.k_pool
        if needed:
            cycles = math.ceil(needed / self.n_pool)
            pool = torch.cat([torch.randperm(self.n_pool, generator=g) for _ in range(cycles)])[:needed] + self.n_main
        mine = []
        for b in range(self.rank, self.batches, self.num_replicas):
            batch = main[b * per_batch : (b + 1) * per_batch]
            if self.k_pool:
                extra = pool[b * self.k_pool : (b + 1) * self.k_pool]
                batch = torch.cat([batch, extra])[torch.randperm(self.batch_size, generator=_batch_gen(g, b))]
            mine.append(batch)
        return iter(torch.cat(mine).tolist() if mine else [])

    def __len__(self) -> int:
        return self.num_samples


def _batch_gen(g: torch.Generator, b: int) -> torch.Generator:
    """A generator for the order within batch ``b``, the same on every rank (drawn from the epoch's seed)."""
    return torch.Generator().manual_seed(int(g.initial_seed()) * 1_000_003 + b)
