import cv2
import numpy as np
import pytest

from wsiseg.features import lesion_detections

MPP = 4.0


def test_one_detection_per_region_at_its_most_probable_pixel():
    heatmap = np.zeros((300, 400), np.float32)
    cv2.circle(heatmap, (100, 80), 20, 0.7, -1)
    heatmap[85, 110] = 0.95  # the peak of the first region
    cv2.circle(heatmap, (300, 200), 10, 0.6, -1)
    cv2.circle(heatmap, (50, 250), 3, 0.3, -1)  # below the threshold
    found = lesion_detections(heatmap, MPP, threshold=0.5)
    assert found.shape == (2, 3)
    np.testing.assert_allclose(found[0], [(110 + 0.5) * MPP, (85 + 0.5) * MPP, 0.95], rtol=1e-6)
    assert found[1, 2] == pytest.approx(0.6)
    assert lesion_detections(np.zeros((5, 5)), MPP).shape == (0, 3)


def test_merge_distance_joins_detections():
    heatmap = np.zeros((100, 200), np.float32)
    heatmap[50, 50] = 0.9
    heatmap[50, 60] = 0.8  # 40 um away
    assert len(lesion_detections(heatmap, MPP, 0.5)) == 2
    merged = lesion_detections(heatmap, MPP, 0.5, merge_um=75)
    assert len(merged) == 1 and merged[0, 2] == pytest.approx(0.9)
