from __future__ import annotations

import pytest
from torch.utils.data import DataLoader

from .synthetic import DiscDataset


@pytest.fixture
def disc_loaders() -> tuple[DataLoader, DataLoader]:
    train = DataLoader(DiscDataset(32, seed=0), batch_size=8, shuffle=True)
    val = DataLoader(DiscDataset(16, seed=1), batch_size=8)
    return train, val
