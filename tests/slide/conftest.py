"""Test slides written with tifffile the way ASAP's converter lays out the CAMELYON files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

PHILIPS_XML = (
    '<?xml version="1.0" encoding="UTF-8" ?><DataObject ObjectType="DPUfsImport">'
    '<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">'
    "&quot;{mm}&quot; &quot;{mm}&quot;</Attribute></DataObject>"
)


def _philips_xml(mpp: float) -> str:
    """Philips-style ImageDescription holding ``mpp`` as DICOM_PIXEL_SPACING in millimetres."""
    return PHILIPS_XML.format(mm=f"{mpp / 1000.0:.6f}")


def _write_pyramid(
    path: Path,
    image: np.ndarray,
    mpp: float | None = 0.243,
    levels: int = 3,
    compression: str | None = "jpeg",
    unit: str = "CENTIMETER",
    description: str | None = None,
) -> Path:
    """Write a tiled BigTIFF pyramid: level 0 then halved levels as ``subfiletype=1`` pages.

    Args:
        path: Output file.
        image: Level-0 (H, W, 3) uint8 RGB.
        mpp: Level-0 micrometres per pixel stored in the resolution tags; None writes no tags.
        levels: Number of pyramid levels.
        compression: "jpeg", "zlib" or None (lossless for exact pixel comparisons).
        unit: "CENTIMETER" or "INCH".
        description: ImageDescription of the first page.
    """
    per_unit = {"CENTIMETER": 1e4, "INCH": 25400.0}[unit]
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        level = image
        for i in range(levels):
            first = i == 0 and mpp is not None
            tw.write(
                level,
                tile=(256, 256),
                compression=compression,
                photometric="rgb",
                subfiletype=0 if i == 0 else 1,
                resolution=(per_unit / mpp, per_unit / mpp) if first else None,
                resolutionunit=unit if first else None,
                metadata=None,
                description=description if i == 0 else None,
            )
            level = cv2.resize(level, (level.shape[1] // 2, level.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return path


def _random_image(shape_hw: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Uniform random RGB noise, (H, W, 3) uint8."""
    return np.random.default_rng(seed).integers(0, 256, (*shape_hw, 3), dtype=np.uint8)


@pytest.fixture
def jpeg_slide(tmp_path: Path) -> Path:
    """A 1024 x 768 JPEG pyramid at 0.243 um/px in centimetre resolution tags."""
    return _write_pyramid(tmp_path / "jpeg.tif", _random_image((768, 1024)))


@pytest.fixture
def noise_slide(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A lossless (zlib) 700 x 600 noise pyramid at 0.25 um/px, with its level-0 pixels."""
    image = _random_image((600, 700), seed=1)
    return _write_pyramid(tmp_path / "noise.tif", image, mpp=0.25, compression="zlib"), image


@pytest.fixture(scope="session")
def write_pyramid() -> Callable[..., Path]:
    """The pyramid writer (tests import nothing from conftest)."""
    return _write_pyramid


@pytest.fixture(scope="session")
def philips_xml() -> Callable[[float], str]:
    """Builds a Philips-style ImageDescription for a given mpp."""
    return _philips_xml


@pytest.fixture(scope="session")
def random_image() -> Callable[..., np.ndarray]:
    """Builds uniform RGB noise of a given (H, W)."""
    return _random_image
