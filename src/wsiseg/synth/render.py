"""Render any region of a :class:`~wsiseg.synth.scene.SlideScene` into H&E-looking RGB pixels.

Hematoxylin and eosin densities are painted in physical units and mixed by Beer-Lambert's law with the
centre's stain vectors. Every random quantity is a function of global slide coordinates (a per-cell random
generator for nuclei, a coordinate hash for pixel noise), so regions rendered separately tile seamlessly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from wsiseg.annotations.mask import polygon_mask
from wsiseg.synth.cells import cells_in
from wsiseg.synth.scene import SlideScene

_CELL_UM = 100.0  # nuclei are drawn per cell of this size, each with its own seeded generator
# Nucleus populations: density per mm^2, radius (um), aspect ratio, hematoxylin "ink".
_LYMPH = {"density": (3500.0, 9000.0), "radius": (2.8, 3.8), "aspect": (1.0, 1.15), "ink": (1.0, 1.4)}
_FOLLICLE = {"density": (13000.0, 13000.0), "radius": (2.6, 3.4), "aspect": (1.0, 1.1), "ink": (1.2, 1.6)}
_TUMOUR = {"density": (3200.0, 3200.0), "radius": (4.5, 8.5), "aspect": (1.0, 1.7), "ink": (0.6, 1.1)}
# Germinal centres: centroblasts, larger and paler than the mantle's lymphocytes (a classic tumour mimic).
_GERMINAL = {"density": (3500.0, 3500.0), "radius": (3.4, 5.5), "aspect": (1.0, 1.3), "ink": (0.55, 0.9)}
_FOLD_DENSITY = 1.9  # a fold doubles the section: about twice the stain
_BUBBLE_DENSITY = 0.75  # under an air bubble the tissue looks paler (refraction, out of the mounting medium)
_BUBBLE_RIM_UM = 4.0
_MAX_DENSITY = 13000.0
_NOISE_PERIOD = 1024  # pixel noise repeats every this many pixels (invisible, and cheap for 50k-px slides)
_BLOCK = 4096  # widest region rendered at once when writing strips


@dataclass(frozen=True)
class RenderedRegion:
    """Pixels of a region and its ground truth, all (H, W)-aligned."""

    rgb: np.ndarray  # (H, W, 3) uint8
    tissue: np.ndarray  # (H, W) bool: inside a tissue section, fat vacuoles excluded
    tumour: np.ndarray  # (H, W) bool: inside a lesion outline, cut-outs excluded


def hash_uniform(xx: np.ndarray, yy: np.ndarray, salt: int, count: int = 1) -> list[np.ndarray]:
    """``count`` (<= 3) arrays of uniform [0, 1) float32 numbers that depend only on integer coordinates and a salt.

    A splitmix-style 64-bit hash of (x, y, salt), cut into 21-bit pieces, so noise is identical whichever
    region it is rendered in.
    """
    h = np.asarray(xx, np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h = h ^ (np.asarray(yy, np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(salt & 0xFFFFFFFF))
    for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h ^= h >> np.uint64(33)
        h *= np.uint64(mult)
    h ^= h >> np.uint64(33)
    mask, scale = np.uint64(0x1FFFFF), np.float32(1.0 / 2**21)
    return [((h >> np.uint64(21 * i)) & mask).astype(np.float32) * scale for i in range(count)]


def _discs(shape_hw, origin_xy, circles, rim: float = 0.0) -> np.ndarray:
    """Pixels whose centres lie within each circle (or, with ``rim`` > 0, within ``rim`` of its edge)."""
    mask = np.zeros(shape_hw, bool)
    for x, y, r in np.asarray(circles)[:, :3] if len(circles) else []:
        cx, cy = x - origin_xy[0] - 0.5, y - origin_xy[1] - 0.5
        r0, r1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), shape_hw[0])
        c0, c1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), shape_hw[1])
        if r0 >= r1 or c0 >= c1:
            continue
        dist = np.hypot(np.arange(c0, c1)[None, :] - cx, np.arange(r0, r1)[:, None] - cy)
        mask[r0:r1, c0:c1] |= np.abs(dist - r) <= rim if rim > 0 else dist <= r
    return mask


def _stroke(shape_hw, origin_xy, points_xy: np.ndarray, width: float) -> np.ndarray:
    """Pixels whose centres lie within ``width / 2`` of a polyline (exact, so tiles join without seams)."""
    mask = np.zeros(shape_hw, bool)
    pts = np.asarray(points_xy, float) - np.asarray(origin_xy, float) - 0.5
    half = width / 2
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        lo, hi = np.minimum(a, b) - half - 1, np.maximum(a, b) + half + 2
        c0, r0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        c1, r1 = min(int(hi[0]), shape_hw[1]), min(int(hi[1]), shape_hw[0])
        if r0 >= r1 or c0 >= c1:
            continue
        px, py = np.arange(c0, c1)[None, :] - a[0], np.arange(r0, r1)[:, None] - a[1]
        d = b - a
        t = np.clip((px * d[0] + py * d[1]) / max(float(d @ d), 1e-12), 0, 1)
        mask[r0:r1, c0:c1] |= np.hypot(px - t * d[0], py - t * d[1]) <= half
    return mask


def _cortex(scene: SlideScene, origin_xy, shape_hw) -> np.ndarray:
    """The coarse cortex field bilinearly interpolated at every pixel (separable, any region size)."""
    return _field(scene, scene.cortex_field, origin_xy, shape_hw)


def _field(scene: SlideScene, field: np.ndarray, origin_xy, shape_hw) -> np.ndarray:
    """A coarse planning-grid field bilinearly interpolated at every pixel of a region."""
    rows = _interpolation(origin_xy[1], shape_hw[0], scene.plan_px, field.shape[0])
    cols = _interpolation(origin_xy[0], shape_hw[1], scene.plan_px, field.shape[1])
    along_y = field[rows[0]] * rows[2][:, None] + field[rows[1]] * (1 - rows[2][:, None])  # (H, C)
    return along_y[:, cols[0]] * cols[2][None, :] + along_y[:, cols[1]] * (1 - cols[2][None, :])


def _interpolation(start: float, count: int, step: float, size: int):
    """Neighbour indices and weight of the first for linear interpolation at pixel positions / step."""
    pos = np.clip((np.arange(count, dtype=np.float64) + start) / step, 0, size - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), size - 2) if size > 1 else np.zeros(count, np.int64)
    hi = np.minimum(lo + 1, size - 1)
    return lo, hi, (1.0 - (pos - lo)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _noise_tables(seed: int) -> tuple[np.ndarray, ...]:
    """Three (P, P) tables of hashed uniform noise; noise at (x, y) is table[y % P, x % P]."""
    yy, xx = np.mgrid[0:_NOISE_PERIOD, 0:_NOISE_PERIOD]
    return tuple(hash_uniform(xx, yy, seed, count=3))


def _periodic(table: np.ndarray, origin_xy, shape_hw) -> np.ndarray:
    rows = (np.arange(shape_hw[0]) + int(origin_xy[1])) % table.shape[0]
    cols = (np.arange(shape_hw[1]) + int(origin_xy[0])) % table.shape[1]
    return table[rows[:, None], cols[None, :]]


def _populations(scene: SlideScene) -> tuple[tuple[int, dict], ...]:
    """Class code -> nucleus population drawn statistically (the scene may change the tumour's)."""
    return ((1, _LYMPH), (2, _FOLLICLE), (3, scene.tumour_nuclei or _TUMOUR), (4, _GERMINAL))


def _draw_nuclei(scene: SlideScene, origin_xy, classes: np.ndarray, cortex: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hematoxylin density of the nuclei, and the explicit cells' cytoplasm eosin.

    ``classes`` is 0 background, 1 tissue, 2 follicle, 3 solid tumour, 4 germinal centre. The explicit cells
    (scattered ITCs, histiocytes, venules) push the lymphocytes out of their cytoplasm and are drawn on top.
    """
    h, w = classes.shape
    canvas = np.zeros((h, w), np.uint8)
    cell = _CELL_UM / scene.mpp
    area_mm2 = (_CELL_UM / 1000) ** 2
    for cy in range(int(origin_xy[1] // cell), int((origin_xy[1] + h) // cell) + 1):
        for cx in range(int(origin_xy[0] // cell), int((origin_xy[0] + w) // cell) + 1):
            rng = np.random.default_rng((scene.seed, cx + 1024, cy + 1024))  # cells may start at -1
            n = rng.poisson(_MAX_DENSITY * area_mm2)
            attrs = rng.random((n, 6))
            # positions in 1/16 px fixed point of the slide, then shifted: identical in every region
            px = np.floor((cx + attrs[:, 0]) * cell * 16) / 16 - origin_xy[0]
            py = np.floor((cy + attrs[:, 1]) * cell * 16) / 16 - origin_xy[1]
            inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            if not inside.any():
                continue
            _draw_cell(canvas, scene, px[inside], py[inside], attrs[inside, 2:], classes, cortex)
    cyto = _draw_explicit(canvas, cells_in(scene.cells, origin_xy, (h, w)))
    return canvas.astype(np.float32) / 100.0, cyto


def _draw_explicit(canvas: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Draw explicit cells (region coordinates) into ``canvas``; returns their cytoplasm's eosin (H, W)."""
    eosin = np.zeros(canvas.shape, np.float32)
    if not len(cells):
        return eosin
    wipe = np.zeros(canvas.shape, np.uint8)
    for x, y, cyto_r, cyto_e in cells[:, [0, 1, 6, 7]]:
        centre, radius = (round(x * 16), round(y * 16)), int(cyto_r * 16)
        cv2.circle(wipe, centre, radius, 1, -1, cv2.LINE_8, 4)
        cv2.circle(eosin, centre, radius, float(cyto_e), -1, cv2.LINE_8, 4)
    canvas[wipe > 0] = 0
    for x, y, rad, asp, angle, ink in cells[cells[:, 2] > 0][:, :6]:
        axes = (int(rad * asp * 16), int(rad / asp * 16))
        cv2.ellipse(
            canvas,
            (round(x * 16), round(y * 16)),
            axes,
            float(angle),
            0,
            360,
            int(min(ink * 100, 255)),
            -1,
            cv2.LINE_AA,
            4,
        )
    return eosin


def _draw_cell(canvas, scene, px, py, attrs, classes, cortex) -> None:
    mpp = scene.mpp
    r, c = py.astype(int), px.astype(int)
    kind = classes[r, c]
    for code, pop in _populations(scene):
        lo, hi = pop["density"]
        density = lo + (hi - lo) * cortex[r, c] if code == 1 else np.full(r.size, lo)
        keep = (kind == code) & (attrs[:, 3] < density / _MAX_DENSITY)
        u = attrs[keep]
        radius = (pop["radius"][0] + (pop["radius"][1] - pop["radius"][0]) * u[:, 0]) / mpp
        aspect = pop["aspect"][0] + (pop["aspect"][1] - pop["aspect"][0]) * u[:, 1]
        ink = pop["ink"][0] + (pop["ink"][1] - pop["ink"][0]) * u[:, 2]
        for x, y, rad, asp, angle, value in zip(px[keep], py[keep], radius, aspect, u[:, 3] * 360, ink, strict=True):
            axes = (int(rad * asp * 16), int(rad / asp * 16))
            centre = (round(x * 16), round(y * 16))
            cv2.ellipse(canvas, centre, axes, float(angle), 0, 360, int(min(value * 100, 255)), -1, cv2.LINE_AA, 4)


def _margin(scene: SlideScene) -> int:
    blur = scene.blur_zones[:, 3].max() * 3 if len(scene.blur_zones) else 0.0
    widest = max(pop["radius"][1] * pop["aspect"][1] for _, pop in _populations(scene))
    return int(np.ceil(max(widest / scene.mpp, blur))) + 2


def render_region(scene: SlideScene, origin_xy: tuple[int, int], size_wh: tuple[int, int]) -> RenderedRegion:
    """Render the level-0 region at ``origin_xy`` of ``size_wh`` pixels (parts outside the slide are glass).

    Args:
        scene: the planned slide.
        origin_xy: top-left corner, level-0 pixels.
        size_wh: region size, level-0 pixels.
    """
    m = _margin(scene)
    ox, oy = origin_xy[0] - m, origin_xy[1] - m
    shape = (size_wh[1] + 2 * m, size_wh[0] + 2 * m)
    tissue = polygon_mask(scene.tissue_xy, shape, (ox, oy)) & ~_discs(shape, (ox, oy), scene.fat_holes)
    tumour = polygon_mask([ls.vertices_xy for ls in scene.lesions], shape, (ox, oy))
    tumour &= ~polygon_mask([c for ls in scene.lesions for c in ls.cutouts_xy], shape, (ox, oy))
    tumour &= tissue
    classes = tissue.astype(np.uint8)
    classes[_discs(shape, (ox, oy), scene.follicles) & tissue] = 2
    classes[_discs(shape, (ox, oy), scene.germinal_centres) & tissue] = 4
    solid = [ls for ls in scene.lesions if ls.solid]
    if len(solid) == len(scene.lesions):
        classes[tumour] = 3
    else:  # a scattered ITC's outline holds lymphocytes between its cells
        classes[tumour & polygon_mask([ls.vertices_xy for ls in solid], shape, (ox, oy))] = 3
    cortex = _cortex(scene, (ox, oy), shape)
    rgb = _stain(scene, (ox, oy), classes, cortex)
    rgb = _blur_zones(scene, (ox, oy), rgb)
    if scene.illumination_field is not None:
        gain = _field(scene, scene.illumination_field, (ox, oy), shape)
        rgb = np.clip(rgb * gain[..., None], 0, 255).astype(np.uint8)
    crop = (slice(m, m + size_wh[1]), slice(m, m + size_wh[0]))
    return RenderedRegion(rgb[crop], tissue[crop], tumour[crop])


def _stain(scene: SlideScene, origin_xy, classes: np.ndarray, cortex: np.ndarray) -> np.ndarray:
    """Beer-Lambert mixing of hematoxylin and eosin densities, then glass, pen and debris."""
    shape = classes.shape
    grain, speckle, noise = (_periodic(t, origin_xy, shape) for t in _noise_tables(scene.seed))
    glass = np.asarray(scene.centre.background_rgb, np.float32)
    if not classes.any():  # glass only: skip the stain model
        rgb = glass * _ink(scene, origin_xy, shape) + (noise[..., None] - 0.5) * 6
        return np.clip(rgb, 0, 255).astype(np.uint8)
    fibre = cv2.GaussianBlur(grain - 0.5, (0, 0), sigmaX=4.0 / scene.mpp, sigmaY=1.0 / scene.mpp)
    fibre = 0.5 + 0.5 * np.tanh(fibre * 8)
    tissue = (classes > 0).astype(np.float32)
    nuclei, cyto = _draw_nuclei(scene, origin_xy, classes, cortex)
    hema = tissue * np.float32(0.06) + nuclei * (np.float32(0.825) + np.float32(0.35) * speckle)
    eosin = tissue * (np.float32(0.3) + np.float32(0.30) * fibre - np.float32(0.12) * cortex + cyto)
    eosin += (classes == 3).astype(np.float32) * np.float32(0.08) + (classes == 4).astype(np.float32) * np.float32(0.05)
    _density_changes(scene, origin_xy, hema, eosin)
    eosin += _discs(shape, origin_xy, scene.fat_holes, rim=max(0.5, 1.0 / scene.mpp)).astype(np.float32) * np.float32(
        0.5
    )
    strength_h, strength_e = scene.centre.stain_strength
    ink = _ink(scene, origin_xy, shape)
    jitter = (noise - np.float32(0.5)) * np.float32(6)
    channels = []
    for c in range(3):  # Beer-Lambert per channel: glass * exp(-(OD_h + OD_e))
        od = hema * np.float32(scene.centre.hematoxylin_rgb[c] * strength_h)
        od += eosin * np.float32(scene.centre.eosin_rgb[c] * strength_e)
        channels.append(glass[c] * cv2.exp(-od) * ink[..., c] + jitter)
    return np.clip(cv2.merge(channels), 0, 255).astype(np.uint8)


def _density_changes(scene: SlideScene, origin_xy, hema: np.ndarray, eosin: np.ndarray) -> None:
    """Folds (doubled tissue: denser) and air bubbles (paler tissue), in place on the stain densities."""
    shape = hema.shape
    for fold in scene.folds:
        band = _stroke(shape, origin_xy, fold.points_xy, fold.width_px)
        hema[band] *= np.float32(_FOLD_DENSITY)
        eosin[band] *= np.float32(_FOLD_DENSITY)
    if len(scene.bubbles):
        inside = _discs(shape, origin_xy, scene.bubbles)
        hema[inside] *= np.float32(_BUBBLE_DENSITY)
        eosin[inside] *= np.float32(_BUBBLE_DENSITY)


def _ink(scene: SlideScene, origin_xy, shape_hw) -> np.ndarray:
    """Transmission (H, W, 3) of pen marks, debris and air-bubble rims on the glass."""
    ink = np.ones((*shape_hw, 3), np.float32)
    for stroke in scene.pen_strokes:
        line = _stroke(shape_hw, origin_xy, stroke.points_xy, stroke.width_px)
        ink[line] *= np.asarray(stroke.transmission_rgb, np.float32)
    ink[_discs(shape_hw, origin_xy, scene.debris)] *= np.asarray((0.35, 0.30, 0.25), np.float32)
    if len(scene.bubbles):
        rim = _discs(shape_hw, origin_xy, scene.bubbles, rim=_BUBBLE_RIM_UM / scene.mpp)
        ink[rim] *= np.asarray((0.55, 0.55, 0.58), np.float32)
    return ink


def _blur_zones(scene: SlideScene, origin_xy, rgb: np.ndarray) -> np.ndarray:
    """Out-of-focus patches: Gaussian blur inside each zone."""
    for x, y, radius, sigma in scene.blur_zones:
        zone = _discs(rgb.shape[:2], origin_xy, np.array([[x, y, radius]]))
        if zone.any():
            rgb = np.where(zone[..., None], cv2.GaussianBlur(rgb, (0, 0), float(sigma)), rgb)
    return rgb


def render_strip(scene: SlideScene, y0: int, height: int) -> np.ndarray:
    """Rows ``y0 .. y0 + height`` of the whole slide, rendered in blocks of bounded width (for the TIFF writer)."""
    width = scene.size_wh[0]
    blocks = [render_region(scene, (x0, y0), (min(_BLOCK, width - x0), height)).rgb for x0 in range(0, width, _BLOCK)]
    return np.concatenate(blocks, axis=1)
