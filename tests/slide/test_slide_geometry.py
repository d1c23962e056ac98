from __future__ import annotations

import numpy as np
import pytest

from wsiseg.slide import group_tiles, level_for_mpp, read_window, tile_grid
from wsiseg.slide.geometry import clip_window, level0_location, level_origin

MPPS = [0.243, 0.486, 0.972, 1.944]


@pytest.mark.parametrize(
    ("target", "expected"),
    [(1.0, 2), (0.486, 1), (0.4858, 1), (0.485, 0), (0.2, 0), (0.243, 0), (100.0, 3), (1.944, 3)],
)
def test_level_for_mpp(target: float, expected: int) -> None:
    assert level_for_mpp(MPPS, target) == expected


def test_level_for_mpp_unsorted_levels() -> None:
    assert level_for_mpp([0.5, 2.0, 1.0], 1.5) == 2


def test_read_window_resampled_hand_computed() -> None:
    # level 2 of a 0.243 slide (0.972 um/px, downsample 4), 100 x 50 px at 1 um/px from (1000, 2000):
    # start (250, 500) level px, extent (102.88, 51.44) level px; shrinking: no margin, exact start.
    window = read_window((1000, 2000), (100, 50), 1.0, 0.972, 4.0)
    assert window.level_origin_xy == (250, 500)
    assert window.level_size_wh == (353 - 250, 552 - 500)
    assert window.scale == pytest.approx(0.972)
    assert window.offset_xy == pytest.approx((0.0, 0.0))


def test_read_window_snaps_float_noise_to_whole_pixels() -> None:
    # (24 - 4) * 7.776 / 3.888 = 39.99999999999999 must read from level pixel 40, like 40 itself
    noisy = read_window((424.0, (24 - 4) * 7.776 / 3.888), (80, 56), 7.776, 3.888, 1.0)
    assert noisy == read_window((424, 40), (80, 56), 7.776, 3.888, 1.0)
    assert noisy.level_origin_xy == (424, 40) and noisy.offset_xy == (0.0, 0.0)


def test_read_window_native_is_exact() -> None:
    window = read_window((10, 20), (5, 7), 0.5, 0.5, 1.0)
    assert window == ((10, 20), (5, 7), 1.0, (0.0, 0.0))


def test_read_window_fractional_start_no_resampling() -> None:
    # level 1 (downsample 2) read at its own mpp from x = 11 -> level x 5.5: window 5..10, offset 0.5
    window = read_window((11, 20), (4, 4), 0.486, 0.486, 2.0)
    assert window.level_origin_xy == (5, 10)
    assert window.level_size_wh == (5, 4)
    assert window.offset_xy == (0.5, 0.0)


def test_read_window_enlarging() -> None:
    # 0.5 um/px level read at 0.25 um/px: 2 output px per level px; 8 output px = 4 level px (+ margins)
    window = read_window((3, 0), (8, 8), 0.25, 0.5, 1.0)
    assert window.level_origin_xy == (2, -1)
    assert window.level_size_wh == (6, 6)
    assert window.scale == 2.0
    assert window.offset_xy == (2.0, 2.0)


@pytest.mark.parametrize("downsample", [1.0, 2.0, 4.0, 2.0017, 3.9998, 16.5])
def test_level0_location_round_trips(downsample: float) -> None:
    for value in [0, 1, 5, 7, 1234, 99_999]:
        location = level0_location((value, value), downsample)
        assert level_origin(location, downsample) == (value, value)
        assert level_origin((location[0] - 1, location[1] - 1), downsample) == (value - 1, value - 1)
    assert level0_location((5, 7), 2.0) == (10, 14)
    assert level0_location((5, 0), 2.0017) == (11, 0)


def test_clip_window() -> None:
    assert clip_window((-2, 3), (5, 5), (10, 6)) == ((0, 3, 3, 6), (2, 0))
    assert clip_window((8, 0), (5, 5), (10, 6)) == ((8, 0, 10, 5), (0, 0))
    assert clip_window((10, 0), (5, 5), (10, 6)) is None
    assert clip_window((-5, 0), (5, 5), (10, 6)) is None


def test_tile_grid() -> None:
    grid = tile_grid((10, 6), (4, 4), (4, 4), origin_xy=(100, 200))
    expected = [(100, 200), (104, 200), (108, 200), (100, 204), (104, 204), (108, 204)]
    np.testing.assert_array_equal(grid, expected)
    assert grid.dtype == np.int64
    assert len(tile_grid((3, 3), (4, 4), (2, 2))) == 1  # smaller than a tile: one tile
    np.testing.assert_array_equal(tile_grid((8, 4), (4, 4), (2, 4))[:, 0], [0, 2, 4])  # overlap


def test_group_tiles_dense_grid() -> None:
    origins = tile_grid((60, 60), (10, 10), (10, 10))  # 6 x 6 tiles
    blocks = group_tiles(origins, (10, 10), (20, 20))
    assert len(blocks) == 9
    first_origin, first_size, first_indices = blocks[0]
    assert first_origin == (0.0, 0.0)
    assert first_size == (20.0, 20.0)
    np.testing.assert_array_equal(first_indices, [0, 1, 6, 7])
    assert blocks[-1][0] == (40.0, 40.0)
    assert sorted(np.concatenate([b[2] for b in blocks]).tolist()) == list(range(36))


def test_group_tiles_scattered() -> None:
    origins = np.array([[105, 3], [0, 0], [7, 12], [300, 300]])
    blocks = group_tiles(origins, (10, 10), (50, 50))
    assert [b[2].tolist() for b in blocks] == [[1, 2], [0], [3]]
    assert blocks[0][:2] == ((0.0, 0.0), (17.0, 22.0))
    assert group_tiles(np.zeros((0, 2)), (10, 10), (50, 50)) == []
