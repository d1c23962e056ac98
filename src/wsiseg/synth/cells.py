"""Cells drawn one by one: scattered isolated tumour cells, sinus histiocytes, high endothelial venules.

The background populations (lymphocytes, follicles, solid tumour) are drawn statistically per 100 um cell of
the slide (:mod:`wsiseg.synth.render`); the structures here are planned as explicit rows of a cell table, so
their number is known exactly (an ITC's cell count is a fact of the scene, not an estimate).

A cell table has the columns of :data:`CELL_COLUMNS`, all in level-0 pixels except the angle (degrees), the
ink (hematoxylin load) and the cytoplasm's eosin load. A row with ``radius`` 0 is cytoplasm only (a vessel
wall, a red blood cell).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from wsiseg.annotations.geometry import max_feret_diameter

#: Columns of a cell table.
CELL_COLUMNS = ("x", "y", "radius", "aspect", "angle", "ink", "cyto_radius", "cyto_eosin", "kind")
#: The ``kind`` column's codes.
CELL_KINDS = {"tumour": 0, "histiocyte": 1, "endothelium": 2, "vessel": 3, "red_cell": 4}
#: Sinus histiocytes: large, pale, oval nuclei in abundant pale-pink cytoplasm.
HISTIOCYTE = {"radius": (4.0, 6.5), "aspect": (1.0, 1.4), "ink": (0.45, 0.85), "cyto": (9.0, 13.0), "eosin": 0.2}
_ANNOTATION_MARGIN_UM = 4.0  # a scattered ITC's outline keeps this far outside its outermost nuclei
_TUMOUR_CYTO = 1.6  # a tumour cell's cytoplasm radius over its nucleus radius


def empty_cells() -> np.ndarray:
    """A cell table with no rows."""
    return np.zeros((0, len(CELL_COLUMNS)))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _hull_outline(cells: np.ndarray, margin_px: float) -> np.ndarray:
    """The convex outline around the cells' nuclei, ``margin_px`` outside them (16 points per nucleus)."""
    phi = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    pts = (cells[:, None, :2] + ring[None] * (cells[:, None, 2:3] + margin_px)).reshape(-1, 2)
    return pts[ConvexHull(pts).vertices]


def scattered_itc(
    diameter_px: float,
    centre_xy: np.ndarray,
    mpp: float,
    look,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Isolated tumour cells: one cell, or a loose cluster of fewer than ``ITC_MAX_CELLS``, spanning ``diameter_px``.

    The cluster is an elongated scatter (sinus-like) with two cells at the ends of its long axis; its outline
    (the annotation) is the convex hull around the nuclei, rescaled until its maximum Feret diameter is the
    requested one (or as close below it as a single cell allows).

    Args:
        diameter_px: the requested maximum Feret diameter of the outline, level-0 pixels.
        centre_xy: where the cluster sits.
        mpp: level-0 um/px.
        look: the :class:`~wsiseg.synth.spec.LesionLook` (cell counts, tumour nucleus sizes and inks).
        rng: the slide's generator.

    Returns:
        (outline vertices (N, 2), cell table).
    """
    margin = _ANNOTATION_MARGIN_UM / mpp
    r_max = look.tumour_radius_um[1] / mpp
    aspect = rng.uniform(0.25, 0.7)
    half = max(diameter_px / 2 - r_max - margin, 0.0)
    area_mm2 = np.pi * (half * mpp / 1000) ** 2 * aspect
    fits = int(area_mm2 * look.tumour_density_per_mm2 * 0.6) + 1
    lo, hi = look.itc_cells
    n = int(np.clip(round(np.exp(rng.uniform(np.log(lo), np.log(hi + 1)))), 1, max(min(hi, fits), 1)))
    u = np.sqrt(rng.random(n)) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    offsets = np.stack([u.real, u.imag * aspect], axis=1)
    if n >= 2:
        offsets[:2] = [[-1.0, 0.0], [1.0, 0.0]]
    angle = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    offsets = offsets @ rotation.T
    cells = np.zeros((n, len(CELL_COLUMNS)))
    cells[:, 2] = _uniform(rng, look.tumour_radius_um, n) / mpp
    cells[:, 3] = rng.uniform(1.0, 1.5, n)
    cells[:, 4] = rng.uniform(0, 360, n)
    cells[:, 5] = _uniform(rng, look.tumour_ink, n)
    cells[:, 6] = cells[:, 2] * _TUMOUR_CYTO
    cells[:, 7] = 0.12
    cells[:, 8] = CELL_KINDS["tumour"]
    scale = half
    for _ in range(6):  # the outline's Feret grows with the spread; a few secant steps reach the target
        cells[:, :2] = np.asarray(centre_xy) + offsets * scale
        outline = _hull_outline(cells, margin)
        feret = max_feret_diameter(outline)
        spread = feret - 2 * (margin + cells[:, 2].max()) if n >= 2 else 0.0
        if n < 2 or abs(feret - diameter_px) < 0.25 or spread <= 0:
            break
        scale *= max(diameter_px - (feret - spread), 1e-3) / spread
    while max_feret_diameter(outline) > diameter_px and n >= 2 and scale > 0:  # never above the target
        scale *= 0.98
        cells[:, :2] = np.asarray(centre_xy) + offsets * scale
        outline = _hull_outline(cells, margin)
    return outline, cells


def histiocyte_cluster(centre_xy: np.ndarray, count: int, mpp: float, rng: np.random.Generator) -> np.ndarray:
    """A group of ``count`` sinus histiocytes packed around ``centre_xy`` (cell table)."""
    cells = np.zeros((count, len(CELL_COLUMNS)))
    spacing = HISTIOCYTE["cyto"][0] * 1.6 / mpp
    radius = spacing * np.sqrt(count) / 2
    u = np.sqrt(rng.random(count)) * np.exp(1j * rng.uniform(0, 2 * np.pi, count)) * radius
    cells[:, 0], cells[:, 1] = centre_xy[0] + u.real, centre_xy[1] + u.imag
    cells[:, 2] = _uniform(rng, HISTIOCYTE["radius"], count) / mpp
    cells[:, 3] = _uniform(rng, HISTIOCYTE["aspect"], count)
    cells[:, 4] = rng.uniform(0, 360, count)
    cells[:, 5] = _uniform(rng, HISTIOCYTE["ink"], count)
    cells[:, 6] = _uniform(rng, HISTIOCYTE["cyto"], count) / mpp
    cells[:, 7] = HISTIOCYTE["eosin"]
    cells[:, 8] = CELL_KINDS["histiocyte"]
    return cells


def venule(centre_xy: np.ndarray, mpp: float, rng: np.random.Generator) -> np.ndarray:
    """A high endothelial venule: a pink wall, a ring of plump endothelial nuclei, red cells in the lumen."""
    outer, lumen = rng.uniform(14, 22) / mpp, rng.uniform(4, 7) / mpp
    mid = (outer + lumen) / 2
    n_nuclei = max(int(2 * np.pi * mid * mpp / 7.0), 5)
    phi = rng.uniform(0, 2 * np.pi) + np.arange(n_nuclei) * 2 * np.pi / n_nuclei
    nuclei = np.zeros((n_nuclei, len(CELL_COLUMNS)))
    nuclei[:, 0], nuclei[:, 1] = centre_xy[0] + mid * np.cos(phi), centre_xy[1] + mid * np.sin(phi)
    nuclei[:, 2] = rng.uniform(3.5, 5.0, n_nuclei) / mpp
    nuclei[:, 3] = rng.uniform(1.2, 1.6, n_nuclei)
    nuclei[:, 4] = np.degrees(phi) + 90  # elongated along the wall
    nuclei[:, 5] = rng.uniform(0.7, 1.0, n_nuclei)
    nuclei[:, 8] = CELL_KINDS["endothelium"]
    wall = np.zeros((1, len(CELL_COLUMNS)))
    wall[0, [0, 1, 6, 7, 8]] = centre_xy[0], centre_xy[1], outer, 0.15, CELL_KINDS["vessel"]
    n_red = int(rng.integers(1, 5))
    red = np.zeros((n_red, len(CELL_COLUMNS)))
    u = np.sqrt(rng.random(n_red)) * np.exp(1j * rng.uniform(0, 2 * np.pi, n_red)) * max(lumen - 3.5 / mpp, 0)
    red[:, 0], red[:, 1] = centre_xy[0] + u.real, centre_xy[1] + u.imag
    red[:, 6], red[:, 7], red[:, 8] = 3.5 / mpp, 0.9, CELL_KINDS["red_cell"]
    return np.concatenate([wall, red, nuclei])


def cells_in(cells: np.ndarray, origin_xy, shape_hw) -> np.ndarray:
    """The rows of ``cells`` that reach into the region (cytoplasm included), in region coordinates."""
    if not len(cells):
        return cells
    reach = np.maximum(cells[:, 2] * cells[:, 3], cells[:, 6]) + 2
    x, y = cells[:, 0] - origin_xy[0], cells[:, 1] - origin_xy[1]
    keep = (x + reach >= 0) & (x - reach < shape_hw[1]) & (y + reach >= 0) & (y - reach < shape_hw[0])
    local = cells[keep].copy()
    local[:, 0], local[:, 1] = x[keep], y[keep]
    return local
