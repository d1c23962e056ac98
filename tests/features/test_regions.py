import cv2
import numpy as np
import pytest

from wsiseg.features import FeatureSpec, slide_features

MPP = 4.0  # um per heatmap pixel


def canvas(shape=(600, 800)):
    return np.zeros(shape, np.float32), np.ones(shape, bool)


def disc(heatmap, centre, radius_px, value):
    cv2.circle(heatmap, centre, radius_px, float(value), -1)


def test_disc_sizes_in_millimetres():
    heatmap, tissue = canvas()
    disc(heatmap, (300, 300), 100, 0.8)  # 200 px = 0.8 mm across
    disc(heatmap, (650, 100), 10, 0.95)  # small and very confident
    f = slide_features(heatmap, tissue, MPP)
    assert f["t50_n_regions"] == 2 and f["t90_n_regions"] == 1
    assert f["t50_largest_major_axis_mm"] == pytest.approx(0.8, rel=0.05)
    assert f["t50_largest_feret_mm"] == pytest.approx(0.8, rel=0.05)
    assert f["t50_largest_area_mm2"] == pytest.approx(np.pi * 0.4**2, rel=0.05)
    assert f["t90_largest_feret_mm"] == pytest.approx(21 * MPP / 1000, rel=0.1)
    assert f["t50_largest_mean_prob"] == pytest.approx(0.8) and f["max_prob"] == pytest.approx(0.95)
    assert f["t50_tumour_fraction"] == pytest.approx(f["t50_total_area_mm2"] / f["tissue_area_mm2"])


def test_rectangle_feret_is_its_diagonal():
    heatmap, tissue = canvas()
    heatmap[100:160, 200:280] = 0.6  # 60 x 80 px
    f = slide_features(heatmap, tissue, MPP, FeatureSpec(thresholds=(0.5,)))
    assert f["t50_largest_feret_mm"] == pytest.approx(np.hypot(60, 80) * MPP / 1000, rel=0.05)
    assert f["t50_largest_area_mm2"] == pytest.approx(60 * 80 * (MPP / 1000) ** 2)


def test_merge_distance_joins_close_regions_only():
    heatmap, tissue = canvas()
    disc(heatmap, (200, 200), 20, 0.9)
    disc(heatmap, (252, 200), 20, 0.9)  # gap 10 px = 40 um < 75 um
    disc(heatmap, (500, 200), 20, 0.9)  # far away
    plain = slide_features(heatmap, tissue, MPP, FeatureSpec(thresholds=(0.5,)))
    merged = slide_features(heatmap, tissue, MPP, FeatureSpec(thresholds=(0.5,), merge_um=75))
    assert plain["t50_n_regions"] == 3 and merged["t50_n_regions"] == 2
    assert merged["t50_largest_feret_mm"] == pytest.approx((52 + 41) * MPP / 1000, rel=0.05)
    assert merged["t50_total_area_mm2"] == plain["t50_total_area_mm2"]  # merging adds no area


def test_negative_density_of_the_neighbourhood():
    heatmap, tissue = canvas()
    disc(heatmap, (300, 300), 30, 0.9)
    lonely = slide_features(heatmap, tissue, MPP, FeatureSpec(thresholds=(0.5,)))
    for angle in np.linspace(0, 2 * np.pi, 12, endpoint=False):  # satellites within 200 um (50 px)
        disc(heatmap, (int(300 + 45 * np.cos(angle)), int(300 + 45 * np.sin(angle))), 8, 0.9)
    crowded = slide_features(heatmap, tissue, MPP, FeatureSpec(thresholds=(0.5,)))
    assert lonely["t50_negative_density"] == 1.0 and crowded["t50_negative_density"] < 0.9
    assert crowded["t50_n_regions"] == 13


def test_empty_heatmap_and_average_filter():
    heatmap, tissue = canvas()
    f = slide_features(heatmap, tissue, MPP)
    assert f["t30_n_regions"] == 0 and f["t30_largest_feret_mm"] == 0 and f["max_prob"] == 0
    heatmap[100, 100] = 1.0  # a single hot pixel disappears under a 5-pixel average filter
    assert slide_features(heatmap, tissue, MPP, FeatureSpec(average_filter_um=20))["t50_n_regions"] == 0
    assert slide_features(heatmap, tissue, MPP)["t50_n_regions"] == 1


def test_pixel_feret_diameter_is_exact_on_pixel_squares():
    from wsiseg.features.regions import pixel_feret_diameter

    region = np.zeros((200, 200), bool)
    region[10:70, 20:100] = True  # 60 x 80 px
    assert pixel_feret_diameter(region) == pytest.approx(100.0)
    single = np.zeros((5, 5), bool)
    single[2, 2] = True
    assert pixel_feret_diameter(single) == pytest.approx(np.sqrt(2))
    assert pixel_feret_diameter(np.zeros((5, 5), bool)) == 0.0
