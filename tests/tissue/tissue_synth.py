"""Synthetic H&E-like thumbnails with known tissue, ink, border and hole masks, and an array-backed slide."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE_UM = (4800.0, 3200.0)  # (width, height) of the synthetic slide in micrometres
EOSIN = (220, 140, 190)
HEMATOXYLIN = (120, 80, 160)
GREEN_INK = (40, 140, 70)
BLUE_INK = (40, 70, 180)
BACKGROUND = 240


@dataclass(frozen=True)
class Synthetic:
    """A synthetic thumbnail and the masks it was drawn from."""

    rgb: np.ndarray
    mpp: float
    tissue: np.ndarray
    big_hole: np.ndarray
    small_hole: np.ndarray
    specks: np.ndarray
    green_pen: np.ndarray
    blue_pen: np.ndarray
    black: np.ndarray


def _px(value_um: float, mpp: float) -> int:
    return round(value_um / mpp)


def _disc(shape_hw: tuple[int, int], centre_um, radius_um, mpp, axes_um=None) -> np.ndarray:
    mask = np.zeros(shape_hw, dtype=np.uint8)
    centre = (_px(centre_um[0], mpp), _px(centre_um[1], mpp))
    axes = (_px(axes_um[0], mpp), _px(axes_um[1], mpp)) if axes_um else (_px(radius_um, mpp),) * 2
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def _stroke(shape_hw, start_um, end_um, width_um, mpp) -> np.ndarray:
    mask = np.zeros(shape_hw, dtype=np.uint8)
    start = (_px(start_um[0], mpp), _px(start_um[1], mpp))
    end = (_px(end_um[0], mpp), _px(end_um[1], mpp))
    cv2.line(mask, start, end, 1, max(1, _px(width_um, mpp)))
    return mask.astype(bool)


def _paint(rgb: np.ndarray, mask: np.ndarray, colour, rng: np.random.Generator, noise: float) -> None:
    values = np.asarray(colour, dtype=np.float64) + rng.normal(0, noise, (int(mask.sum()), 3))
    rgb[mask] = values


def make_synthetic(mpp: float = 8.0, seed: int = 0) -> Synthetic:
    """Build the H&E-like test thumbnail at ``mpp``: three tissue blobs, holes, specks, ink, black borders."""
    rng = np.random.default_rng(seed)
    shape = (_px(SIZE_UM[1], mpp), _px(SIZE_UM[0], mpp))
    blobs = (
        _disc(shape, (1400, 1450), 0, mpp, axes_um=(900, 720))
        | _disc(shape, (3450, 2000), 0, mpp, axes_um=(800, 560))
        | _disc(shape, (3800, 700), 260, mpp)
    )
    big_hole = _disc(shape, (1400, 1450), 480, mpp)  # 0.72 mm^2 > max hole: stays out
    small_hole = _disc(shape, (3450, 2000), 64, mpp)  # 0.013 mm^2: filled
    specks = np.zeros(shape, dtype=bool)
    for centre in ((2600, 600), (250, 300), (2500, 2900), (4500, 2900)):
        specks |= _disc(shape, centre, 40, mpp)  # 0.005 mm^2 each: dropped
    green = _stroke(shape, (2000, 250), (3200, 330), 90, mpp)
    blue = _stroke(shape, (400, 2950), (2000, 2780), 90, mpp)
    black = np.zeros(shape, dtype=bool)
    black[:, : _px(100, mpp)] = True
    black[-_px(80, mpp) :, :] = True
    rgb = BACKGROUND + rng.normal(0, 3, (*shape, 3))
    _paint(rgb, blobs & ~big_hole & ~small_hole, EOSIN, rng, 12)
    purple = blobs & ~big_hole & ~small_hole & (rng.random(shape) < 0.35)
    purple |= _disc(shape, (3800, 700), 260, mpp)  # the small blob is hematoxylin-dense
    _paint(rgb, purple, HEMATOXYLIN, rng, 12)
    _paint(rgb, specks, EOSIN, rng, 5)
    _paint(rgb, green, GREEN_INK, rng, 5)
    _paint(rgb, blue, BLUE_INK, rng, 5)
    _paint(rgb, black, (8, 8, 8), rng, 4)
    rgb = cv2.GaussianBlur(np.clip(rgb, 0, 255).astype(np.uint8), (0, 0), 0.8)
    tissue = blobs & ~big_hole
    return Synthetic(rgb, mpp, tissue, big_hole, small_hole, specks, green, blue, black)


class FakeSlide:
    """An array-backed slide: a level-0 size and mpp, and a thumbnail resampled from a fixed image."""

    def __init__(self, image_rgb: np.ndarray, image_mpp: float, path: str | Path, mpp: float = 0.25) -> None:
        self.image_rgb = image_rgb
        self.image_mpp = image_mpp
        self.path = Path(path)
        self.mpp = mpp
        height, width = image_rgb.shape[:2]
        self.dimensions = (round(width * image_mpp / mpp), round(height * image_mpp / mpp))

    def thumbnail(self, mpp: float) -> np.ndarray:
        width, height = self.dimensions
        size_wh = (round(width * self.mpp / mpp), round(height * self.mpp / mpp))
        return cv2.resize(self.image_rgb, size_wh, interpolation=cv2.INTER_AREA)
