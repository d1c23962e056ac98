"""False-positive regions: above the threshold, in tissue, where a patch would hold no tumour; peaks first."""

import numpy as np

from wsiseg.mining import find_false_positives


def blob(heatmap, x, y, peak, r=3):
    yy, xx = np.mgrid[: heatmap.shape[0], : heatmap.shape[1]]
    heatmap[:] = np.maximum(heatmap, peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * r * r)))


def scene():
    heatmap = np.zeros((100, 120), np.float32)
    tissue = np.zeros((100, 120), bool)
    tissue[:, :90] = True  # columns 90+ are glass
    tumour = np.zeros((100, 120), bool)
    tumour[40:50, 60:70] = True  # an annotated lesion (already grown by its margin)
    for x, y, p, r in ((20, 20, 0.9, 3), (20, 70, 0.7, 3), (64, 51, 0.95, 1), (105, 20, 0.99, 3), (45, 85, 0.55, 3)):
        blob(heatmap, x, y, p, r)
    heatmap[42:48, 62:68] = 0.98  # the lesion itself, found
    return heatmap, tissue, tumour


def test_regions_come_most_probable_first_at_their_peaks():
    heatmap, tissue, tumour = scene()
    found = find_false_positives(heatmap, tissue, tumour, threshold=0.5, per_slide=10, box=8)
    # a patch on the lesion or on its neighbour at (64, 51) would touch the tumour; (105, 20) is on glass
    assert [(x, y) for x, y, _ in found] == [(20, 20), (20, 70), (45, 85)]
    assert [round(p, 2) for _, _, p in found] == [0.9, 0.7, 0.55]


def test_the_count_threshold_and_box_are_respected():
    heatmap, tissue, tumour = scene()
    assert [(x, y) for x, y, _ in find_false_positives(heatmap, tissue, tumour, 0.5, 2, 8)] == [(20, 20), (20, 70)]
    assert [(x, y) for x, y, _ in find_false_positives(heatmap, tissue, tumour, 0.8, 10, 8)] == [(20, 20)]
    # larger patches: every centre keeps its box clear of the tumour
    big = find_false_positives(heatmap, tissue, tumour, 0.5, 10, 24)
    assert (20, 20) in [(x, y) for x, y, _ in big]
    assert all(not tumour[max(y - 12, 0) : y + 12, max(x - 12, 0) : x + 12].any() for x, y, _ in big)
    assert find_false_positives(np.zeros((10, 10)), np.ones((10, 10), bool), np.zeros((10, 10), bool), 0.5, 5, 3) == []
