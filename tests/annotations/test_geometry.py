"""Polygon geometry against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsiseg.annotations import bounding_box, convex_hull, max_feret_diameter, polygon_area

from .asap_files import square

TRIANGLE_345 = [(0.0, 0.0), (4.0, 0.0), (0.0, 3.0)]
L_SHAPE = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 3), (0, 3)]  # 4x1 bar + 1x2 leg = 6 px^2


def test_area_of_square_triangle_and_l_shape():
    assert polygon_area(square(100, 100, 300, 300)) == 40000.0
    assert polygon_area(TRIANGLE_345) == 6.0
    assert polygon_area(L_SHAPE) == 6.0


def test_area_is_orientation_independent_and_exact_far_from_origin():
    assert polygon_area(square(100, 100, 300, 300)[::-1]) == 40000.0
    assert polygon_area(square(150_000.25, 90_000.5, 150_200.25, 90_100.5)) == 20000.0


def test_area_of_degenerate_input_is_zero():
    assert polygon_area([(0, 0), (5, 5)]) == 0.0
    assert polygon_area([(0, 0), (1, 1), (2, 2)]) == 0.0


def test_bounding_box():
    assert bounding_box(L_SHAPE) == (0.0, 0.0, 4.0, 3.0)
    assert bounding_box([(5.5, -2.0), (1.0, 7.25), (3.0, 0.0)]) == (1.0, -2.0, 5.5, 7.25)
    with pytest.raises(ValueError, match="at least one vertex"):
        bounding_box(np.zeros((0, 2)))


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        polygon_area([1.0, 2.0, 3.0])


def test_convex_hull_drops_interior_and_collinear_points():
    points = [*square(0, 0, 10, 10), (5, 5), (5, 0), (10, 5), (2, 7)]
    hull = convex_hull(points)
    assert sorted(map(tuple, hull.tolist())) == [(0, 0), (0, 10), (10, 0), (10, 10)]


def test_convex_hull_is_counter_clockwise():
    hull = convex_hull([(0, 0), (0, 3), (4, 0), (1, 1)])
    assert polygon_area(hull) == 6.0 and len(hull) == 3
    x, y = hull.T
    assert np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) > 0  # positive signed area: counter-clockwise


def test_convex_hull_of_degenerate_inputs():
    assert convex_hull([(2, 3)]).tolist() == [[2, 3]]
    assert convex_hull([(4, 5), (1, 1), (4, 5)]).tolist() == [[1, 1], [4, 5]]  # duplicates dropped, sorted
    assert convex_hull(np.zeros((0, 2))).shape == (0, 2)
    # collinear points (Qhull refuses them): the two ends of the segment, whatever their order in the input
    assert convex_hull([(3, 0), (0, 0), (7, 0), (5, 0)]).tolist() == [[0, 0], [7, 0]]
    assert convex_hull([(1, 4), (1, 1), (1, 9)]).tolist() == [[1, 1], [1, 9]]
    assert convex_hull([(2, 2), (0, 4), (4, 0), (1, 3)]).tolist() == [[0, 4], [4, 0]]


def test_feret_of_triangle_square_and_points():
    assert max_feret_diameter(TRIANGLE_345) == 5.0
    assert max_feret_diameter(square(100, 100, 300, 300)) == pytest.approx(200 * math.sqrt(2), abs=1e-12)
    assert max_feret_diameter([(1, 1), (4, 5)]) == 5.0
    assert max_feret_diameter([(2, 3), (2, 3)]) == 0.0
    assert max_feret_diameter([(0, 0), (3, 0), (7, 0)]) == 7.0  # collinear
    assert max_feret_diameter([(3, 4), (0, 0), (6, 8), (1.5, 2)]) == 10.0  # collinear, ends not first or last
    assert max_feret_diameter([(5, 5)]) == 0.0


def test_feret_ignores_interior_points_and_matches_brute_force():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 2)) * [400.0, 150.0] + [12_000.0, 80_000.0]
    brute = max(math.dist(p, q) for p in points.tolist() for q in points.tolist())
    assert max_feret_diameter(points) == pytest.approx(brute, rel=0, abs=1e-9)


def test_feret_of_many_vertex_circle():
    angles = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)  # even count: opposite points exist
    circle = np.stack([50 * np.cos(angles), 50 * np.sin(angles)], axis=1)
    assert max_feret_diameter(circle) == pytest.approx(100.0, abs=1e-9)
