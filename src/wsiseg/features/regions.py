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
from scipy import ndimage
from skimage.measure import regionprops

from wsiseg.annotations import max_feret_diameter


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

    def __post_init__(self) -> None:
        """Normalise types (a config's ``[0.5]`` or ``0`` equals ``(0.5,)`` or ``0.0``: one cache key)."""
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        for name in ("average_filter_um", "merge_um", "neighbourhood_um"):
            object.__setattr__(self, name, float(getattr(self, name)))


_LARGEST = ("largest_area_mm2", "largest_major_axis_mm", "largest_feret_mm", "largest_mean_prob", "largest_max_prob")


def _components(mask: np.ndarray, merge_px: float) -> tuple[int, np.ndarray]:
    """8-connected components of ``mask`` as (count, int32 labels).

    With ``merge_px`` > 0, components closer than it share a label; merging adds no area (pixels outside
    ``mask`` keep label 0).
    """
    mask_u8 = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    if merge_px <= 0:
        n, labels = cv2.connectedComponents(mask_u8, connectivity=8, ltype=cv2.CV_32S)
        return n - 1, labels
    radius = int(np.ceil(merge_px / 2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    n, grown = cv2.connectedComponents(cv2.dilate(mask_u8, kernel), connectivity=8, ltype=cv2.CV_32S)
    labels = np.where(mask, grown, 0).astype(np.int32)
    return int(np.count_nonzero(np.bincount(labels.ravel())[1:])), labels


def threshold_features(
    heatmap: np.ndarray, tissue: np.ndarray, mpp: float, threshold: float, spec: FeatureSpec
) -> dict[str, float]:
    """Features of one threshold (names without the threshold prefix).

    Connected components are found with OpenCV; only the largest region is measured further (ellipse,
    Feret diameter, probabilities, neighbourhood) on its own bounding box, so the cost follows the regions.
    """
    mask = heatmap >= threshold
    n, labels = _components(mask, spec.merge_um / mpp)
    mm_per_px = mpp / 1000.0
    out = {"n_regions": float(n), "total_area_mm2": float(mask.sum()) * mm_per_px**2}
    if n == 0:
        return out | dict.fromkeys(_LARGEST, 0.0) | {"negative_density": 1.0}
    areas = np.bincount(labels.ravel())
    areas[0] = 0
    big_label = int(areas.argmax())
    biggest = labels == big_label
    box = ndimage.find_objects(labels, max_label=big_label)[big_label - 1]  # the region's bounding box
    region = biggest[box]
    (big,) = regionprops(region.astype(np.uint8), intensity_image=heatmap[box])
    return out | {
        "largest_area_mm2": float(areas[big_label]) * mm_per_px**2,
        "largest_major_axis_mm": float(big.axis_major_length) * mm_per_px,
        "largest_feret_mm": pixel_feret_diameter(region) * mm_per_px,
        "largest_mean_prob": float(big.intensity_mean),
        "largest_max_prob": float(big.intensity_max),
        "negative_density": _negative_density(box, biggest, mask, tissue, spec.neighbourhood_um / mpp),
    }


_CORNERS = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])


def pixel_feret_diameter(region: np.ndarray) -> float:
    """Maximum Feret diameter (px) of a region taken as the union of its pixel squares.

    OpenCV's convex hull of the boundary pixel centres, widened by the pixel corners, then
    :func:`~wsiseg.annotations.max_feret_diameter` (the one Feret diameter of wsiseg): a 60 x 80 px
    rectangle measures exactly 100 px, a disc of n px across measures n.
    """
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    hull = cv2.convexHull(np.concatenate(contours)).reshape(-1, 2).astype(np.float64)  # (K, 2) x, y
    return max_feret_diameter((hull[:, None, :] + _CORNERS[None]).reshape(-1, 2))


def _negative_density(
    box: tuple[slice, slice], region: np.ndarray, tumour: np.ndarray, tissue: np.ndarray, ring_px: float
) -> float:
    """Share of the tissue in a ring of ``ring_px`` around ``region`` (inside ``box``) that is below the threshold.

    Works on the region's bounding box grown by the ring, so the cost follows the region, not the slide.
    """
    radius = max(1, int(np.ceil(ring_px)))
    rows = slice(max(box[0].start - radius, 0), min(box[0].stop + radius, region.shape[0]))
    cols = slice(max(box[1].start - radius, 0), min(box[1].stop + radius, region.shape[1]))
    inside = np.ascontiguousarray(region[rows, cols])
    distance = cv2.distanceTransform((~inside).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ring = (distance <= radius) & ~inside & tissue[rows, cols]
    return float((ring & ~tumour[rows, cols]).sum() / ring.sum()) if ring.any() else 1.0


def _crop_box(heatmap: np.ndarray, low: float, margin: int) -> tuple[slice, slice] | None:
    """The bounding box of ``heatmap >= low`` grown by ``margin`` px (None when nothing reaches ``low``)."""
    boxes = ndimage.find_objects((heatmap >= low).view(np.uint8))  # one box: of every pixel labelled 1
    if not boxes:
        return None
    (rows, cols), (h, w) = boxes[0], heatmap.shape
    grown_rows = slice(max(rows.start - margin, 0), min(rows.stop + margin, h))
    return grown_rows, slice(max(cols.start - margin, 0), min(cols.stop + margin, w))


def slide_features(
    heatmap: np.ndarray, tissue: np.ndarray, mpp: float, spec: FeatureSpec = FeatureSpec()
) -> dict[str, float]:
    """All features of a slide, named ``t50_largest_feret_mm`` etc., plus threshold-free ones.

    Region features are computed on the box around everything above the lowest threshold (grown by the
    neighbourhood ring and the merge distance): a heatmap is mostly zeros, and the rest is not looked at.

    Args:
        heatmap: (H, W) tumour probabilities.
        tissue: (H, W) bool tissue mask at the same resolution.
        mpp: heatmap micrometres per pixel.
        spec: the feature settings.
    """
    heatmap = np.asarray(heatmap, np.float32)
    tissue = np.asarray(tissue, bool)
    if heatmap.shape != tissue.shape:
        raise ValueError(f"heatmap {heatmap.shape} and tissue mask {tissue.shape} differ in shape")
    if spec.average_filter_um > 0:
        side = max(1, int(round(spec.average_filter_um / mpp)))
        heatmap = cv2.blur(heatmap, (side, side))
    inside = heatmap[tissue] if tissue.any() else np.zeros(1, np.float32)
    p95, p99 = np.percentile(inside, [95, 99])
    features = {
        "max_prob": float(heatmap.max(initial=0.0)),
        "p99_prob": float(p99),
        "p95_prob": float(p95),
        "tissue_area_mm2": float(tissue.sum()) * (mpp / 1000) ** 2,
    }
    margin = int(np.ceil((spec.neighbourhood_um + spec.merge_um) / mpp)) + 2
    box = _crop_box(heatmap, min(spec.thresholds), margin) if spec.thresholds else None
    if box is None:  # nothing above any threshold: empty crop, same features
        box = (slice(0, 1), slice(0, 1))
        heatmap, tissue = np.zeros((1, 1), np.float32), np.zeros((1, 1), bool)
    for t in spec.thresholds:
        prefix = f"t{int(round(t * 100)):02d}_"
        for name, value in threshold_features(heatmap[box], tissue[box], mpp, t, spec).items():
            features[prefix + name] = value
        features[prefix + "tumour_fraction"] = features[prefix + "total_area_mm2"] / max(
            features["tissue_area_mm2"], 1e-12
        )
    return features


def lesion_detections(heatmap: np.ndarray, mpp: float, threshold: float = 0.5, merge_um: float = 0.0) -> np.ndarray:
    """Candidate lesions for a FROC: one per region of ``heatmap >= threshold``.

    Each region gives its most probable pixel: ``(x_um, y_um, probability)`` with the pixel centre in
    micrometres from the slide's origin (the heatmap's pixel ``(r, c)`` covers ``[c, c + 1) * mpp``).

    Returns:
        (N, 3) float64 array, most probable first.
    """
    heatmap = np.asarray(heatmap, np.float32)
    box = _crop_box(heatmap, threshold, 0)
    if box is None:
        return np.zeros((0, 3))
    crop = heatmap[box]
    n, labels = _components(crop >= threshold, merge_um / mpp)
    if n == 0:
        return np.zeros((0, 3))
    index = np.flatnonzero(np.bincount(labels.ravel())[1:]) + 1  # the labels present (merging leaves gaps)
    peaks = np.array(ndimage.maximum_position(crop, labels, index), float).reshape(-1, 2)  # (n, 2) row, col
    values = np.asarray(ndimage.maximum(crop, labels, index), float).reshape(-1)
    out = np.column_stack(((peaks[:, 1] + box[1].start + 0.5) * mpp, (peaks[:, 0] + box[0].start + 0.5) * mpp, values))
    return out[np.argsort(-out[:, 2], kind="stable")]
