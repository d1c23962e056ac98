"""TissueROI geometry (coverage, contains_xy) and the pure helpers, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from wsiseg.tissue import TissueROI
from wsiseg.tissue.geometry import box_coverage, integral_image, level0_to_pixels_xy, pixels_to_level0_xy

SCALE = 16.0  # level-0 pixels per mask pixel: mpp 8 over slide_mpp 0.5


@pytest.fixture
def rect_roi() -> TissueROI:
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:6, 4:10] = True  # rows 2-5, columns 4-9: 24 pixels
    return TissueROI(
        mask=mask,
        mpp=8.0,
        slide_mpp=0.5,
        contours_xy=(),
        holes_xy=(),
        otsu_threshold=0.2,
        saturation_threshold=0.2,
    )


def _box(x0: float, y0: float, width: float, height: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """A box given in mask pixels, returned as level-0 (origin_xy, size_wh)."""
    return (x0 * SCALE, y0 * SCALE), (width * SCALE, height * SCALE)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((4, 2, 6, 4), 1.0),  # exactly the rectangle
        ((1, 2, 6, 4), 0.5),  # columns 1-6: half of it tissue
        ((4.5, 2, 1, 1), 1.0),  # fractional, inside
        ((3.5, 2, 1, 1), 0.5),  # fractional, straddling the left edge
        ((3.5, 1.5, 1, 1), 0.25),  # straddling a corner
        ((0, 0, 20, 10), 24 / 200),  # the whole slide
        ((-10, -10, 20, 20), 24 / 400),  # partly outside the slide
        ((30, 30, 5, 5), 0.0),  # wholly outside
        ((11, 0, 5, 5), 0.0),  # background
    ],
)
def test_coverage_hand_computed(rect_roi: TissueROI, box, expected: float) -> None:
    origin_xy, size_wh = _box(*box)
    assert rect_roi.coverage(origin_xy, size_wh) == pytest.approx(expected)


def test_coverage_many_matches_coverage(rect_roi: TissueROI) -> None:
    rng = np.random.default_rng(0)
    origins = rng.uniform(-100, 350, (50, 2))
    size_wh = (64.0, 48.0)
    many = rect_roi.coverage_many(origins, size_wh)
    single = [rect_roi.coverage(tuple(o), size_wh) for o in origins]
    np.testing.assert_allclose(many, single)
    assert rect_roi.coverage_many(np.zeros((0, 2)), size_wh).shape == (0,)


def test_coverage_matches_brute_force_supersampling() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((12, 15)) < 0.4
    origins = rng.uniform(-3, 14, (20, 2))
    sizes = rng.uniform(0.5, 6, (20, 2))
    got = box_coverage(integral_image(mask), origins, sizes)
    for (x0, y0), (w, h), value in zip(origins, sizes, got, strict=True):
        xs = x0 + (np.arange(400) + 0.5) * w / 400
        ys = y0 + (np.arange(400) + 0.5) * h / 400
        cols, rows = np.floor(xs).astype(int), np.floor(ys).astype(int)
        col_ok, row_ok = (cols >= 0) & (cols < 15), (rows >= 0) & (rows < 12)
        inside = np.zeros((400, 400), dtype=bool)
        inside[np.ix_(row_ok, col_ok)] = mask[np.ix_(rows[row_ok], cols[col_ok])]
        assert value == pytest.approx(inside.mean(), abs=0.01)


def test_coverage_of_whole_pixel_boxes_by_hand() -> None:
    # the patch sampler's use: integer boxes on a planning mask, reaching outside it (outside is uncovered)
    mask = np.zeros((8, 8), bool)
    mask[0:4, 0:4] = True
    corners = np.array([[0, 0], [2, 2], [4, 4], [-2, -2], [6, 6]])
    assert box_coverage(integral_image(mask), corners, (4, 4)).tolist() == [1.0, 0.25, 0.0, 0.25, 0.0]


def test_coverage_rejects_empty_boxes(rect_roi: TissueROI) -> None:
    with pytest.raises(ValueError, match="> 0"):
        rect_roi.coverage((0, 0), (0, 10))


def test_contains_xy_hand_computed(rect_roi: TissueROI) -> None:
    points = np.array(
        [
            [(5 + 0.5) * SCALE, (3 + 0.5) * SCALE],  # centre of pixel (3, 5): tissue
            [(5 + 0.5) * SCALE, (1 + 0.5) * SCALE],  # pixel (1, 5): background
            [4 * SCALE, 2 * SCALE],  # top-left corner of the rectangle: tissue
            [4 * SCALE - 0.1, 2 * SCALE],  # just left of it: background
            [10 * SCALE - 0.1, 6 * SCALE - 0.1],  # just inside the bottom-right corner
            [10 * SCALE, 3 * SCALE],  # column 10: background
            [-5.0, 40.0],  # outside the slide
            [1e6, 1e6],  # outside the slide
        ]
    )
    expected = [True, False, True, False, True, False, False, False]
    np.testing.assert_array_equal(rect_roi.contains_xy(points), expected)


def test_roi_summary_properties(rect_roi: TissueROI) -> None:
    assert not rect_roi.is_empty
    assert rect_roi.shape_hw == (10, 20)
    assert rect_roi.scale == SCALE
    assert rect_roi.tissue_fraction == pytest.approx(24 / 200)
    assert rect_roi.area_mm2 == pytest.approx(24 * 0.008**2)
    with pytest.raises(ValueError):
        rect_roi.mask[0, 0] = True


def test_roi_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="mpp"):
        TissueROI(np.zeros((2, 2), bool), 0.0, 0.25, (), (), 0.1, 0.1)
    with pytest.raises(ValueError, match="H, W"):
        TissueROI(np.zeros((2, 2, 2), bool), 8.0, 0.25, (), (), 0.1, 0.1)


def test_pixel_level0_round_trip() -> None:
    pixels = np.array([[0, 0], [3, 7], [19, 9]])
    level0 = pixels_to_level0_xy(pixels, SCALE)
    np.testing.assert_allclose(level0, (pixels + 0.5) * SCALE)
    np.testing.assert_array_equal(level0_to_pixels_xy(level0, SCALE), pixels)
