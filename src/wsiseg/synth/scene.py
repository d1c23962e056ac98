"""Plan one synthetic slide: tissue sections, lesions sized in millimetres, confounders (all level-0 vectors).

A :class:`SlideScene` is a small vector description; :mod:`wsiseg.synth.render` turns any region of it into
pixels, so a slide of any size is rendered tile by tile with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.labels import SlideLabel
from wsiseg.synth.spec import Centre, CohortSpec

_PLAN_UM = 20.0  # resolution of the coarse masks used to place things, um/px
_ATTEMPTS = 25  # layouts tried before a preset is declared too small for its lesions
_LESION_GAP_UM = 250.0  # lesions stay further apart than the 75 um CAMELYON16 merge distance


@dataclass(frozen=True)
class Lesion:
    """A metastasis: its outline, cut-out holes (annotated as normal) and longest diameter."""

    label: SlideLabel
    vertices_xy: np.ndarray  # (N, 2) level-0
    cutouts_xy: tuple[np.ndarray, ...]
    diameter_mm: float


@dataclass(frozen=True)
class PenStroke:
    """A marker line drawn on the glass."""

    points_xy: np.ndarray  # (N, 2) level-0
    width_px: float
    transmission_rgb: tuple[float, float, float]


@dataclass(frozen=True)
class SlideScene:
    """Everything needed to render a slide deterministically."""

    name: str
    label: SlideLabel
    size_wh: tuple[int, int]
    mpp: float
    seed: int
    centre: Centre
    tissue_xy: tuple[np.ndarray, ...]  # outer outlines of the tissue sections
    lesions: tuple[Lesion, ...]
    follicles: np.ndarray  # (K, 3) x, y, radius in level-0 px
    fat_holes: np.ndarray  # (K, 3)
    blur_zones: np.ndarray  # (K, 4) x, y, radius, sigma px
    debris: np.ndarray  # (K, 3)
    pen_strokes: tuple[PenStroke, ...]
    cortex_field: np.ndarray  # coarse (rows, cols) float field in [0, 1] on a _PLAN_UM grid

    @property
    def plan_px(self) -> float:
        """Level-0 pixels per cell of :attr:`cortex_field`."""
        return _PLAN_UM / self.mpp


def _blob(center_xy: np.ndarray, radii: tuple[float, float], angle: float, rng: np.random.Generator, n: int = 64):
    """A smooth irregular closed outline: an ellipse whose radius wobbles by a few low harmonics."""
    phi = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    wobble = np.ones_like(phi)
    for k in range(2, 6):
        wobble += rng.uniform(0.02, 0.08) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    x, y = radii[0] * wobble * np.cos(phi), radii[1] * wobble * np.sin(phi)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([center_xy[0] + c * x - s * y, center_xy[1] + s * x + c * y], axis=1)


def _tissue(spec: CohortSpec, size_wh: tuple[int, int], big: bool, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Tissue sections side by side, each an irregular oval filling most of its slot."""
    w, h = size_wh
    n = int(rng.integers(spec.tissue_pieces[0], spec.tissue_pieces[1] + 1))
    weights = rng.uniform(0.6, 1.0, n)
    weights[0] = 3.0 if big else 1.6  # the first section is the big node that can hold a macro-metastasis
    edges = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()]) * w
    pieces = []
    for i in range(n):
        slot_w = edges[i + 1] - edges[i]
        centre = np.array([edges[i] + slot_w / 2, h * rng.uniform(0.45, 0.55)])
        rx = slot_w / 2 * spec.tissue_fill * rng.uniform(0.85, 1.0)
        ry = h / 2 * spec.tissue_fill * rng.uniform(0.75, 1.0)
        pieces.append(_blob(centre, (rx, ry), rng.uniform(-0.2, 0.2), rng, n=96))
    return tuple(pieces)


def _plan_mask(size_wh: tuple[int, int], mpp: float, polygons, circles=None) -> np.ndarray:
    """Rasterise outlines (and subtract circles) on the coarse planning grid."""
    scale = mpp / _PLAN_UM
    shape = (int(np.ceil(size_wh[1] * scale)), int(np.ceil(size_wh[0] * scale)))
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(p * scale * 16).astype(np.int32) for p in polygons], 1, shift=4)
    for x, y, r in [] if circles is None else circles:
        cv2.circle(mask, (int(x * scale), int(y * scale)), int(np.ceil(r * scale)) + 1, 0, -1)
    return mask.astype(bool)


def _sample_points(allowed: np.ndarray, clearance_px: float, mpp: float, rng, count: int) -> np.ndarray:
    """Up to ``count`` random level-0 points at least ``clearance_px`` inside ``allowed`` (a plan mask)."""
    dist = cv2.distanceTransform(np.pad(allowed, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    rows, cols = np.nonzero(dist * _PLAN_UM / mpp > clearance_px)
    if rows.size == 0:
        return np.zeros((0, 2))
    pick = rng.choice(rows.size, size=min(count, rows.size), replace=False)
    jitter = rng.uniform(-0.5, 0.5, (pick.size, 2))
    return (np.stack([cols[pick], rows[pick]], axis=1) + 0.5 + jitter) * _PLAN_UM / mpp


def _lesion_sizes(label: SlideLabel, spec: CohortSpec, rng) -> list[tuple[SlideLabel, float]]:
    """The slide's main lesion plus smaller satellites (the slide label is the largest category)."""
    if label == "negative":
        return []
    lower = {"itc": ["itc"], "micro": ["itc"], "macro": ["micro", "itc"]}[label]
    sizes: list[tuple[SlideLabel, float]] = [(label, rng.uniform(*spec.lesion_mm[label]))]
    for _ in range(int(rng.integers(0, 3))):
        kind = lower[int(rng.integers(len(lower)))]
        sizes.append((kind, rng.uniform(*spec.lesion_mm[kind])))  # type: ignore[arg-type]
    return sizes


def _lesion(label: SlideLabel, diameter_mm: float, centre_xy, mpp: float, rng) -> Lesion:
    """An irregular lesion outline rescaled so its maximum Feret diameter is exactly ``diameter_mm``."""
    radius = diameter_mm * 1000 / mpp / 2
    outline = _blob(np.asarray(centre_xy), (radius, radius * rng.uniform(0.55, 0.9)), rng.uniform(0, np.pi), rng)
    outline = centre_xy + (outline - centre_xy) * (2 * radius / max_feret_diameter(outline))
    cutouts = ()
    if label == "macro" and rng.random() < 0.5:
        hole_r = radius * rng.uniform(0.1, 0.2)
        cutouts = (_blob(np.asarray(centre_xy) + rng.uniform(-0.2, 0.2, 2) * radius, (hole_r, hole_r * 0.7), 0.0, rng),)
    return Lesion(label, outline, cutouts, float(max_feret_diameter(outline) * mpp / 1000))


def _place_lesions(label, spec, tissue, size_wh, mpp, rng) -> tuple[Lesion, ...]:
    """Place each lesion where its whole outline lies inside tissue, clear of the other lesions."""
    free = cv2.erode(_plan_mask(size_wh, mpp, tissue).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lesions: list[Lesion] = []
    for kind, diameter in _lesion_sizes(label, spec, rng):
        lesion = _fit_lesion(kind, diameter, free, size_wh, mpp, rng)
        if lesion is None:
            if not lesions:
                raise ValueError(f"a {diameter:.2f} mm {kind} lesion does not fit the tissue; raise slide_size_mm")
            continue  # a satellite that finds no room is dropped
        lesions.append(lesion)
        grown = cv2.dilate(
            _plan_mask(size_wh, mpp, [lesion.vertices_xy]).astype(np.uint8),
            np.ones((3, 3), np.uint8),
            iterations=int(np.ceil(_LESION_GAP_UM / _PLAN_UM)),
        )
        free &= ~grown.astype(bool)
    return tuple(lesions)


def _fit_lesion(kind, diameter_mm, free, size_wh, mpp, rng, tries: int = 40) -> Lesion | None:
    """Try random spots (with room for the lesion's short axis) until an outline falls wholly in ``free``."""
    radius = diameter_mm * 1000 / mpp / 2
    for spot in _sample_points(free, radius * 0.5, mpp, rng, tries):
        lesion = _lesion(kind, diameter_mm, spot, mpp, rng)
        if not (_plan_mask(size_wh, mpp, [lesion.vertices_xy]) & ~free).any():
            return lesion
    return None


def _circles(mask: np.ndarray, mpp: float, rng, count: int, radius_um: tuple[float, float]) -> np.ndarray:
    radii = rng.uniform(*radius_um, count) / mpp
    points = _sample_points(mask, radius_um[1] / mpp, mpp, rng, count)
    return np.column_stack([points, radii[: len(points)]]) if len(points) else np.zeros((0, 3))


def _pen_strokes(size_wh, mpp, rng) -> tuple[PenStroke, ...]:
    colours = [(0.30, 0.70, 0.40), (0.25, 0.35, 0.85), (0.15, 0.15, 0.18)]
    w, h = size_wh
    start = np.array([rng.uniform(0.05, 0.95) * w, rng.choice([0.04, 0.96]) * h])
    steps = rng.normal(0, 0.08, (int(rng.integers(3, 7)), 2)) * [w, h * 0.1]
    points = np.clip(start + np.cumsum(steps, axis=0), 0, [w - 1, h - 1])
    return (PenStroke(points, rng.uniform(60, 150) / mpp, colours[int(rng.integers(3))]),)


def plan_scene(name: str, label: SlideLabel, spec: CohortSpec, centre_index: int, seed: int) -> SlideScene:
    """Lay out a slide of the given label: tissue, lesions, follicles, fat, blur, pen marks and debris.

    Args:
        name: slide name (file stem).
        label: the slide label; its largest lesion's diameter falls in the label's size range.
        spec: the cohort preset.
        centre_index: which centre scanned it (its mpp and stain).
        seed: seed of everything random about this slide.
    """
    mpp = spec.centre_mpp(centre_index)
    for attempt in range(_ATTEMPTS):  # a layout whose lesions do not fit is drawn again, deterministically
        rng = np.random.default_rng((seed, attempt))
        size_mm = np.asarray(spec.slide_size_mm) * rng.uniform(0.9, 1.1, 2)
        size_wh = (int(size_mm[0] * 1000 / mpp), int(size_mm[1] * 1000 / mpp))
        tissue = _tissue(spec, size_wh, label == "macro", rng)
        try:
            lesions = _place_lesions(label, spec, tissue, size_wh, mpp, rng)
            break
        except ValueError:
            if attempt == _ATTEMPTS - 1:
                raise
    healthy = _plan_mask(size_wh, mpp, tissue) & ~_plan_mask(size_wh, mpp, [ls.vertices_xy for ls in lesions])
    area_mm2 = healthy.sum() * (_PLAN_UM / 1000) ** 2
    follicles = _circles(healthy, mpp, rng, rng.poisson(spec.follicles_per_mm2 * area_mm2), (120, 300))
    fat = _circles(healthy, mpp, rng, rng.poisson(spec.fat_holes_per_mm2 * area_mm2), (25, 90))
    blur = np.zeros((0, 4))
    if rng.random() < spec.blur_probability:
        zone = _circles(healthy, mpp, rng, 1, (300, 700))
        blur = np.column_stack([zone, np.full(len(zone), rng.uniform(2.5, 5.0) / mpp)])
    background = ~_plan_mask(size_wh, mpp, tissue)
    debris = _circles(background, mpp, rng, int(rng.integers(*spec.debris_per_slide, endpoint=True)), (6, 25))
    pen = _pen_strokes(size_wh, mpp, rng) if rng.random() < spec.pen_probability else ()
    field_shape = tuple(int(np.ceil(s * mpp / _PLAN_UM)) + 2 for s in size_wh[::-1])
    cortex = cv2.GaussianBlur(rng.random(field_shape).astype(np.float32), (0, 0), 300 / _PLAN_UM)
    cortex = (cortex - cortex.min()) / max(float(np.ptp(cortex)), 1e-6)
    return SlideScene(
        name,
        label,
        size_wh,
        mpp,
        seed,
        spec.centre(centre_index),
        tissue,
        lesions,
        follicles,
        fat,
        blur,
        debris,
        pen,
        cortex,
    )
