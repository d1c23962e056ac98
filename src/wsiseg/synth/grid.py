"""The coarse planning grid a synthetic slide is laid out on (``PLAN_UM`` um per cell), and shapes drawn on it.

Masks of tissue, lesions and free room are rasterised here (:func:`plan_mask`); random spots with a clearance
inside a mask (:func:`sample_points`, :func:`circles`), smooth random fields (:func:`smooth_field`) and the
subcapsular sinus (:func:`sinus_band`) are read off it. Outlines (:func:`blob`) are level-0 vectors.
"""

from __future__ import annotations

import cv2
import numpy as np

PLAN_UM = 20.0  # resolution of the coarse masks used to place things, um/px
SINUS_UM = (20.0, 250.0)  # the subcapsular sinus: this far under a section's edge


def blob(center_xy: np.ndarray, radii: tuple[float, float], angle: float, rng: np.random.Generator, n: int = 64):
    """A smooth irregular closed outline: an ellipse whose radius wobbles by a few low harmonics."""
    phi = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    wobble = np.ones_like(phi)
    for k in range(2, 6):
        wobble += rng.uniform(0.02, 0.08) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    x, y = radii[0] * wobble * np.cos(phi), radii[1] * wobble * np.sin(phi)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([center_xy[0] + c * x - s * y, center_xy[1] + s * x + c * y], axis=1)


def plan_mask(size_wh: tuple[int, int], mpp: float, polygons, circles=None) -> np.ndarray:
    """Rasterise outlines (and subtract circles) on the coarse planning grid."""
    scale = mpp / PLAN_UM
    shape = (int(np.ceil(size_wh[1] * scale)), int(np.ceil(size_wh[0] * scale)))
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(p * scale * 16).astype(np.int32) for p in polygons], 1, shift=4)
    for x, y, r in [] if circles is None else circles:
        cv2.circle(mask, (int(x * scale), int(y * scale)), int(np.ceil(r * scale)) + 1, 0, -1)
    return mask.astype(bool)


def sample_points(allowed: np.ndarray, clearance_px: float, mpp: float, rng, count: int) -> np.ndarray:
    """Up to ``count`` random level-0 points at least ``clearance_px`` inside ``allowed`` (a plan mask)."""
    dist = cv2.distanceTransform(np.pad(allowed, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    rows, cols = np.nonzero(dist * PLAN_UM / mpp > clearance_px)
    if rows.size == 0:
        return np.zeros((0, 2))
    pick = rng.choice(rows.size, size=min(count, rows.size), replace=False)
    jitter = rng.uniform(-0.5, 0.5, (pick.size, 2))
    return (np.stack([cols[pick], rows[pick]], axis=1) + 0.5 + jitter) * PLAN_UM / mpp


def circles(mask: np.ndarray, mpp: float, rng, count: int, radius_um: tuple[float, float]) -> np.ndarray:
    """Up to ``count`` circles (x, y, radius in level-0 px) with radii in ``radius_um``, wholly inside ``mask``."""
    radii = rng.uniform(*radius_um, count) / mpp
    points = sample_points(mask, radius_um[1] / mpp, mpp, rng, count)
    return np.column_stack([points, radii[: len(points)]]) if len(points) else np.zeros((0, 3))


def smooth_field(shape: tuple[int, ...], sigma_um: float, rng) -> np.ndarray:
    """A smooth random field in [0, 1] on the planning grid."""
    values = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), sigma_um / PLAN_UM)
    return (values - values.min()) / max(float(np.ptp(values)), 1e-6)


def sinus_band(tissue_mask: np.ndarray) -> np.ndarray:
    """The subcapsular sinus on the planning grid: tissue between 20 and 250 um under a section's edge."""
    depth = cv2.distanceTransform(np.pad(tissue_mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1] * PLAN_UM
    return (depth > SINUS_UM[0]) & (depth < SINUS_UM[1])
