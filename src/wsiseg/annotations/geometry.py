"""Pure polygon geometry on (N, 2) arrays of (x, y) level-0 pixels (numpy and scipy)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import cdist


def _as_vertices(vertices_xy: ArrayLike) -> np.ndarray:
    """Returns the vertices as a float64 (N, 2) array or raises ValueError."""
    vertices = np.asarray(vertices_xy, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 2:
        raise ValueError(f"vertices_xy must have shape (N, 2), got {vertices.shape}")
    return vertices


def polygon_area(vertices_xy: ArrayLike) -> float:
    """Area of a closed polygon by the shoelace formula.

    Args:
        vertices_xy: (N, 2) vertices in order, implicitly closed; either orientation.

    Returns:
        The absolute area in px^2 (0.0 for fewer than 3 vertices). A self-intersecting polygon gives the
        signed sum of its loops' areas.
    """
    vertices = _as_vertices(vertices_xy)
    if len(vertices) < 3:
        return 0.0
    x, y = (vertices - vertices.mean(axis=0)).T  # centred for precision at slide-sized coordinates
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2.0)


def bounding_box(vertices_xy: ArrayLike) -> tuple[float, float, float, float]:
    """Axis-aligned bounding box of a set of vertices.

    Args:
        vertices_xy: (N, 2) vertices, N >= 1.

    Returns:
        (x0, y0, x1, y1): the minimum and maximum x and y, in px.

    Raises:
        ValueError: There are no vertices.
    """
    vertices = _as_vertices(vertices_xy)
    if len(vertices) == 0:
        raise ValueError("bounding_box needs at least one vertex")
    (x0, y0), (x1, y1) = vertices.min(axis=0), vertices.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def convex_hull(vertices_xy: ArrayLike) -> np.ndarray:
    """Convex hull (scipy's Qhull), with the degenerate inputs Qhull refuses handled here.

    Args:
        vertices_xy: (N, 2) points.

    Returns:
        (H, 2) hull vertices counter-clockwise in (x, y) axes, without collinear points or a repeated first
        point; the unique points themselves when there are fewer than 3, and the two ends of the segment when
        all points lie on one line.
    """
    points = np.unique(_as_vertices(vertices_xy), axis=0)  # sorted by x, then y
    if len(points) < 3:
        return points
    try:
        return points[ConvexHull(points).vertices]  # in 2-D, Qhull lists them counter-clockwise
    except QhullError:  # a flat input (all points on one line) has no 2-D hull: keep the segment's two ends
        first_end = points[np.argmax(((points - points[0]) ** 2).sum(axis=1))]  # farthest from any point: an end
        other_end = points[np.argmax(((points - first_end) ** 2).sum(axis=1))]
        return np.unique(np.stack([first_end, other_end]), axis=0)


def max_feret_diameter(vertices_xy: ArrayLike) -> float:
    """Maximum Feret diameter: the largest distance between any two vertices, exactly.

    The two farthest vertices are vertices of the convex hull, so the distances are taken between hull
    vertices only (scipy's ``cdist``, by blocks of rows so that memory stays bounded for hulls of many
    thousand vertices).

    Args:
        vertices_xy: (N, 2) vertices.

    Returns:
        The diameter in px (0.0 for fewer than 2 distinct vertices).
    """
    hull = convex_hull(vertices_xy)
    block = 2048
    squared = (cdist(hull[i : i + block], hull[i:], "sqeuclidean").max() for i in range(0, len(hull), block))
    return math.sqrt(max(squared, default=0.0))
