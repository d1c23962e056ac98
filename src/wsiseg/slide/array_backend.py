"""An in-memory pyramid backend, for tests and for the synthetic slide generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsiseg.slide.backend import PyramidBackend, read_padded, to_rgb


class ArrayBackend(PyramidBackend):
    """A :class:`~wsiseg.slide.backend.SlideBackend` over a list of RGB arrays, finest first.

    It has no library metadata: ``properties`` hold only the mpp that was given (``array.mpp``).

    Args:
        levels: (H, W, 3) uint8 arrays, level 0 first; each coarser level is a downsampled copy.
        mpp: Micrometres per level-0 pixel, reported as the backend's own value (None: unknown).
    """

    _mpp_key = "array.mpp"

    def __init__(self, levels: Sequence[np.ndarray], mpp: float | None) -> None:
        if not levels:
            raise ValueError("ArrayBackend needs at least one level")
        self._levels = [to_rgb(np.asarray(level, dtype=np.uint8)) for level in levels]
        self._dimensions = tuple((level.shape[1], level.shape[0]) for level in self._levels)
        width, height = self._dimensions[0]
        self._downsamples = tuple(
            ((width / w) + (height / h)) / 2.0 for w, h in self._dimensions
        )  # same averaging as tiffslide / OpenSlide
        self._properties = {} if mpp is None else {"array.mpp": mpp}

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Copy a window of ``level`` (see :meth:`SlideBackend.read_region`); outside is white."""
        pixels = self._levels[level]

        def inside(_loc: tuple[int, int], start: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
            return pixels[start[1] : start[1] + size[1], start[0] : start[0] + size[0]]

        ds = self._downsamples[level]
        return read_padded(inside, location_xy, ds, self._dimensions[level], size_wh)

    def close(self) -> None:
        """Nothing to release."""
