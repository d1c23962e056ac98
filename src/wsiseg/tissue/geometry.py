"""Pure geometry between a thumbnail mask and level-0 slide coordinates.

Thumbnail pixel (r, c) covers the continuous thumbnail square [c, c + 1) x [r, r + 1); its centre maps to
level-0 ((c + 0.5) * scale, (r + 0.5) * scale) with ``scale = mpp / slide_mpp`` (level-0 pixels per
thumbnail pixel).
"""

from __future__ import annotations

import numpy as np


def pixels_to_level0_xy(points_xy: np.ndarray, scale: float) -> np.ndarray:
    """Map thumbnail pixel indices (x = column, y = row) to level-0 (x, y) of the pixels' centres.

    Args:
        points_xy: (N, 2) thumbnail pixel indices, column first.
        scale: level-0 pixels per thumbnail pixel (``mpp / slide_mpp``).

    Returns:
        (N, 2) float64 level-0 coordinates.
    """
    return (np.asarray(points_xy, dtype=np.float64).reshape(-1, 2) + 0.5) * scale


def level0_to_pixels_xy(points_xy: np.ndarray, scale: float) -> np.ndarray:
    """Map level-0 (x, y) points to the (x = column, y = row) index of the thumbnail pixel holding them.

    Args:
        points_xy: (N, 2) level-0 coordinates.
        scale: level-0 pixels per thumbnail pixel (``mpp / slide_mpp``).

    Returns:
        (N, 2) int64 pixel indices (may lie outside the thumbnail).
    """
    return np.floor(np.asarray(points_xy, dtype=np.float64).reshape(-1, 2) / scale).astype(np.int64)


def integral_image(mask: np.ndarray) -> np.ndarray:
    """Return the (H + 1, W + 1) float64 summed-area table of an (H, W) mask (sum above and left)."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.float64)
    table[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.float64), axis=1)
    return table


def box_coverage(table: np.ndarray, origins_xy: np.ndarray, size_wh: np.ndarray) -> np.ndarray:
    """Return, for each box, the exact fraction of its area covered by the mask of a summed-area table.

    Boxes are in the mask's pixel units (a thumbnail, the patch sampler's planning grid), may be fractional
    and may reach outside the mask, which counts as uncovered. The mask's integral over [0, x] x [0, y] is
    bilinear inside each pixel, so interpolating the table at the corners gives the exact covered area (and
    whole-pixel boxes read the table exactly).

    Args:
        table: (H + 1, W + 1) summed-area table from :func:`integral_image`.
        origins_xy: (N, 2) top-left corners (x, y).
        size_wh: (N, 2) or (2,) widths and heights, all > 0.

    Returns:
        (N,) float64 fractions in [0, 1].
    """
    origins = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2)
    sizes = np.broadcast_to(np.asarray(size_wh, dtype=np.float64), origins.shape)
    if np.any(sizes <= 0):
        raise ValueError(f"box sizes must be > 0, got {size_wh}")
    x0, y0 = origins[:, 0], origins[:, 1]
    x1, y1 = x0 + sizes[:, 0], y0 + sizes[:, 1]
    area = (
        _integral_at(table, x1, y1)
        - _integral_at(table, x0, y1)
        - _integral_at(table, x1, y0)
        + _integral_at(table, x0, y0)
    )
    return np.clip(area / (sizes[:, 0] * sizes[:, 1]), 0.0, 1.0)


def _integral_at(table: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinearly interpolate the summed-area table at continuous (x, y), clamped to the mask."""
    height, width = table.shape[0] - 1, table.shape[1] - 1
    x = np.clip(x, 0.0, width)
    y = np.clip(y, 0.0, height)
    c0 = np.minimum(np.floor(x).astype(np.int64), max(width - 1, 0))
    r0 = np.minimum(np.floor(y).astype(np.int64), max(height - 1, 0))
    fx, fy = x - c0, y - r0
    top = table[r0, c0] * (1 - fx) + table[r0, c0 + 1] * fx
    bottom = table[r0 + 1, c0] * (1 - fx) + table[r0 + 1, c0 + 1] * fx
    return top * (1 - fy) + bottom * fy
