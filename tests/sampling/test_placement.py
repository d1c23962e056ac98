import numpy as np

from wsiseg.sampling import covering_patches, normal_candidates, oversample


def test_single_tumour_pixel_gives_the_one_patch_around_it():
    mask = np.zeros((20, 20), bool)
    mask[5, 10] = True  # dilated: rows 4-6, cols 9-11 -> all in cell (x 8..11, y 4..7)
    assert covering_patches(mask, cells=4).tolist() == [[8, 4]]


def test_offset_grid_and_boundary_pixels():
    mask = np.zeros((20, 20), bool)
    mask[4, 8] = True  # dilated rows 3-5, cols 7-9 -> cells (4,0),(8,0),(4,4),(8,4) on a 4-grid
    assert covering_patches(mask, cells=4).tolist() == [[4, 0], [8, 0], [4, 4], [8, 4]]
    shifted = covering_patches(mask, cells=4, offset_plan=(1, 1))  # cells [1,5) [5,9) [9,13): cols 7-9, rows 3-5
    assert shifted.tolist() == [[5, 1], [9, 1], [5, 5], [9, 5]]
    mask[4, 8], mask[6, 6] = False, True  # dilated rows 5-7, cols 5-7: one shifted cell
    assert covering_patches(mask, cells=4, offset_plan=(1, 1)).tolist() == [[5, 5]]


def test_extra_points_cover_lesions_smaller_than_a_planning_pixel():
    empty = np.zeros((16, 16), bool)
    assert covering_patches(empty, 4).shape == (0, 2)
    assert covering_patches(empty, 4, extra_points=np.array([[13.2, 2.5]])).tolist() == [[12, 0]]


def test_normal_candidates_keep_the_margin():
    tissue = np.ones((10, 10), bool)
    tumour = np.zeros((10, 10), bool)
    tumour[5, 5] = True
    pts = normal_candidates(tissue, tumour, margin_plan=2.0)
    dist = np.hypot(pts[:, 0] - 5.5, pts[:, 1] - 5.5)
    assert dist.min() > 2.0 and len(pts) == 100 - 13  # the 13 pixels within distance 2 of (5, 5) excluded


def test_oversample_reaches_the_ratio_and_never_drops_tumour():
    rng = np.random.default_rng(0)
    reps = oversample(10, 40, 2.0, rng)  # 4N normals, ratio 2 -> 2N tumour uses: every patch twice
    assert reps.tolist() == [2] * 10
    reps = oversample(10, 40, 3.0, rng)  # round(40 / 3) = 13 uses
    assert reps.sum() == 13 and reps.min() == 1 and reps.max() == 2
    assert oversample(10, 5, 2.0, rng).tolist() == [1] * 10  # never below one use
