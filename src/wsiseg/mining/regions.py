"""False-positive regions of a heatmap: above a threshold, in tissue, and where a patch would hold no tumour."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def find_false_positives(
    heatmap: np.ndarray, tissue: np.ndarray, excluded: np.ndarray, threshold: float, per_slide: int, box: int
) -> list[tuple[int, int, float]]:
    """The most probable false-positive regions of one slide, a patch centre for each.

    A region is a connected (8-neighbour) set of heatmap pixels above ``threshold``, in tissue, where a
    ``box`` x ``box`` patch centred on the pixel would not touch ``excluded`` (annotated tumour grown by the
    sampling margin). Its centre is its most probable pixel.

    Args:
        heatmap: (H, W) tumour probabilities.
        tissue: (H, W) bool tissue mask.
        excluded: (H, W) bool: no patch may touch these pixels (tumour and its margin).
        threshold: probability above which a pixel is (falsely) called tumour.
        per_slide: at most this many regions, by decreasing maximum probability.
        box: the patch side in heatmap pixels.

    Returns:
        ``(x, y, max probability)`` per region, heatmap pixels, most probable first.
    """
    box = max(int(box), 1)
    if excluded.any():  # pixels whose centred box touches an excluded pixel
        near = cv2.dilate(excluded.astype(np.uint8), np.ones((box, box), np.uint8), anchor=(box // 2, box // 2)) > 0
    else:
        near = np.zeros(heatmap.shape, bool)
    candidates = (heatmap > threshold) & tissue & ~near
    labels, n = ndimage.label(candidates, structure=np.ones((3, 3), bool))
    if n == 0 or per_slide == 0:
        return []
    index = np.arange(1, n + 1)
    peaks = ndimage.maximum(heatmap, labels, index)
    where = ndimage.maximum_position(heatmap, labels, index)
    order = np.argsort(-np.asarray(peaks), kind="stable")[:per_slide]
    return [(int(where[i][1]), int(where[i][0]), float(peaks[i])) for i in order]
