"""Render any region of a :class:`~wsiseg.synth.scene.SlideScene` into H&E-looking RGB pixels.

Hematoxylin and eosin densities are painted in physical units and mixed by Beer-Lambert's law with the
centre's stain vectors. Every random quantity is a function of global slide coordinates (a per-cell random
generator for nuclei, a coordinate hash for pixel noise), so regions rendered separately tile seamlessly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wsiseg.annotations.mask import polygon_mask
from wsiseg.synth.scene import SlideScene

_CELL_UM = 100.0  # nuclei are drawn per cell of this size, each with its own seeded generator
# Nucleus populations: density per mm^2, radius (um), aspect ratio, hematoxylin "ink".
_LYMPH = {"density": (3500.0, 9000.0), "radius": (2.8, 3.8), "aspect": (1.0, 1.15), "ink": (1.0, 1.4)}
_FOLLICLE = {"density": (13000.0, 13000.0), "radius": (2.6, 3.4), "aspect": (1.0, 1.1), "ink": (1.2, 1.6)}
_TUMOUR = {"density": (3200.0, 3200.0), "radius": (4.5, 8.5), "aspect": (1.0, 1.7), "ink": (0.6, 1.1)}
_MAX_DENSITY = 13000.0


@dataclass(frozen=True)
class RenderedRegion:
    """Pixels of a region and its ground truth, all (H, W)-aligned."""

    rgb: np.ndarray  # (H, W, 3) uint8
    tissue: np.ndarray  # (H, W) bool: inside a tissue section, fat vacuoles excluded
    tumor: np.ndarray  # (H, W) bool: inside a lesion outline, cut-outs excluded


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
    ys = (np.arange(shape_hw[0], dtype=np.float32) + origin_xy[1]) / scene.plan_px
    xs = (np.arange(shape_hw[1], dtype=np.float32) + origin_xy[0]) / scene.plan_px
    map_x, map_y = (m.astype(np.float32) for m in np.meshgrid(xs, ys))
    return cv2.remap(scene.cortex_field, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _draw_nuclei(scene: SlideScene, origin_xy, classes: np.ndarray, cortex: np.ndarray) -> np.ndarray:
    """Hematoxylin density of the nuclei; ``classes`` is 0 background, 1 tissue, 2 follicle, 3 tumour."""
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
            _draw_cell(canvas, scene.mpp, px[inside], py[inside], attrs[inside, 2:], classes, cortex)
    return canvas.astype(np.float32) / 100.0


def _draw_cell(canvas, mpp, px, py, attrs, classes, cortex) -> None:
    r, c = py.astype(int), px.astype(int)
    kind = classes[r, c]
    for code, pop in ((1, _LYMPH), (2, _FOLLICLE), (3, _TUMOUR)):
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
    return int(np.ceil(max(_TUMOUR["radius"][1] * _TUMOUR["aspect"][1] / scene.mpp, blur))) + 2


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
    tumor = polygon_mask([ls.vertices_xy for ls in scene.lesions], shape, (ox, oy))
    tumor &= ~polygon_mask([c for ls in scene.lesions for c in ls.cutouts_xy], shape, (ox, oy))
    tumor &= tissue
    classes = tissue.astype(np.uint8)
    classes[_discs(shape, (ox, oy), scene.follicles) & tissue] = 2
    classes[tumor] = 3
    cortex = _cortex(scene, (ox, oy), shape)
    rgb = _stain(scene, (ox, oy), classes, cortex)
    rgb = _blur_zones(scene, (ox, oy), rgb)
    crop = (slice(m, m + size_wh[1]), slice(m, m + size_wh[0]))
    return RenderedRegion(rgb[crop], tissue[crop], tumor[crop])


def _stain(scene: SlideScene, origin_xy, classes: np.ndarray, cortex: np.ndarray) -> np.ndarray:
    """Beer-Lambert mixing of hematoxylin and eosin densities, then glass, pen and debris."""
    shape = classes.shape
    xx = np.arange(shape[1], dtype=np.int64)[None, :] + int(origin_xy[0])
    yy = np.arange(shape[0], dtype=np.int64)[:, None] + int(origin_xy[1])
    grain, speckle, noise = hash_uniform(xx, yy, scene.seed, count=3)
    fibre = cv2.GaussianBlur(grain - 0.5, (0, 0), sigmaX=4.0 / scene.mpp, sigmaY=1.0 / scene.mpp)
    fibre = 0.5 + 0.5 * np.tanh(fibre * 8)
    tissue = (classes > 0).astype(np.float32)
    nuclei = _draw_nuclei(scene, origin_xy, classes, cortex)
    chromatin = 0.825 + 0.35 * speckle
    hema = tissue * 0.06 + nuclei * chromatin
    eosin = tissue * (0.18 + 0.30 * fibre + 0.12 * (1 - cortex)) + (classes == 3) * 0.08
    eosin += _discs(shape, origin_xy, scene.fat_holes, rim=max(0.5, 1.0 / scene.mpp)) * 0.5
    strength_h, strength_e = scene.centre.stain_strength
    od = hema[..., None] * np.asarray(scene.centre.hematoxylin_rgb, np.float32) * strength_h
    od += eosin[..., None] * np.asarray(scene.centre.eosin_rgb, np.float32) * strength_e
    glass = np.asarray(scene.centre.background_rgb, np.float32)
    rgb = glass * np.exp(-od, dtype=np.float32) * _ink(scene, origin_xy, shape)
    rgb += (noise[..., None] - 0.5) * 6
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _ink(scene: SlideScene, origin_xy, shape_hw) -> np.ndarray:
    """Transmission (H, W, 3) of pen marks and debris on the glass."""
    ink = np.ones((*shape_hw, 3), np.float32)
    for stroke in scene.pen_strokes:
        line = _stroke(shape_hw, origin_xy, stroke.points_xy, stroke.width_px)
        ink[line] *= np.asarray(stroke.transmission_rgb, np.float32)
    ink[_discs(shape_hw, origin_xy, scene.debris)] *= np.asarray((0.35, 0.30, 0.25), np.float32)
    return ink


def _blur_zones(scene: SlideScene, origin_xy, rgb: np.ndarray) -> np.ndarray:
    """Out-of-focus patches: Gaussian blur inside each zone."""
    for x, y, radius, sigma in scene.blur_zones:
        zone = _discs(rgb.shape[:2], origin_xy, np.array([[x, y, radius]]))
        if zone.any():
            rgb = np.where(zone[..., None], cv2.GaussianBlur(rgb, (0, 0), float(sigma)), rgb)
    return rgb
