"""Rasterisation: pixel-centre convention, shapes, cut-outs, regions and the real annotation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.measure import points_in_poly

from wsiseg.annotations import Annotation, mask_shape_hw, polygon_area, rasterize, read_asap_xml, tumour_mask

from .asap_files import square

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "patient_004_node_4.xml"


def tumour(vertices, role="tumor"):
    return Annotation("a", "g", role, vertices)


def bounds(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_square_at_downsample_1_and_4():
    annotation = tumour(square(100, 100, 300, 300))
    full = rasterize([annotation], (400, 400), 1)
    assert full.dtype == bool and full.shape == (400, 400)
    assert full.sum() == 200 * 200 and bounds(full) == (100, 299, 100, 299)
    quarter = rasterize([annotation], (400, 400), 4)
    assert quarter.shape == (100, 100)
    assert quarter.sum() == 50 * 50 and bounds(quarter) == (25, 74, 25, 74)


def test_shape_is_ceil_based():
    assert mask_shape_hw((1001, 503), 4) == (126, 251)
    assert mask_shape_hw((1024, 512), 4) == (128, 256)
    assert mask_shape_hw((300, 3), 0.1) == (30, 3000)
    assert rasterize([], (1001, 503), 4).shape == (126, 251)
    assert rasterize([], (1001, 503), 2.5).shape == (202, 401)
    with pytest.raises(ValueError, match="downsample"):
        mask_shape_hw((10, 10), 0)


def test_triangle_counts_pixel_centres():
    # Centre (c + 0.5, r + 0.5) is strictly inside x + y < 10 when c + r <= 8: 9 + 8 + ... + 1 = 45 pixels.
    assert rasterize([tumour([(0, 0), (10, 0), (0, 10)])], (20, 20), 1).sum() == 45


def test_centres_on_edges_follow_top_left_rule_and_tile():
    # Edges through pixel centres: left/top edges are inside, right/bottom edges outside.
    on_centres = rasterize([tumour(square(100.5, 100.5, 300.5, 300.5))], (400, 400), 1)
    assert on_centres.sum() == 40000 and bounds(on_centres) == (100, 299, 100, 299)
    left, right = tumour(square(10.5, 10.5, 20.5, 30.5)), tumour(square(20.5, 10.5, 30.5, 30.5))
    a, b = rasterize([left], (40, 40), 1), rasterize([right], (40, 40), 1)
    assert not (a & b).any() and (a | b).sum() == 20 * 20 == a.sum() + b.sum()


def test_matches_point_in_polygon_on_random_star():
    rng = np.random.default_rng(1)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(20, 60, 40)
    star = np.stack([70 + radii * np.cos(angles), 65 + radii * np.sin(angles)], axis=1)
    downsample = 1.5
    mask = rasterize([tumour(star)], (150, 140), downsample)
    rows, cols = np.indices(mask.shape)
    centres_xy = np.stack([(cols.ravel() + 0.5) * downsample, (rows.ravel() + 0.5) * downsample], axis=1)
    expected = points_in_poly(centres_xy, star).reshape(mask.shape)
    assert np.array_equal(mask, expected)
    assert mask.sum() == pytest.approx(polygon_area(star) / downsample**2, rel=0.02)


def test_cut_out_is_removed_whatever_the_order():
    outer, hole = tumour(square(0, 0, 400, 400)), tumour(square(100, 100, 300, 300), role="exclude")
    for ordered in ([outer, hole], [hole, outer]):
        mask = rasterize(ordered, (400, 400), 1)
        assert mask.sum() == 400 * 400 - 200 * 200
        assert not mask[100:300, 100:300].any() and mask[:100].all()


def test_ignore_is_skipped_and_overlaps_are_united():
    ignored = tumour(square(0, 0, 50, 50), role="ignore")
    assert not rasterize([ignored], (100, 100), 1).any()
    overlapping = [tumour(square(0, 0, 60, 60)), tumour(square(40, 40, 100, 100))]
    assert rasterize(overlapping, (100, 100), 1).sum() == 2 * 3600 - 400


def test_polygons_outside_or_larger_than_the_region():
    outside = tumour(square(500, 500, 600, 600))
    assert not rasterize([outside], (100, 100), 1).any()
    huge = tumour(square(-1e9, -1e9, 1e9, 1e9))
    assert rasterize([huge], (100, 80), 2).all()
    partial = rasterize([tumour(square(-50, 90, 30, 500))], (100, 100), 1)
    assert partial.sum() == 30 * 10 and bounds(partial) == (90, 99, 0, 29)


def test_region_equals_crop_of_full_mask():
    annotations = [
        tumour([(30, 20), (230, 60), (180, 250), (40, 200)]),
        tumour(square(90, 90, 140, 140), role="exclude"),
        tumour(square(250, 10, 400, 300)),
    ]
    downsample = 2
    full = rasterize(annotations, (400, 300), downsample)
    origin_xy, size_wh = (64.0, 32.0), (220, 180)
    region = rasterize(annotations, size_wh, downsample, origin_xy=origin_xy)
    assert region.shape == (90, 110)
    assert np.array_equal(region, full[16 : 16 + 90, 32 : 32 + 110])
    assert region.any() and not region.all()


def test_tumour_mask_camelyon16_file(write_xml):
    path = write_xml(
        [
            ("t", "Polygon", "_0", square(0, 0, 400, 400)),
            ("t2", "Polygon", "_1", square(600, 0, 800, 200)),
            ("cut", "Polygon", "_2", square(100, 100, 300, 300)),
        ]
    )
    mask = tumour_mask(path, (1000, 500), 4)
    assert mask.shape == (125, 250)
    assert mask.sum() == 100 * 100 - 50 * 50 + 50 * 50
    assert not mask[25:75, 25:75].any() and mask[0:50, 150:200].all()


def test_tumour_mask_of_reference_file():
    downsample = 16
    mask = tumour_mask(REFERENCE, (20_000, 100_000), downsample)
    assert mask.shape == (6250, 1250)
    expected = sum(polygon_area(a.vertices_xy) for a in read_asap_xml(REFERENCE)) / downsample**2  # ~988
    assert mask.sum() == pytest.approx(expected, rel=0.05)
    rows, cols = np.nonzero(mask)
    assert rows.min() >= 75_345 / 16 - 1 and rows.max() <= 89_161 / 16
    assert cols.min() >= 10_626 / 16 - 1 and cols.max() <= 13_483 / 16
