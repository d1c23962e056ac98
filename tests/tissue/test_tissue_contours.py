"""clean_mask / find_contours on hand-drawn masks, and TissueParams helpers."""

from __future__ import annotations

import numpy as np
import pytest

from wsiseg.tissue import TissueParams
from wsiseg.tissue.contours import clean_mask, find_contours
from wsiseg.tissue.params import mm2_to_px, um_to_kernel_px


def _scene() -> np.ndarray:
    mask = np.zeros((100, 120), dtype=bool)
    mask[10:90, 10:90] = True  # an 80x80 piece
    mask[20:25, 20:25] = False  # small hole: 25 px
    mask[40:80, 40:80] = False  # big hole: 1600 px
    mask[55:65, 55:65] = True  # big island in the big hole: 100 px
    mask[45:47, 70:72] = True  # small island in the big hole: 4 px
    mask[5:7, 100:102] = True  # speck outside: 4 px
    mask[60:66, 100:106] = True  # piece outside: 36 px
    return mask


def test_clean_mask_drops_small_pieces_and_fills_small_holes() -> None:
    mask = _scene()
    cleaned = clean_mask(mask, min_piece_px=30, max_hole_px=100)
    expected = mask.copy()
    expected[20:25, 20:25] = True
    expected[45:47, 70:72] = False
    expected[5:7, 100:102] = False
    np.testing.assert_array_equal(cleaned, expected)
    assert mask[20, 20] == np.False_  # input untouched


def test_clean_mask_fills_everything_inside_a_filled_hole() -> None:
    cleaned = clean_mask(_scene(), min_piece_px=30, max_hole_px=10_000)
    assert cleaned[10:90, 10:90].all()


def test_clean_mask_on_empty_and_full_masks() -> None:
    assert not clean_mask(np.zeros((5, 5), bool), 1, 1).any()
    assert clean_mask(np.ones((5, 5), bool), 1, 1).all()


def test_find_contours_outer_and_holes() -> None:
    cleaned = clean_mask(_scene(), min_piece_px=30, max_hole_px=100)
    outers, holes = find_contours(cleaned)
    assert len(outers) == 3  # the big piece, its island, the outside piece
    assert len(holes) == 1
    big = max(outers, key=len)
    np.testing.assert_array_equal(big.min(axis=0), [10, 10])  # (x, y)
    np.testing.assert_array_equal(big.max(axis=0), [89, 89])
    assert find_contours(np.zeros((4, 4), bool)) == ((), ())


@pytest.mark.parametrize(("size_um", "mpp", "side"), [(40, 8, 5), (40, 16, 3), (64, 8, 9), (0, 8, 1), (3, 8, 1)])
def test_um_to_kernel_px(size_um: float, mpp: float, side: int) -> None:
    assert um_to_kernel_px(size_um, mpp) == side


def test_mm2_to_px() -> None:
    assert mm2_to_px(0.05, 8.0) == pytest.approx(0.05 / 0.008**2)


@pytest.mark.parametrize(
    "bad",
    [
        {"min_saturation": 1.5},
        {"opening_um": -1.0},
        {"min_area_mm2": -0.1},
        {"blue_hue_deg": (240.0, 200.0)},
        {"black_max_value": 300},
    ],
)
def test_params_validate(bad: dict) -> None:
    with pytest.raises(ValueError):
        TissueParams(**bad)


def test_params_are_frozen() -> None:
    with pytest.raises(AttributeError):
        TissueParams().min_saturation = 0.5  # type: ignore[misc]
