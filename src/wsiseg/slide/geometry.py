"""Pure geometry of pyramid reads: level choice, read windows, tile grids and block grouping.

Everything here takes numbers and arrays and returns numbers and arrays (numpy only, no I/O). Slide
coordinates are (x, y) in level-0 pixels; sizes are (width, height).

Pixel convention: pixel ``k`` of a level with downsample ``d`` covers level-0 ``[k * d, (k + 1) * d)``;
output pixel ``j`` of a read at ``s = mpp / slide_mpp`` level-0 px per output px covers
``[origin + j * s, origin + (j + 1) * s)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

_EPS = 1e-9


class ReadWindow(NamedTuple):
    """The integer window at one level that covers a requested output region.

    Attributes:
        level_origin_xy: Top-left level pixel of the window (may be negative: outside reads white).
        level_size_wh: Window size in level pixels.
        scale: Output pixels per level pixel (``level_mpp / target_mpp``); 1.0 means no resampling.
        offset_xy: Where the requested origin falls in the window once resampled by ``scale``, in output
            pixels (a float; cropping at its rounded value errs by at most half an output pixel).
    """

    level_origin_xy: tuple[int, int]
    level_size_wh: tuple[int, int]
    scale: float
    offset_xy: tuple[float, float]


def level_for_mpp(level_mpps: Sequence[float], target_mpp: float, tol: float = 1e-3) -> int:
    """Pick the coarsest level at or finer than the target resolution.

    Args:
        level_mpps: Micrometres per pixel of every level.
        target_mpp: Wanted resolution in micrometres per pixel.
        tol: Relative tolerance, so a level at 0.5001 um/px serves a 0.5 um/px request.

    Returns:
        Index of the level with the largest mpp that is ``<= target_mpp * (1 + tol)``; 0 if none is.
    """
    limit = target_mpp * (1.0 + tol)
    candidates = [level for level, level_mpp in enumerate(level_mpps) if level_mpp <= limit]
    return max(candidates, key=lambda level: level_mpps[level]) if candidates else 0


def read_window(
    origin_xy: Sequence[float],
    size_wh: Sequence[int],
    target_mpp: float,
    level_mpp: float,
    level_downsample: float,
) -> ReadWindow:
    """Describe the level window that covers ``size_wh`` output pixels at ``target_mpp`` from ``origin_xy``.

    When enlarging, the window gets one level pixel of margin on each side, so that linear interpolation at
    the borders sees real neighbours. When shrinking (area averaging) it starts at the request's first level
    pixel, so a request at a whole level pixel is binned exactly (output pixel ``j`` averages level pixels
    ``[start + j * r, start + (j + 1) * r)``, ``r`` = level px per output px); starts within 1e-6 of a whole
    level pixel are snapped to it, so float noise in a caller's origin cannot shift the phase.

    Args:
        origin_xy: Top-left of the request in level-0 pixels (x, y).
        size_wh: Output size (width, height) in pixels at ``target_mpp``.
        target_mpp: Output resolution in micrometres per pixel.
        level_mpp: Resolution of the level read.
        level_downsample: Downsample of the level read relative to level 0.

    Returns:
        The :class:`ReadWindow`.
    """
    per_out = target_mpp / level_mpp  # level px per output px
    scale = 1.0 if abs(per_out - 1.0) < _EPS else 1.0 / per_out
    margin = 1 if scale > 1.0 else 0
    origin, size, offset = [], [], []
    for start0, length in zip(origin_xy, size_wh, strict=True):
        start = start0 / level_downsample  # level px, float
        if abs(start - round(start)) < 1e-6:
            start = float(round(start))
        first = math.floor(start + _EPS) - margin
        last = math.ceil(start + length * per_out - _EPS) + margin
        origin.append(first)
        size.append(last - first)
        offset.append((start - first) * scale)
    return ReadWindow((origin[0], origin[1]), (size[0], size[1]), scale, (offset[0], offset[1]))


def level_origin(location_xy: Sequence[int], downsample: float) -> tuple[int, int]:
    """Top-left level pixel of a read at level-0 ``location_xy``: ``floor(location / downsample)``."""
    return (math.floor(location_xy[0] / downsample), math.floor(location_xy[1] / downsample))


def level0_location(level_xy: Sequence[int], downsample: float) -> tuple[int, int]:
    """Smallest integer level-0 location whose :func:`level_origin` is ``level_xy`` (float-exact)."""
    out = []
    for value in level_xy:
        loc = math.ceil(value * downsample)
        while math.floor(loc / downsample) > value:
            loc -= 1
        while math.floor(loc / downsample) < value:
            loc += 1
        while math.floor((loc - 1) / downsample) == value:
            loc -= 1
        out.append(loc)
    return (out[0], out[1])


def clip_window(
    origin_xy: Sequence[int], size_wh: Sequence[int], bounds_wh: Sequence[int]
) -> tuple[tuple[int, int, int, int], tuple[int, int]] | None:
    """Intersect a window with ``[0, bounds)``.

    Args:
        origin_xy: Window top-left (x, y), possibly negative.
        size_wh: Window size (width, height).
        bounds_wh: Size of the image (width, height).

    Returns:
        ``((x0, y0, x1, y1), (dx, dy))``: the inside box in image coordinates and where it lands in the
        window; None when the window lies entirely outside.
    """
    x0, y0 = max(origin_xy[0], 0), max(origin_xy[1], 0)
    x1 = min(origin_xy[0] + size_wh[0], bounds_wh[0])
    y1 = min(origin_xy[1] + size_wh[1], bounds_wh[1])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1), (x0 - origin_xy[0], y0 - origin_xy[1])


def tile_grid(
    size_wh: Sequence[int],
    tile_wh: Sequence[int],
    stride_wh: Sequence[int],
    origin_xy: Sequence[int] = (0, 0),
) -> np.ndarray:
    """Origins of a regular grid of tiles covering a region (all arguments in the same pixel units).

    Tiles start at ``origin + k * stride`` for as many ``k`` as needed to cover ``size``; the last tile of
    a row or column may stick out of the region (at least one tile per axis).

    Returns:
        (N, 2) int64 array of (x, y) origins, row-major (y outer, x inner).
    """
    axes = []
    for size, tile, stride, start in zip(size_wh, tile_wh, stride_wh, origin_xy, strict=True):
        if tile <= 0 or stride <= 0:
            raise ValueError(f"tile and stride must be positive, got tile={tile}, stride={stride}")
        count = math.ceil(max(size - tile, 0) / stride) + 1
        axes.append(start + stride * np.arange(count, dtype=np.int64))
    ys, xs = np.meshgrid(axes[1], axes[0], indexing="ij")  # (ny, nx) each
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def group_tiles(
    origins_xy: np.ndarray, tile_wh: Sequence[float], block_wh: Sequence[float]
) -> list[tuple[tuple[float, float], tuple[float, float], np.ndarray]]:
    """Group tile origins into blocks that can be read at once.

    Units are the caller's (``Slide.read_tiles`` uses level-0 pixels). Tiles fall into cells of a grid of
    ``block_wh`` anchored at the smallest origin; a block is the bounding box of its tiles.

    Args:
        origins_xy: (N, 2) tile origins (x, y).
        tile_wh: Tile footprint (width, height).
        block_wh: Cell size (width, height); ``k * tile_wh`` gathers k x k tiles of a dense grid.

    Returns:
        ``(block_origin_xy, block_size_wh, indices)`` per block, blocks in row-major cell order, indices
        into ``origins_xy`` in increasing order.
    """
    origins = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)  # (N, 2)
    if len(origins) == 0:
        return []
    cells = np.floor((origins - origins.min(axis=0)) / np.asarray(block_wh, dtype=np.float64))
    keys = cells[:, 1] * (cells[:, 0].max() + 1) + cells[:, 0]
    order = np.argsort(keys, kind="stable")  # stable: indices stay increasing within a block
    blocks = []
    for indices in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
        low = origins[indices].min(axis=0)
        size = origins[indices].max(axis=0) + np.asarray(tile_wh, dtype=np.float64) - low
        blocks.append(((float(low[0]), float(low[1])), (float(size[0]), float(size[1])), indices))
    return blocks
