"""Hand-crafted slide features from a tumour-probability heatmap, in physical units (the paper's stage 4).

Per threshold (0.3 / 0.5 / 0.7 / 0.9 by default) the heatmap is binarised (after an optional average
filter, off as in the paper), regions closer than ``merge_um`` are merged (CAMELYON16: 75 um), connected
components are labelled with 8-connectivity and measured: count, total and largest area (mm^2), the largest
region's longest diameter as ellipse major axis and as maximum Feret diameter (mm), its mean and maximum
probability, and the share of non-tumour tissue in its neighbourhood (the paper's "negative density").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.measure import label, regionprops


@dataclass(frozen=True)
class FeatureSpec:
    """How features are computed.

    Attributes:
        thresholds: probability thresholds.
        average_filter_um: side of a box filter applied before thresholding (0: off, as in the paper).
        merge_um: regions closer than this are one region (0: no merging; 75 as in CAMELYON16).
        neighbourhood_um: ring around the largest region whose negative density is measured.
    """

    thresholds: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    average_filter_um: float = 0.0
    merge_um: float = 0.0
    neighbourhood_um: float = 200.0


_LARGEST = ("largest_area_mm2", "largest_major_axis_mm", "largest_feret_mm", "largest_mean_prob", "largest_max_prob")


def _regions(mask: np.ndarray, merge_px: float) -> np.ndarray:
    """8-connected labels of ``mask``; with ``merge_px`` > 0, components closer than it share a label."""
    if merge_px <= 0:
        return label(mask, connectivity=2)
    radius = int(np.ceil(merge_px / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = label(cv2.dilate(mask.astype(np.uint8), kernel).astype(bool), connectivity=2)
    return np.where(mask, grown, 0)


def threshold_features(
    heatmap: np.ndarray, tissue: np.ndarray, mpp: float, threshold: float, spec: FeatureSpec
) -> dict[str, float]:
    """Features of one threshold (names without the threshold prefix)."""
    mask = heatmap >= threshold
    labels = _regions(mask, spec.merge_um / mpp)
    props = regionprops(labels, intensity_image=heatmap)
    mm_per_px = mpp / 1000.0
    out = {"n_regions": float(len(props)), "total_area_mm2": float(mask.sum()) * mm_per_px**2}
    if not props:
        return out | dict.fromkeys(_LARGEST, 0.0) | {"negative_density": 1.0}
    big = max(props, key=lambda p: p.area)
    return out | {
        "largest_area_mm2": float(big.area) * mm_per_px**2,
        "largest_major_axis_mm": float(big.axis_major_length) * mm_per_px,
        "largest_feret_mm": float(big.feret_diameter_max) * mm_per_px,
        "largest_mean_prob": float(big.intensity_mean),
        "largest_max_prob": float(big.intensity_max),
        "negative_density": _negative_density(big, labels, mask, tissue, spec.neighbourhood_um / mpp),
    }


def _negative_density(big, labels: np.ndarray, tumour: np.ndarray, tissue: np.ndarray, ring_px: float) -> float:
    """Share of the tissue in a ring of ``ring_px`` around region ``big`` that is below the threshold.

    Works on the region's bounding box grown by the ring, so the cost follows the region, not the slide.
    """
    radius = max(1, int(np.ceil(ring_px)))
    r0, c0, r1, c1 = big.bbox
    rows = slice(max(r0 - radius, 0), min(r1 + radius, labels.shape[0]))
    cols = slice(max(c0 - radius, 0), min(c1 + radius, labels.shape[1]))
    region = labels[rows, cols] == big.label
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region & tissue[rows, cols]
    return float((ring & ~tumour[rows, cols]).sum() / ring.sum()) if ring.any() else 1.0


def slide_features(
    heatmap: np.ndarray, tissue: np.ndarray, mpp: float, spec: FeatureSpec = FeatureSpec()
) -> dict[str, float]:
    """All features of a slide, named ``t50_largest_feret_mm`` etc., plus threshold-free ones.

    Args:
        heatmap: (H, W) tumour probabilities.
        tissue: (H, W) bool tissue mask at the same resolution.
        mpp: heatmap micrometres per pixel.
        spec: the feature settings.
    """
    heatmap = np.asarray(heatmap, np.float32)
    if spec.average_filter_um > 0:
        side = max(1, int(round(spec.average_filter_um / mpp)))
        heatmap = cv2.blur(heatmap, (side, side))
    inside = heatmap[tissue] if tissue.any() else np.zeros(1, np.float32)
    features = {
        "max_prob": float(heatmap.max(initial=0.0)),
        "p99_prob": float(np.percentile(inside, 99)),
        "p95_prob": float(np.percentile(inside, 95)),
        "tissue_area_mm2": float(tissue.sum()) * (mpp / 1000) ** 2,
    }
    for t in spec.thresholds:
        prefix = f"t{int(round(t * 100)):02d}_"
        for name, value in threshold_features(heatmap, tissue, mpp, t, spec).items():
            features[prefix + name] = value
        features[prefix + "tumour_fraction"] = features[prefix + "total_area_mm2"] / max(
            features["tissue_area_mm2"], 1e-12
        )
    return features
