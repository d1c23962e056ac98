import numpy as np
import pytest

from wsiseg.inference import blend_window, group_cores, make_tile_grid, select_cores


def test_grid_by_hand():
    grid = make_tile_grid((1000, 800), slide_mpp=0.5, model_mpp=1.0, tile=64, heatmap_mpp=4.0, overlap=0.25)
    assert (grid.factor, grid.margin, grid.core, grid.core_hm) == (4, 8, 48, 12)
    assert grid.heatmap_hw == (100, 125)  # 400 x 500 um at 4 um/px
    assert grid.heatmap_mpp == 4.0
    # the tile whose core starts at heatmap (12, 24): model px (48 - 8, 96 - 8) -> level 0 at 0.5 um/px
    assert grid.tile_origin_level0(np.array([[12, 24]])).tolist() == [[80.0, 176.0]]


def test_heatmap_pixel_must_divide_the_tile():
    with pytest.raises(ValueError, match="divide the tile"):
        make_tile_grid((100, 100), 1.0, 1.0, tile=64, heatmap_mpp=3.0, overlap=0.0)
    with pytest.raises(ValueError, match="no core"):
        make_tile_grid((100, 100), 1.0, 1.0, tile=8, heatmap_mpp=4.0, overlap=0.9)


def test_select_cores_only_where_tissue():
    grid = make_tile_grid((400, 400), 1.0, 1.0, tile=20, heatmap_mpp=1.0, overlap=0.0)  # cores of 20 px
    tissue = np.zeros(grid.heatmap_hw, bool)
    tissue[25, 45] = True  # in core (40, 20)
    tissue[399, 399] = True  # in the last core (380, 380)
    assert select_cores(grid, tissue).tolist() == [[40, 20], [380, 380]]


def test_group_cores_into_blocks():
    cores = np.array([[0, 0], [10, 0], [40, 0], [0, 10], [50, 50]])
    groups = group_cores(cores, step=10, block=4)  # blocks of 40 x 40 heatmap px
    assert [sorted(g.tolist()) for g in groups] == [[0, 1, 3], [2], [4]]


def test_blend_windows():
    crop = blend_window(8, 2, "crop")
    assert crop.sum() == 16 and crop[2:6, 2:6].min() == 1
    tent = blend_window(8, 2, "weighted")
    assert tent.min() > 0 and tent[3, 3] == tent.max() and np.allclose(tent, tent.T)
    with pytest.raises(ValueError):
        blend_window(8, 2, "gauss")
