"""Fixtures of the tissue tests."""

from __future__ import annotations

import pytest

from .tissue_synth import Synthetic, make_synthetic


@pytest.fixture(scope="session")
def synthetic() -> Synthetic:
    return make_synthetic(8.0)
