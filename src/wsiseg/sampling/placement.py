"""Pure patch geometry: which patches cover the tumour, where normal patches may go (arrays in, arrays out).

Everything is computed on a *planning grid*: a mask whose pixel is ``plan_ds`` level-0 pixels wide, with a
patch footprint spanning an integer number ``cells`` of planning pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def covering_patches(
    tumour_plan: np.ndarray, cells: int, offset_plan: tuple[int, int] = (0, 0), extra_points: np.ndarray | None = None
) -> np.ndarray:
    """Top-left corners (planning pixels, (x, y)) of grid patches that together cover every tumour pixel.

    The grid has a stride of one patch (``cells`` planning pixels), shifted by ``offset_plan``. A patch is
    kept when any tumour planning pixel (the mask dilated by one pixel, so boundary slivers count) or any
    ``extra_points`` (e.g. vertices of lesions smaller than a planning pixel) falls in it. The kept patches
    therefore contain every tumour pixel at any finer resolution.

    Args:
        tumour_plan: (H, W) bool tumour mask on the planning grid.
        cells: patch side in planning pixels.
        offset_plan: grid offset (x, y) in planning pixels, each in [0, cells).
        extra_points: (K, 2) extra (x, y) planning coordinates that must be covered.

    Returns:
        (N, 2) int64 top-left corners (x, y) in planning pixels, sorted by (y, x); corners may be negative.
    """
    grown = cv2.dilate(tumour_plan.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    rows, cols = np.nonzero(grown)
    points = np.stack([cols + 0.5, rows + 0.5], axis=1)  # (M, 2) pixel centres (x, y)
    if extra_points is not None and len(extra_points):
        points = np.concatenate([points, np.asarray(extra_points, float).reshape(-1, 2)])
    if not len(points):
        return np.zeros((0, 2), np.int64)
    offset = np.asarray(offset_plan, float)
    cell_xy = np.floor((points - offset) / cells).astype(np.int64)
    unique = np.unique(cell_xy[:, ::-1], axis=0)[:, ::-1]  # sorted by (y, x)
    return unique * cells + np.asarray(offset_plan, np.int64)


def normal_candidates(tissue_plan: np.ndarray, tumour_plan: np.ndarray, margin_plan: float) -> np.ndarray:
    """Planning pixels (x, y centres) that are tissue and at least ``margin_plan`` pixels from any tumour.

    Args:
        tissue_plan: (H, W) bool tissue ROI on the planning grid.
        tumour_plan: (H, W) bool tumour mask on the planning grid (all False on normal slides).
        margin_plan: minimum distance to tumour, planning pixels.

    Returns:
        (K, 2) float64 pixel-centre coordinates (x, y).
    """
    allowed = tissue_plan.copy()
    if tumour_plan.any():
        distance = cv2.distanceTransform((~tumour_plan).astype(np.uint8), cv2.DIST_L2, 5)  # to nearest tumour px
        allowed &= distance > margin_plan
    rows, cols = np.nonzero(allowed)
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


def oversample(n_tumour: int, n_normal: int, neg_pos_ratio: float, rng: np.random.Generator) -> np.ndarray:
    """How many times each tumour patch is used so that normal : tumour is ``neg_pos_ratio``.

    Every tumour patch is used at least once (tumour is never subsampled); the target count
    ``round(n_normal / ratio)`` is reached by whole repeats plus a random remainder.

    Returns:
        (n_tumour,) int64 repeat counts.
    """
    if n_tumour == 0:
        return np.zeros(0, np.int64)
    target = max(n_tumour, int(round(n_normal / neg_pos_ratio)))
    repeats = np.full(n_tumour, target // n_tumour, np.int64)
    repeats[rng.choice(n_tumour, target % n_tumour, replace=False)] += 1
    return repeats
