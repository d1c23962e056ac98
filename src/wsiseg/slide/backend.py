"""The reader protocol every slide library is wrapped behind, and the white-padding helper they share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from wsiseg.slide.geometry import clip_window, level_origin

BACKGROUND = 255
"""Value of every channel outside the slide (white glass)."""


@runtime_checkable
class SlideBackend(Protocol):
    """A pyramid image reader (tiffslide, OpenSlide, an in-memory array, ...).

    Backends report what their library reports, nothing more: resolving the pixel spacing from other
    sources is the job of :mod:`wsiseg.slide.mpp`.
    """

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 size as (width, height)."""
        ...

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        ...

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        ...

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample factor of every level relative to level 0 (level 0 is 1.0)."""
        ...

    @property
    def properties(self) -> Mapping[str, Any]:
        """The library's metadata key/value pairs."""
        ...

    @property
    def mpp(self) -> float | None:
        """Micrometres per level-0 pixel as the library reports it, or None."""
        ...

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read ``size_wh`` pixels of ``level`` starting at level-0 position ``location_xy``.

        The window's top-left level pixel is ``floor(location / level_downsample)`` per axis. Parts outside
        the slide are white; this never raises for out-of-bounds requests.

        Returns:
            An (h, w, 3) uint8 RGB array.
        """
        ...

    def close(self) -> None:
        """Release the file handle."""
        ...


class PyramidBackend:
    """The :class:`SlideBackend` properties every backend shares, computed from the layout it read at open.

    A backend sets three attributes in its constructor and names one property key; this class derives
    the rest (only ``read_region`` and ``close`` are the backend's own).

    Attributes:
        _dimensions: (width, height) of every level, finest first.
        _downsamples: Downsample of every level relative to level 0.
        _properties: The library's metadata key/value pairs.
        _mpp_key: The key of ``_properties`` holding micrometres per level-0 pixel (absent: the library
            reports none).
    """

    _dimensions: tuple[tuple[int, int], ...]
    _downsamples: tuple[float, ...]
    _properties: Mapping[str, Any]
    _mpp_key: str

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return self._dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of levels."""
        return len(self._dimensions)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        return self._dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample of every level relative to level 0."""
        return self._downsamples

    @property
    def properties(self) -> Mapping[str, Any]:
        """The library's metadata, as read at open."""
        return self._properties

    @property
    def mpp(self) -> float | None:
        """``properties[_mpp_key]`` as a float, or None when the library reports none."""
        value = self._properties.get(self._mpp_key)
        return None if value is None else float(value)


def read_padded(
    read_inside: Callable[[tuple[int, int], tuple[int, int], tuple[int, int]], np.ndarray],
    location_xy: tuple[int, int],
    downsample: float,
    level_wh: tuple[int, int],
    size_wh: tuple[int, int],
) -> np.ndarray:
    """Read a window that may stick out of the level, filling the outside with white.

    Written here, not left to the libraries: tiffslide's ``padding=True`` fills with 0 and OpenSlide with
    transparent black, which tissue detection and the network would take for dark tissue; the outside of
    a slide is glass, and every backend must read it the same way.

    Args:
        read_inside: ``read_inside(location_xy, level_origin_xy, size_wh)`` reads a window that lies inside
            the level; it gets both a level-0 location mapping to the window start and the start itself.
        location_xy: Requested level-0 location (x, y).
        downsample: The level's downsample factor.
        level_wh: The level's (width, height).
        size_wh: Requested (width, height) in level pixels.

    Returns:
        An (h, w, 3) uint8 RGB array of exactly ``size_wh``.
    """
    width, height = size_wh
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)  # (H, W, 3)
    origin = level_origin(location_xy, downsample)
    boxes = clip_window(origin, size_wh, level_wh)
    if boxes is None:
        return canvas
    (sx0, sy0, sx1, sy1), (dx, dy) = boxes
    # A location mapping to the clipped start: the request itself, or 0 where it starts left/above the level.
    inside_location = (location_xy[0] if sx0 == origin[0] else 0, location_xy[1] if sy0 == origin[1] else 0)
    pixels = to_rgb(read_inside(inside_location, (sx0, sy0), (sx1 - sx0, sy1 - sy0)))
    canvas[dy : dy + pixels.shape[0], dx : dx + pixels.shape[1]] = pixels
    return canvas


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Turn an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 array into (H, W, 3) RGB (alpha dropped)."""
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if pixels.shape[2] == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3], dtype=np.uint8)
