"""Pure polygon geometry on (N, 2) arrays of (x, y) level-0 pixels (numpy only)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


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
    """Convex hull by Andrew's monotone chain.

    Args:
        vertices_xy: (N, 2) points.

    Returns:
        (H, 2) hull vertices counter-clockwise in (x, y) axes, without collinear points or a repeated first
        point; the unique points themselves when there are fewer than 3.
    """
    points = np.unique(_as_vertices(vertices_xy), axis=0)  # sorted by x, then y
    if len(points) < 3:
        return points
    lower = _half_hull(points)
    upper = _half_hull(points[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def _half_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """One chain of the monotone-chain hull over points sorted along x."""
    chain: list[tuple[float, float]] = []
    for x, y in points.tolist():
        while len(chain) >= 2:
            (ax, ay), (bx, by) = chain[-2], chain[-1]
            if (bx - ax) * (y - ay) - (by - ay) * (x - ax) > 0:
                break
            chain.pop()
        chain.append((x, y))
    return chain


def max_feret_diameter(vertices_xy: ArrayLike) -> float:
    """Maximum Feret diameter: the largest distance between any two vertices.

    The two farthest vertices are an antipodal pair of the convex hull, found by rotating calipers in
    O(N log N) overall.

    Args:
        vertices_xy: (N, 2) vertices.

    Returns:
        The diameter in px (0.0 for fewer than 2 distinct vertices).
    """
    hull = convex_hull(vertices_xy).tolist()
    if len(hull) < 3:
        return math.dist(hull[0], hull[-1]) if hull else 0.0
    count, j, best = len(hull), 1, 0.0
    for i in range(count):
        a, b = hull[i], hull[(i + 1) % count]
        # Advance j while it moves away from the edge a-b (twice the triangle area grows).
        while _cross(a, b, hull[(j + 1) % count]) > _cross(a, b, hull[j]):
            j = (j + 1) % count
        best = max(best, math.dist(a, hull[j]), math.dist(b, hull[j]))
    return best


def _cross(a: list[float], b: list[float], c: list[float]) -> float:
    """Twice the signed area of the triangle a, b, c (positive when counter-clockwise)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
