"""Rasterising annotations into boolean tumour masks.

Convention: mask pixel (r, c) covers level-0 x in [origin_x + c * ds, origin_x + (c + 1) * ds) and likewise
in y; it is inside a polygon when its centre is (even-odd rule). A centre exactly on an edge follows the
top-left rule (left and top edges inside, right and bottom edges outside), so polygons that share an edge
tile the plane without gaps or overlap. The fill is an exact float64 scanline fill: ``cv2.fillPoly`` draws
the boundary pixels too and rounds vertices to its fixed-point grid, so a 200 x 200 px square would come out
201 x 201.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from wsiseg.annotations.files import read_annotations
from wsiseg.annotations.geometry import bounding_box
from wsiseg.annotations.records import Annotation, GroupRole


def mask_shape_hw(size_wh: tuple[int, int], downsample: float) -> tuple[int, int]:
    """Shape of the mask of a level-0 region at a downsample.

    Args:
        size_wh: (width, height) of the region in level-0 px.
        downsample: Level-0 px per mask pixel, > 0.

    Returns:
        (ceil(height / downsample), ceil(width / downsample)); ratios within 1e-9 of an integer count as it.

    Raises:
        ValueError: A size is negative or the downsample is not a finite positive number.
    """
    width, height = size_wh
    if width < 0 or height < 0:
        raise ValueError(f"size_wh must not be negative, got {size_wh}")
    if not (math.isfinite(downsample) and downsample > 0):
        raise ValueError(f"downsample must be a finite positive number, got {downsample}")
    return math.ceil(height / downsample - 1e-9), math.ceil(width / downsample - 1e-9)


def rasterize(
    annotations: Iterable[Annotation],
    size_wh: tuple[int, int],
    downsample: float,
    origin_xy: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Draws the tumour mask of a level-0 region: tumour polygons filled, then exclude polygons removed.

    Annotations with role ``ignore`` are skipped; polygons partly or wholly outside the region are clipped.

    Args:
        annotations: The annotations (level-0 coordinates).
        size_wh: (width, height) of the region in level-0 px.
        downsample: Level-0 px per mask pixel, > 0.
        origin_xy: Level-0 (x, y) of the region's top-left corner.

    Returns:
        Boolean mask of shape ``mask_shape_hw(size_wh, downsample)``.
    """
    shape_hw = mask_shape_hw(size_wh, downsample)
    annotations = list(annotations)
    mask = np.zeros(shape_hw, dtype=bool)  # (H, W)
    for role, value in (("tumor", True), ("exclude", False)):
        for annotation in annotations:
            if annotation.role == role:
                # Mask coordinates: pixel (r, c) has its centre at (u, v) = (c, r).
                vertices_uv = (annotation.vertices_xy - np.asarray(origin_xy, dtype=np.float64)) / downsample
                _fill_polygon(mask, vertices_uv - 0.5, value)
    return mask


def polygon_mask(
    polygons_xy: Iterable[np.ndarray],
    shape_hw: tuple[int, int],
    origin_xy: tuple[float, float] = (0.0, 0.0),
    downsample: float = 1.0,
) -> np.ndarray:
    """Fills plain (N, 2) level-0 polygons into a boolean (H, W) mask, with the pixel-centre rule of :func:`rasterize`.

    The result is exact and translation invariant (unlike ``cv2.fillPoly``, which clips polygons to the image
    with rounded vertices), so regions drawn separately tile without seams.
    """
    mask = np.zeros(shape_hw, dtype=bool)  # (H, W)
    for vertices_xy in polygons_xy:
        vertices_uv = (np.asarray(vertices_xy, dtype=np.float64) - np.asarray(origin_xy, dtype=np.float64)) / downsample
        _fill_polygon(mask, vertices_uv - 0.5, True)
    return mask


def tumour_mask(
    path: str | Path,
    size_wh: tuple[int, int],
    downsample: float,
    group_roles: Mapping[str, GroupRole] | None = None,
) -> np.ndarray:
    """Reads an annotation file (ASAP XML or QuPath GeoJSON) and draws the whole slide's tumour mask.

    Args:
        path: The ``.xml`` / ``.geojson`` annotation file.
        size_wh: (width, height) of the slide's level 0 in px.
        downsample: Level-0 px per mask pixel, > 0.
        group_roles: Group name to role; defaults to the CAMELYON16/17 names (see ``read_annotations``).

    Returns:
        Boolean mask of shape (ceil(height / downsample), ceil(width / downsample)).

    Raises:
        AnnotationError: The annotation file cannot be read (see ``read_annotations``).
    """
    return rasterize(read_annotations(path, group_roles), size_wh, downsample)


def _fill_polygon(mask: np.ndarray, vertices_uv: np.ndarray, value: bool) -> None:
    """Sets the pixels whose centres (c, r) lie inside the polygon (even-odd, top-left rule) to value."""
    height, width = mask.shape
    u0, v0, u1, v1 = bounding_box(vertices_uv)
    row_start, row_stop = max(math.ceil(v0), 0), min(math.ceil(v1), height)
    col_start, col_stop = max(math.ceil(u0), 0), min(math.ceil(u1), width)
    if row_start >= row_stop or col_start >= col_stop:
        return
    rows, crossings = _scanline_crossings(vertices_uv, row_start, row_stop)
    order = np.lexsort((crossings, rows))
    rows, crossings = rows[order], crossings[order]
    # Each scanline has an even number of crossings; consecutive pairs bound the inside runs.
    run_rows = rows[0::2]
    starts = np.clip(np.ceil(crossings[0::2]), col_start, col_stop).astype(np.int64)
    stops = np.clip(np.ceil(crossings[1::2]), col_start, col_stop).astype(np.int64)
    # Runs never overlap within a row, so the running sum of +1 (run start) / -1 (run end) is 0 or 1.
    band = np.zeros((row_stop - row_start, col_stop - col_start + 1), dtype=np.int8)
    np.add.at(band, (run_rows - row_start, starts - col_start), 1)
    np.add.at(band, (run_rows - row_start, stops - col_start), -1)
    inside = np.cumsum(band, axis=1, dtype=np.int8)[:, :-1] > 0
    mask[row_start:row_stop, col_start:col_stop][inside] = value


def _scanline_crossings(vertices_uv: np.ndarray, row_start: int, row_stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each edge crosses the scanlines v = r, row_start <= r < row_stop.

    An edge from v_a to v_b (v_a < v_b) crosses scanline r when v_a <= r < v_b, so a vertex on a scanline
    is counted once by a passing boundary and zero or two times at an extremum; horizontal edges never.

    Returns:
        (rows, u): the scanline and the u coordinate of each crossing, both (K,).
    """
    start, end = vertices_uv, np.roll(vertices_uv, -1, axis=0)  # (N, 2) each: edge i runs start[i] -> end[i]
    low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    first = np.maximum(np.ceil(low), row_start).astype(np.int64)
    last = np.minimum(np.ceil(high), row_stop).astype(np.int64)  # exclusive
    counts = np.maximum(last - first, 0)
    edges = np.repeat(np.arange(len(start)), counts)  # (K,)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = first[edges] + offsets
    (ua, va), (ub, vb) = start[edges].T, end[edges].T
    u = ua + (rows - va) * (ub - ua) / (vb - va)
    return rows, u
