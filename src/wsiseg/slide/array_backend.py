"""An in-memory pyramid backend, for tests and for the synthetic slide generator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsiseg.slide.backend import read_padded, to_rgb


class ArrayBackend:
    """A :class:`~wsiseg.slide.backend.SlideBackend` over a list of RGB arrays, finest first.

    Args:
        levels: (H, W, 3) uint8 arrays, level 0 first; each coarser level is a downsampled copy.
        mpp: Micrometres per level-0 pixel, reported as the backend's own value (None: unknown).
    """

    def __init__(self, levels: Sequence[np.ndarray], mpp: float | None) -> None:
        if not levels:
            raise ValueError("ArrayBackend needs at least one level")
        self._levels = [to_rgb(np.asarray(level, dtype=np.uint8)) for level in levels]
        self._mpp = mpp
        width, height = self.dimensions
        self._downsamples = tuple(
            ((width / w) + (height / h)) / 2.0 for w, h in self.level_dimensions
        )  # same averaging as tiffslide / OpenSlide

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of levels."""
        return len(self._levels)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        return tuple((level.shape[1], level.shape[0]) for level in self._levels)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample of every level relative to level 0."""
        return self._downsamples

    @property
    def properties(self) -> Mapping[str, Any]:
        """No library metadata; only the mpp that was given."""
        return {} if self._mpp is None else {"array.mpp": self._mpp}

    @property
    def mpp(self) -> float | None:
        """The mpp given to the constructor."""
        return self._mpp

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Copy a window of ``level`` (see :meth:`SlideBackend.read_region`); outside is white."""
        pixels = self._levels[level]

        def inside(_loc: tuple[int, int], start: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
            return pixels[start[1] : start[1] + size[1], start[0] : start[0] + size[0]]

        ds = self._downsamples[level]
        return read_padded(inside, location_xy, ds, self.level_dimensions[level], size_wh)

    def close(self) -> None:
        """Nothing to release."""
