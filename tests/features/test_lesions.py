"""Predicted lesions: exact pixel outlines, measurements in mm, size classes, level-0 placement, simplification."""

import numpy as np
import pytest

from wsiseg.annotations import rasterize
from wsiseg.annotations.shapes import annotations_area, polygon_annotations
from wsiseg.features.lesions import find_lesions, pixel_outline, predicted_lesions


def blobs(seed: int, shape=(120, 150)) -> np.ndarray:
    """Random blobs with holes and pixels touching only at corners."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) > 0.6
    mask[10:60, 10:80] = True
    mask[25:35, 30:40] = False  # a hole
    mask[60, 80] = True  # diagonal to (59, 79)
    return mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outline_rasterises_back_to_the_very_pixels(seed):
    mask = blobs(seed)
    outline = pixel_outline(mask)
    assert outline.is_valid and outline.area == mask.sum()
    records = polygon_annotations(outline, "x", "macro", "holes")
    back = rasterize(records, (mask.shape[1], mask.shape[0]), 1.0)  # pixel-centre rule, holes cut out
    assert np.array_equal(back, mask)


def test_measurements_classes_and_probabilities():
    heatmap = np.zeros((400, 700), np.float32)
    heatmap[10:70, 10:90] = 0.8  # 60 x 80 px at 4 um/px: 0.24 x 0.32 mm, Feret 100 px = 0.4 mm -> micro
    heatmap[30, 30] = 0.95
    heatmap[10:22, 150:162] = 0.6  # 12 x 12 px: Feret 0.068 mm -> itc
    heatmap[100:400, 100:700] = np.maximum(heatmap[100:400, 100:700], 0.7)  # 300 x 600 px: 2.7 mm -> macro
    heatmap[300:310, 300:310] = 0.2  # a hole in the macro-metastasis
    lesions = predicted_lesions(heatmap, heatmap_mpp=4.0, slide_mpp=0.25, threshold=0.5, simplify_um=0)
    assert [lesion.size_class for lesion in lesions] == ["macro", "micro", "itc"]  # largest first
    macro, micro, itc = lesions
    assert micro.pixels == 60 * 80 and micro.area_mm2 == pytest.approx(60 * 80 * 16e-6)
    assert micro.feret_mm == pytest.approx(0.4) and micro.max_prob == pytest.approx(0.95)
    assert micro.mean_prob == pytest.approx((0.8 * 4799 + 0.95) / 4800, rel=1e-5)
    assert macro.pixels == 300 * 600 - 100 and len(macro.geometry.interiors) == 1  # the hole is kept
    assert macro.feret_mm == pytest.approx(np.hypot(300, 600) * 0.004) and macro.max_prob == pytest.approx(0.7)
    assert itc.pixels == 144 and itc.feret_mm == pytest.approx(np.hypot(12, 12) * 0.004)


def test_lesions_land_on_the_level_0_pixels_of_a_heatmap_with_an_origin():
    heatmap = np.zeros((50, 50), np.float32)
    heatmap[10:20, 30:35] = 0.9
    (lesion,) = predicted_lesions(heatmap, heatmap_mpp=8.0, slide_mpp=0.5, simplify_um=0, origin_xy=(1000.0, 2000.0))
    # heatmap pixel (r, c) covers level-0 [c, c + 1) x [r, r + 1) times 16 px, from the origin
    assert lesion.geometry.bounds == (1000 + 30 * 16, 2000 + 10 * 16, 1000 + 35 * 16, 2000 + 20 * 16)
    area = annotations_area(polygon_annotations(lesion.geometry, "l", "itc", "holes"))
    assert area.area == 5 * 10 * 16 * 16


def test_simplified_outlines_stay_close_and_get_smaller():
    yy, xx = np.mgrid[:700, :700]
    heatmap = (((yy - 350) ** 2 + (xx - 330) ** 2 < 300**2) * 0.9).astype(np.float32)  # a 2.4 mm macro-metastasis
    exact, simple = (predicted_lesions(heatmap, 4.0, 0.25, 0.5, tol)[0] for tol in (0.0, 2.0))
    mask = heatmap >= 0.5
    for lesion, most in ((exact, 1.0), (simple, 1.0)):
        back = rasterize(polygon_annotations(lesion.geometry, "l", "macro", "holes"), (700 * 16, 700 * 16), 16.0)
        iou = (back & mask).sum() / (back | mask).sum()
        assert iou >= 0.95 and iou <= most
    assert len(simple.geometry.exterior.coords) < 0.7 * len(exact.geometry.exterior.coords)
    assert simple.geometry.is_valid and simple.area_mm2 == exact.area_mm2  # measurements come from the pixels


def test_nothing_above_the_threshold_is_no_lesion():
    assert predicted_lesions(np.full((30, 30), 0.49, np.float32), 4.0, 0.25, 0.5) == []
    assert predicted_lesions(np.zeros((0, 0), np.float32), 4.0, 0.25) == []


def specks_and_a_lesion() -> np.ndarray:
    """A fragmented heatmap: 2500 one-pixel specks on a grid (16 um2 each at 4 um/px), 28 of them inside one
    17 x 28 px region that touches no other."""
    heatmap = np.zeros((200, 200), np.float32)
    heatmap[::4, ::4] = 0.6  # isolated: 8-connected regions of one pixel
    heatmap[102:119, 102:130] = 0.9
    return heatmap


def test_a_fragmented_heatmap_is_limited_to_its_largest_regions():
    heatmap = specks_and_a_lesion()
    every = predicted_lesions(heatmap, 4.0, 0.25)
    assert len(every) == 1 + 2500 - 28
    search = find_lesions(heatmap, 4.0, 0.25, max_lesions=10)
    assert search.regions == len(every) and search.over_limit == len(every) - 10 and search.too_small == 0
    assert [lesion.pixels for lesion in search.lesions] == [17 * 28] + [1] * 9
    # the same lesions as the unlimited search, in the same order (largest first, then top to bottom)
    assert [lesion.geometry.bounds for lesion in search.lesions] == [lesion.geometry.bounds for lesion in every[:10]]
    assert find_lesions(heatmap, 4.0, 0.25, max_lesions=0).lesions == []


def test_regions_under_the_minimum_area_are_left_out():
    heatmap = specks_and_a_lesion()
    search = find_lesions(heatmap, 4.0, 0.25, min_area_um2=17.0, max_lesions=10)  # one pixel: 16 um2
    assert [lesion.pixels for lesion in search.lesions] == [17 * 28]
    assert search.too_small == 2472 and search.over_limit == 0 and search.regions == 2473
    assert find_lesions(heatmap, 4.0, 0.25, min_area_um2=16.0).too_small == 0  # at the minimum: kept


def test_the_outline_of_a_region_riddled_with_holes_keeps_every_hole_and_its_area():
    # an undertrained model's region: one blob with hundreds of one-pixel and larger holes (the plain
    # Douglas-Peucker runs; the topology-preserving one, seconds per slide on such regions, only when it must)
    from wsiseg.features.lesions import pixel_outline, simplified

    rng = np.random.default_rng(0)
    region = np.ones((120, 160), bool)
    region[rng.integers(2, 118, 400), rng.integers(2, 158, 400)] = False  # single-pixel holes
    region[40:44, 50:56] = False
    outline = pixel_outline(region)
    result = simplified(outline, 0.5)
    assert result.is_valid and len(result.interiors) == len(outline.interiors) > 300
    assert result.area == pytest.approx(outline.area, rel=1e-3) and result.area == pytest.approx(region.sum(), rel=1e-3)
