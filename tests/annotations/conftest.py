"""Fixtures of the annotation tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from .asap_files import Spec, asap_xml


@pytest.fixture
def write_xml(tmp_path: Path) -> Callable[..., Path]:
    """Returns write(specs, orders=None, name="a.xml") -> path of the written ASAP XML file."""

    def write(specs: Sequence[Spec], orders: Sequence[Sequence[int]] | None = None, name: str = "a.xml") -> Path:
        path = tmp_path / name
        path.write_text(asap_xml(specs, orders), encoding="utf-8")
        return path

    return write
