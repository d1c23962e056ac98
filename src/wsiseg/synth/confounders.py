"""What a synthetic slide holds besides tissue and tumour: the mimics and the artefacts a model must ignore.

Germinal centres, histiocyte clusters and high endothelial venules (:func:`mimics`); folds, air bubbles and
uneven illumination (:func:`artefacts`); out-of-focus zones (:func:`blur_zones`); pen marks on the glass
(:func:`pen_strokes`). All are placed on the planning grid of :mod:`wsiseg.synth.grid`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wsiseg.synth.cells import empty_cells, histiocyte_cluster, venule
from wsiseg.synth.grid import PLAN_UM, circles, plan_mask, sample_points, smooth_field
from wsiseg.synth.spec import CohortSpec

ILLUMINATION_SIGMA_UM = 1500.0  # uneven illumination varies over millimetres


@dataclass(frozen=True)
class PenStroke:
    """A marker line drawn on the glass."""

    points_xy: np.ndarray  # (N, 2) level-0
    width_px: float
    transmission_rgb: tuple[float, float, float]


@dataclass(frozen=True)
class Fold:
    """A tissue fold: a band where the section lies doubled (about twice the stain)."""

    points_xy: np.ndarray  # (N, 2) level-0
    width_px: float


def pen_strokes(size_wh, mpp, rng) -> tuple[PenStroke, ...]:
    """A marker line near the top or bottom edge of the glass, green, blue or black."""
    colours = [(0.30, 0.70, 0.40), (0.25, 0.35, 0.85), (0.15, 0.15, 0.18)]
    w, h = size_wh
    start = np.array([rng.uniform(0.05, 0.95) * w, rng.choice([0.04, 0.96]) * h])
    steps = rng.normal(0, 0.08, (int(rng.integers(3, 7)), 2)) * [w, h * 0.1]
    points = np.clip(start + np.cumsum(steps, axis=0), 0, [w - 1, h - 1])
    return (PenStroke(points, rng.uniform(60, 150) / mpp, colours[int(rng.integers(3))]),)


def mimics(spec: CohortSpec, healthy: np.ndarray, sinus: np.ndarray, mpp: float, rng) -> tuple[np.ndarray, ...]:
    """Germinal-centre follicles (outer circles, pale centres) and the cells of histiocytes and venules."""
    area_mm2 = healthy.sum() * (PLAN_UM / 1000) ** 2
    mimics = spec.mimics
    follicles = circles(healthy, mpp, rng, rng.poisson(mimics.germinal_centres_per_mm2 * area_mm2), (150, 320))
    centres = follicles.copy()
    centres[:, 2] *= rng.uniform(0.5, 0.7, len(centres))
    cells = [empty_cells()]
    n_groups = rng.poisson(mimics.histiocyte_clusters_per_mm2 * area_mm2)
    in_sinus = rng.random(n_groups) < 0.7  # sinus histiocytosis: most groups lie in the sinus
    for where, count in ((healthy & sinus, int(in_sinus.sum())), (healthy, int((~in_sinus).sum()))):
        for spot in sample_points(where, 40 / mpp, mpp, rng, count):
            cells.append(
                histiocyte_cluster(spot, int(rng.integers(*mimics.histiocytes_per_cluster, endpoint=True)), mpp, rng)
            )
    for spot in sample_points(healthy, 30 / mpp, mpp, rng, rng.poisson(mimics.hev_per_mm2 * area_mm2)):
        cells.append(venule(spot, mpp, rng))
    return follicles, centres, np.concatenate(cells)


def _folds(tissue, size_wh, mpp, rng) -> tuple[Fold, ...]:
    """A fold across one section: a gently curved band 40-150 um wide, 0.5-2 mm long."""
    inside = plan_mask(size_wh, mpp, tissue)
    start = sample_points(inside, 0.0, mpp, rng, 1)
    if not len(start):
        return ()
    heading, length = rng.uniform(0, 2 * np.pi), rng.uniform(500, 2000) / mpp
    turns = heading + np.cumsum(rng.normal(0, 0.25, 6))
    steps = np.stack([np.cos(turns), np.sin(turns)], axis=1) * length / 6
    return (Fold(np.concatenate([start, start + np.cumsum(steps, axis=0)]), rng.uniform(40, 150) / mpp),)


def artefacts(spec: CohortSpec, tissue, size_wh, mpp, field_shape, rng):
    """Folds, air bubbles and the illumination gain field of a slide (the ``artefacts`` knobs)."""
    knobs = spec.artefacts
    folds = _folds(tissue, size_wh, mpp, rng) if rng.random() < knobs.fold_probability else ()
    bubbles = np.zeros((0, 3))
    if rng.random() < knobs.bubble_probability:
        everywhere = np.ones(plan_mask(size_wh, mpp, tissue).shape, bool)
        bubbles = circles(everywhere, mpp, rng, int(rng.integers(1, 4)), (120, 500))
    gain = None
    if knobs.illumination > 0:
        gain = 1 + knobs.illumination * (2 * smooth_field(field_shape, ILLUMINATION_SIGMA_UM, rng) - 1)
    return folds, bubbles, gain


def blur_zones(spec: CohortSpec, healthy, mpp, rng) -> np.ndarray:
    """Out-of-focus zones (x, y, radius, sigma), on a share ``blur_probability`` of the slides."""
    if not rng.random() < spec.blur_probability:
        return np.zeros((0, 4))
    lo, hi = spec.artefacts.blur_zones
    zones = circles(healthy, mpp, rng, int(rng.integers(lo, hi + 1)) if hi > lo else lo, (300, 700))
    sigma = rng.uniform(2.5, 5.0, len(zones)) if len(zones) > 1 else np.full(len(zones), rng.uniform(2.5, 5.0))
    return np.column_stack([zones, sigma / mpp])
