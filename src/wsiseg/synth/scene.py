"""Plan one synthetic slide: tissue sections, lesions sized in millimetres, confounders (all level-0 vectors).

A :class:`SlideScene` is a small vector description; :mod:`wsiseg.synth.render` turns any region of it into
pixels, so a slide of any size is rendered tile by tile with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.labels import SlideLabel
from wsiseg.synth.cells import empty_cells, scattered_itc
from wsiseg.synth.confounders import Fold, PenStroke, artefacts, blur_zones, mimics, pen_strokes
from wsiseg.synth.grid import PLAN_UM, blob, circles, plan_mask, sample_points, sinus_band, smooth_field
from wsiseg.synth.spec import CUTOFF_GUARD_MM, CUTOFFS_MM, Centre, CohortSpec

_ATTEMPTS = 25  # layouts tried before a preset is declared too small for its lesions
_LESION_GAP_UM = 250.0  # lesions stay further apart than the 75 um CAMELYON16 merge distance


@dataclass(frozen=True)
class Lesion:
    """A metastasis: its outline, cut-out holes (annotated as normal) and longest diameter."""

    label: SlideLabel
    vertices_xy: np.ndarray  # (N, 2) level-0
    cutouts_xy: tuple[np.ndarray, ...]
    diameter_mm: float
    cells: int = 0  # scattered ITC: its tumour cells (rows of the scene's cell table); 0: a solid lesion

    @property
    def solid(self) -> bool:
        """Whether the outline is filled with tumour (not a scatter of single cells among lymphocytes)."""
        return self.cells == 0


def _no_circles() -> np.ndarray:
    return np.zeros((0, 3))


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
    cortex_field: np.ndarray  # coarse (rows, cols) float field in [0, 1] on a PLAN_UM grid
    tumour_nuclei: dict = field(default_factory=dict)  # radius / aspect / ink / density of solid tumour
    cells: np.ndarray = field(default_factory=empty_cells)  # explicit cells (wsiseg.synth.cells.CELL_COLUMNS)
    germinal_centres: np.ndarray = field(default_factory=_no_circles)  # (K, 3) pale centres inside follicles
    folds: tuple[Fold, ...] = ()
    bubbles: np.ndarray = field(default_factory=_no_circles)  # (K, 3) air bubbles under the cover slip
    illumination_field: np.ndarray | None = None  # coarse gain field on the PLAN_UM grid (None: even)

    @property
    def plan_px(self) -> float:
        """Level-0 pixels per cell of :attr:`cortex_field`."""
        return PLAN_UM / self.mpp


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
        pieces.append(blob(centre, (rx, ry), rng.uniform(-0.2, 0.2), rng, n=96))
    return tuple(pieces)


def _diameter(kind: SlideLabel, spec: CohortSpec, rng) -> float:
    """A lesion diameter (mm) for ``kind``: uniform in its band, or log-uniform over a range up to the cut-offs."""
    lo, hi = spec.lesion_mm[kind]
    if spec.lesions.sizes == "bands":
        return float(rng.uniform(lo, hi))
    a, b = lo, hi
    if rng.random() < spec.lesions.near_cutoff_share:  # within 10% of a cut-off, on the label's side
        windows = [(max(c * 0.9, lo), c) for c in CUTOFFS_MM if lo < c <= hi]
        windows += [(c, min(c * 1.1, hi)) for c in CUTOFFS_MM if lo <= c < hi]
        a, b = windows[int(rng.integers(len(windows)))]
    d = float(np.exp(rng.uniform(np.log(a), np.log(b))))
    floor = lo + CUTOFF_GUARD_MM if lo in CUTOFFS_MM else lo
    ceiling = hi - CUTOFF_GUARD_MM if hi in CUTOFFS_MM else hi
    return float(np.clip(d, floor, ceiling))


def _lesion_sizes(label: SlideLabel, spec: CohortSpec, rng) -> list[tuple[SlideLabel, float]]:
    """The slide's main lesion plus smaller satellites (the slide label is the largest category)."""
    if label == "negative":
        return []
    lower = {"itc": ["itc"], "micro": ["itc"], "macro": ["micro", "itc"]}[label]
    sizes: list[tuple[SlideLabel, float]] = [(label, _diameter(label, spec, rng))]
    for _ in range(int(rng.integers(0, 3))):
        kind = lower[int(rng.integers(len(lower)))]
        sizes.append((kind, _diameter(kind, spec, rng)))  # type: ignore[arg-type]
    return sizes


def _jagged(center_xy: np.ndarray, radii: tuple[float, float], angle: float, rng) -> np.ndarray:
    """An infiltrative outline: the smooth blob plus high harmonics and finger-like protrusions."""
    outline = blob(center_xy, radii, angle, rng, n=256) - center_xy
    phi = np.linspace(0.0, 2 * np.pi, len(outline), endpoint=False)
    gain = np.ones_like(phi)
    for k in range(6, 30):
        gain += rng.uniform(0.0, 0.22) / k**0.8 * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    for _ in range(int(rng.integers(3, 8))):  # fingers reaching into the node
        centre, width = rng.uniform(0, 2 * np.pi), rng.uniform(0.04, 0.12)
        gap = np.angle(np.exp(1j * (phi - centre)))
        gain += rng.uniform(0.2, 0.5) * np.exp(-0.5 * (gap / width) ** 2)
    return center_xy + outline * np.clip(gain, 0.35, None)[:, None]


def _lesion(label: SlideLabel, diameter_mm: float, centre_xy, mpp: float, rng, spec: CohortSpec):
    """A lesion whose outline's maximum Feret diameter is exactly ``diameter_mm``, and its explicit cells.

    Solid lesions are filled with tumour when rendered (their cell table is empty); a scattered ITC's cells are
    explicit rows and its outline, the convex hull around them, is what the annotation holds.
    """
    radius = diameter_mm * 1000 / mpp / 2
    if label == "itc" and spec.lesions.itc_style == "scattered":
        outline, cells = scattered_itc(2 * radius, np.asarray(centre_xy), mpp, spec.lesions, rng)
        return Lesion(label, outline, (), float(max_feret_diameter(outline) * mpp / 1000), len(cells)), cells
    shape = _jagged if label == "micro" and spec.lesions.micro_border == "infiltrative" else blob
    outline = shape(np.asarray(centre_xy), (radius, radius * rng.uniform(0.55, 0.9)), rng.uniform(0, np.pi), rng)
    outline = centre_xy + (outline - centre_xy) * (2 * radius / max_feret_diameter(outline))
    cutouts = ()
    if label == "macro" and rng.random() < 0.5:
        hole_r = radius * rng.uniform(0.1, 0.2)
        cutouts = (blob(np.asarray(centre_xy) + rng.uniform(-0.2, 0.2, 2) * radius, (hole_r, hole_r * 0.7), 0.0, rng),)
    return Lesion(label, outline, cutouts, float(max_feret_diameter(outline) * mpp / 1000)), empty_cells()


def _place_lesions(label, spec, tissue, size_wh, mpp, rng) -> tuple[tuple[Lesion, ...], np.ndarray]:
    """Place each lesion where its whole outline lies inside tissue, clear of the other lesions."""
    inside = plan_mask(size_wh, mpp, tissue)
    free = cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    sinus = sinus_band(inside)
    lesions: list[Lesion] = []
    cells = [empty_cells()]
    for kind, diameter in _lesion_sizes(label, spec, rng):
        scattered = kind == "itc" and spec.lesions.itc_style == "scattered"
        where = free & sinus if scattered and rng.random() < spec.lesions.sinus_share else free
        lesion, lesion_cells = _fit_lesion(kind, diameter, where, size_wh, mpp, rng, spec)
        if lesion is None:
            if not lesions:
                raise ValueError(f"a {diameter:.2f} mm {kind} lesion does not fit the tissue; raise slide_size_mm")
            continue  # a satellite that finds no room is dropped
        lesions.append(lesion)
        cells.append(lesion_cells)
        grown = cv2.dilate(
            plan_mask(size_wh, mpp, [lesion.vertices_xy]).astype(np.uint8),
            np.ones((3, 3), np.uint8),
            iterations=int(np.ceil(_LESION_GAP_UM / PLAN_UM)),
        )
        free &= ~grown.astype(bool)
    return tuple(lesions), np.concatenate(cells)


def _fit_lesion(kind, diameter_mm, free, size_wh, mpp, rng, spec, tries: int = 40):
    """Try random spots (with room for the lesion's short axis) until an outline falls wholly in ``free``."""
    radius = diameter_mm * 1000 / mpp / 2
    for spot in sample_points(free, radius * 0.5, mpp, rng, tries):
        lesion, cells = _lesion(kind, diameter_mm, spot, mpp, rng, spec)
        if not (plan_mask(size_wh, mpp, [lesion.vertices_xy]) & ~free).any():
            return lesion, cells
    return None, empty_cells()


def centre_stains(spec: CohortSpec, index: int, rng: np.random.Generator | None = None) -> Centre:
    """The centre's stains in this preset: :data:`CAMELYON17_CENTRES`' shifted by ``centre_shift.spread``.

    The shift of a centre is the same for every slide and seed (it is the centre's habit); with ``rng``, the
    slide's own ``slide_jitter`` is added on top.
    """
    centre, shift = spec.centre(index), spec.centre_shift
    for spread, generator in ((shift.spread, np.random.default_rng((7919, index))), (shift.slide_jitter, rng)):
        if spread <= 0 or generator is None:
            continue
        strength = tuple(float(v) for v in np.asarray(centre.stain_strength) * np.exp(generator.normal(0, spread, 2)))
        vectors = []
        for vector in (centre.hematoxylin_rgb, centre.eosin_rgb):
            v = np.asarray(vector)
            moved = np.clip(v + generator.normal(0, 0.3 * spread, 3), 0.05, None)
            vectors.append(tuple(float(x) for x in moved * np.linalg.norm(v) / np.linalg.norm(moved)))
        centre = replace(centre, hematoxylin_rgb=vectors[0], eosin_rgb=vectors[1], stain_strength=strength)
    return centre


def _layout(label: SlideLabel, spec: CohortSpec, mpp: float, seed: int):
    """Slide size, tissue sections and lesions, redrawn (deterministically) until the lesions fit."""
    for attempt in range(_ATTEMPTS):
        rng = np.random.default_rng((seed, attempt))
        size_mm = np.asarray(spec.slide_size_mm) * rng.uniform(0.9, 1.1, 2)
        size_wh = (int(size_mm[0] * 1000 / mpp), int(size_mm[1] * 1000 / mpp))
        tissue = _tissue(spec, size_wh, label == "macro", rng)
        try:
            lesions, cells = _place_lesions(label, spec, tissue, size_wh, mpp, rng)
            return rng, size_wh, tissue, lesions, cells
        except ValueError:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def plan_scene(name: str, label: SlideLabel, spec: CohortSpec, centre_index: int, seed: int) -> SlideScene:
    """Lay out a slide of the given label: tissue, lesions, mimics, fat, artefacts, pen marks and debris.

    Args:
        name: slide name (file stem).
        label: the slide label; its largest lesion's diameter falls in the label's size range.
        spec: the cohort preset.
        centre_index: which centre scanned it (its mpp and stain).
        seed: seed of everything random about this slide.
    """
    mpp = spec.centre_mpp(centre_index)
    rng, size_wh, tissue, lesions, itc_cells = _layout(label, spec, mpp, seed)
    inside = plan_mask(size_wh, mpp, tissue)
    healthy = inside & ~plan_mask(size_wh, mpp, [ls.vertices_xy for ls in lesions])
    area_mm2 = healthy.sum() * (PLAN_UM / 1000) ** 2
    follicles = circles(healthy, mpp, rng, rng.poisson(spec.follicles_per_mm2 * area_mm2), (120, 300))
    fat = circles(healthy, mpp, rng, rng.poisson(spec.fat_holes_per_mm2 * area_mm2), (25, 90))
    blur = blur_zones(spec, healthy, mpp, rng)
    background = ~inside
    debris = circles(background, mpp, rng, int(rng.integers(*spec.debris_per_slide, endpoint=True)), (6, 25))
    pen = pen_strokes(size_wh, mpp, rng) if rng.random() < spec.pen_probability else ()
    field_shape = tuple(int(np.ceil(s * mpp / PLAN_UM)) + 2 for s in size_wh[::-1])
    cortex = smooth_field(field_shape, 300, rng)
    hard = np.random.default_rng((seed, 1))  # the hard knobs draw from their own stream: the demo stays as it was
    clear = healthy & ~plan_mask(size_wh, mpp, [], follicles) if len(follicles) else healthy
    secondary, germinal, mimic_cells = mimics(spec, clear, sinus_band(inside), mpp, hard)
    folds, bubbles, gain = artefacts(spec, tissue, size_wh, mpp, field_shape, hard)
    return SlideScene(
        name,
        label,
        size_wh,
        mpp,
        seed,
        centre_stains(spec, centre_index, hard),
        tissue,
        lesions,
        np.concatenate([follicles, secondary]),
        fat,
        blur,
        debris,
        pen,
        cortex,
        tumour_nuclei={
            "density": (spec.lesions.tumour_density_per_mm2,) * 2,
            "radius": spec.lesions.tumour_radius_um,
            "aspect": (1.0, 1.7),
            "ink": spec.lesions.tumour_ink,
        },
        cells=np.concatenate([itc_cells, mimic_cells]),
        germinal_centres=germinal,
        folds=folds,
        bubbles=bubbles,
        illumination_field=gain,
    )
