"""``Slide``: a slide file read at exact physical resolutions (micrometres per pixel)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from wsiseg.errors import SlideError
from wsiseg.slide.array_backend import ArrayBackend
from wsiseg.slide.backend import SlideBackend
from wsiseg.slide.geometry import group_tiles, level0_location, level_for_mpp, read_window
from wsiseg.slide.mpp import MppSource, resolve_mpp


class Slide:
    """A whole-slide image with a resolved pixel spacing, read at any resolution in um/px.

    Reads are resampled to exactly the requested mpp: the coarsest pyramid level at or finer than the
    target is read and shrunk with ``INTER_AREA`` (or enlarged with ``INTER_LINEAR``). Output pixel ``j``
    covers level-0 ``[origin + j * s, origin + (j + 1) * s)`` with ``s = mpp / slide.mpp``; the resampled
    window is cropped at the nearest output pixel, so positions err by at most half an output pixel.

    Args:
        backend: The opened reader.
        path: The file (used in messages and to read TIFF tags for the mpp).
        mpp: Micrometres per level-0 pixel given by hand; wins over the file's metadata.

    Raises:
        SlideError: No usable pixel spacing.
    """

    def __init__(self, backend: SlideBackend, path: str | Path, mpp: float | None = None) -> None:
        self._backend = backend
        self._path = Path(path)
        self._mpp, self._mpp_source = resolve_mpp(self._path, backend.mpp, mpp)

    @classmethod
    def from_arrays(cls, levels: Sequence[np.ndarray], mpp: float | None, path: str | Path = "<memory>") -> Slide:
        """A slide over in-memory (H, W, 3) uint8 levels, finest first, at ``mpp`` um/px on level 0."""
        return cls(ArrayBackend(levels, mpp), path)

    @property
    def path(self) -> Path:
        """The slide's file."""
        return self._path

    @property
    def mpp(self) -> float:
        """Micrometres per level-0 pixel."""
        return self._mpp

    @property
    def mpp_source(self) -> MppSource:
        """Where :attr:`mpp` came from: backend, tiff-tags, philips-description or argument."""
        return self._mpp_source

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return tuple(self._backend.dimensions)

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return self._backend.level_count

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        return tuple(self._backend.level_dimensions)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample of every level relative to level 0."""
        return tuple(self._backend.level_downsamples)

    @property
    def properties(self) -> Mapping[str, Any]:
        """The backend library's metadata."""
        return self._backend.properties

    def level_mpp(self, level: int) -> float:
        """Micrometres per pixel of ``level``."""
        return self._mpp * self.level_downsamples[level]

    def best_level(self, mpp: float) -> int:
        """The level a read at ``mpp`` um/px uses (see :func:`~wsiseg.slide.geometry.level_for_mpp`)."""
        return level_for_mpp([self.level_mpp(level) for level in range(self.level_count)], mpp)

    def read_region(self, origin_xy: Sequence[float], size_wh: Sequence[int], mpp: float) -> np.ndarray:
        """Read a region at exactly ``mpp`` um/px.

        Args:
            origin_xy: Top-left (x, y) in level-0 pixels.
            size_wh: Output (width, height) in pixels; covers ``size * mpp / slide.mpp`` level-0 pixels.
            mpp: Output resolution in micrometres per pixel.

        Returns:
            (h, w, 3) uint8 RGB; white where the region leaves the slide.
        """
        size_wh = _check_request(size_wh, mpp)
        pixels, offset_xy = self._resampled(origin_xy, size_wh, mpp)
        return _crop(pixels, (_round(offset_xy[0]), _round(offset_xy[1])), size_wh)

    def thumbnail(self, mpp: float) -> np.ndarray:
        """The whole slide at ``mpp`` um/px, shape ``(round(h * slide.mpp / mpp), round(w * ...), 3)``."""
        _check_request((1, 1), mpp)
        width, height = self.dimensions
        out_wh = (max(1, round(width * self._mpp / mpp)), max(1, round(height * self._mpp / mpp)))
        level = self.best_level(mpp)
        pixels = self._read_level((0, 0), level, self.level_dimensions[level])
        shrink = out_wh[0] < pixels.shape[1]
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cv2.resize(pixels, out_wh, interpolation=interpolation)

    def read_tiles(
        self, origins_xy: np.ndarray, tile_wh: Sequence[int], mpp: float, block_tiles: int = 4
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Read many tiles at ``mpp`` um/px, one read per block of up to ``block_tiles`` x ``block_tiles``.

        Each tile equals ``read_region(origins_xy[i], tile_wh, mpp)`` up to resampling phase (identical
        when ``mpp`` is the slide's own); blocks are read in row-major order.

        Args:
            origins_xy: (N, 2) tile top-lefts (x, y) in level-0 pixels, any order or spacing.
            tile_wh: Output tile (width, height) in pixels.
            mpp: Output resolution in micrometres per pixel.
            block_tiles: Tiles per block side.

        Yields:
            ``(index into origins_xy, (h, w, 3) uint8 tile)`` for every tile, each exactly once.
        """
        tile_wh = _check_request(tile_wh, mpp)
        origins = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)  # (N, 2)
        step = mpp / self._mpp  # level-0 px per output px
        footprint = (tile_wh[0] * step, tile_wh[1] * step)
        block_wh = (footprint[0] * block_tiles, footprint[1] * block_tiles)
        for block_xy, block_size, indices in group_tiles(origins, footprint, block_wh):
            out_wh = (math.ceil(block_size[0] / step - 1e-9), math.ceil(block_size[1] / step - 1e-9))
            pixels, offset_xy = self._resampled(block_xy, out_wh, mpp)
            for index in indices:
                x = _round(offset_xy[0] + (origins[index, 0] - block_xy[0]) / step)
                y = _round(offset_xy[1] + (origins[index, 1] - block_xy[1]) / step)
                yield int(index), _crop(pixels, (x, y), tile_wh)

    def close(self) -> None:
        """Release the backend."""
        self._backend.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        width, height = self.dimensions
        return (
            f"Slide(path={str(self._path)!r}, dimensions=({width}, {height}), levels={self.level_count}, "
            f"mpp={self._mpp:g} [{self._mpp_source}])"
        )

    def _resampled(
        self, origin_xy: Sequence[float], size_wh: tuple[int, int], mpp: float
    ) -> tuple[np.ndarray, tuple[float, float]]:
        """The resampled level window covering a request, and the request's origin in it (output px)."""
        level = self.best_level(mpp)
        window = read_window(origin_xy, size_wh, mpp, self.level_mpp(level), self.level_downsamples[level])
        pixels = self._read_level(window.level_origin_xy, level, window.level_size_wh)
        if window.scale != 1.0:
            interpolation = cv2.INTER_AREA if window.scale < 1.0 else cv2.INTER_LINEAR
            pixels = cv2.resize(pixels, (0, 0), fx=window.scale, fy=window.scale, interpolation=interpolation)
        return pixels, window.offset_xy

    def _read_level(self, level_origin_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read a window of level pixels through the backend, wrapping library errors in SlideError."""
        location = level0_location(level_origin_xy, self.level_downsamples[level])
        try:
            return self._backend.read_region(location, level, size_wh)
        except SlideError:
            raise
        except Exception as err:
            raise SlideError(
                self._path,
                f"cannot read {size_wh} pixels at level {level}, {location} ({type(err).__name__}: {err})",
            ) from err


def _check_request(size_wh: Sequence[int], mpp: float) -> tuple[int, int]:
    width, height = (int(v) for v in size_wh)
    if width <= 0 or height <= 0 or not mpp > 0:
        raise ValueError(f"size_wh must be positive and mpp > 0, got size_wh={tuple(size_wh)}, mpp={mpp}")
    return width, height


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _crop(pixels: np.ndarray, start_xy: tuple[int, int], size_wh: tuple[int, int]) -> np.ndarray:
    """Cut ``size_wh`` at ``start_xy``, edge-padding the (rare, rounding-induced) missing last pixel."""
    x, y = max(start_xy[0], 0), max(start_xy[1], 0)
    out = pixels[y : y + size_wh[1], x : x + size_wh[0]]  # (h, w, 3)
    pad_h, pad_w = size_wh[1] - out.shape[0], size_wh[0] - out.shape[1]
    if pad_h or pad_w:
        out = np.pad(out, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(out)
