"""CAMELYON16 lesion-level FROC, as the challenge's official ``Evaluation_FROC.py`` computes it.

- Each annotated lesion is grown by 75/2 um (the size of about 5 tumour cells; nearby lesions merge), holes
  are filled and the result is labelled with 8-connectivity: the *evaluation mask*.
- Lesions whose major axis is under 275 um (200 um + the 75 um growth) are isolated tumour cells: a detection
  on one counts neither as a hit nor as a false positive.
- A detection ``(x, y, p)`` inside a lesion is a hit for it (the lesion keeps its most confident hit);
  elsewhere, and on every normal slide, it is a false positive.
- The curve sweeps the threshold over the detections' positive probabilities and ends at (0, 0); the score is
  the mean sensitivity at 1/4, 1/2, 1, 2, 4 and 8 false positives per slide, read off the curve by linear
  interpolation. (The official code sweeps all probabilities but the lowest, meant to be the 0 of a missed
  lesion or an ITC; the two agree whenever such a 0 exists, and this one does not drop a real detection
  when none does.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops

log = logging.getLogger(__name__)

#: False positives per slide at which the FROC score averages the sensitivity.
EVAL_FPS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
GROWTH_UM = 75.0
ITC_AXIS_UM = 275.0


def evaluation_mask(tumour: np.ndarray, mpp: float) -> np.ndarray:
    """Labelled lesions (int array, 0 = background) of a tumour mask at ``mpp`` um/px, grown by 37.5 um."""
    tumour = np.asarray(tumour, bool)
    out = np.zeros(tumour.shape, np.int32)
    rows, cols = np.nonzero(tumour.any(axis=1))[0], np.nonzero(tumour.any(axis=0))[0]
    if rows.size == 0:
        return out
    reach = GROWTH_UM / (2 * mpp)
    pad = int(np.ceil(reach)) + 2  # the work is done on the lesions' box grown by the reach
    box = (slice(max(rows[0] - pad, 0), rows[-1] + 1 + pad), slice(max(cols[0] - pad, 0), cols[-1] + 1 + pad))
    crop = np.pad(tumour[box], 1)  # a frame of background, so the distance is to tumour only
    distance = cv2.distanceTransform((~crop).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    grown = ndimage.binary_fill_holes(distance < reach)[1:-1, 1:-1]
    out[box] = label(grown, connectivity=2)
    return out


def itc_lesions(lesions: np.ndarray, mpp: float) -> set[int]:
    """Labels of the lesions whose major axis is under 275 um (isolated tumour cells)."""
    rows, cols = np.nonzero(lesions.any(axis=1))[0], np.nonzero(lesions.any(axis=0))[0]
    if rows.size == 0:
        return set()
    crop = lesions[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return {p.label for p in regionprops(crop) if p.axis_major_length * mpp < ITC_AXIS_UM}


@dataclass(frozen=True)
class SlideHits:
    """One slide's share of the FROC: false-positive probabilities, and the best hit of each counted lesion."""

    fp_probs: np.ndarray
    tp_probs: np.ndarray  # one per non-ITC lesion; 0 when missed


def slide_hits(detections: np.ndarray, lesions: np.ndarray | None, mpp: float) -> SlideHits:
    """Match detections to the lesions of one slide.

    Args:
        detections: (N, 3) ``x_um, y_um, probability`` (see :func:`wsiseg.features.lesion_detections`).
        lesions: the slide's :func:`evaluation_mask`, or ``None`` for a normal slide.
        mpp: um/px of ``lesions``.
    """
    detections = np.asarray(detections, float).reshape(-1, 3)
    if lesions is None or not lesions.any():
        return SlideHits(detections[:, 2].copy(), np.zeros(0))
    itc = itc_lesions(lesions, mpp)
    counted = [int(v) for v in np.unique(lesions) if v and v not in itc]
    best = dict.fromkeys(counted, 0.0)
    fps = []
    h, w = lesions.shape
    for x, y, p in detections:
        r, c = int(y / mpp), int(x / mpp)
        hit = int(lesions[r, c]) if 0 <= r < h and 0 <= c < w else 0
        if hit == 0:
            fps.append(p)
        elif hit in best:
            best[hit] = max(best[hit], p)
    return SlideHits(np.asarray(fps, float), np.asarray([best[k] for k in counted], float))


@dataclass(frozen=True)
class FrocResult:
    """The FROC curve and score.

    Attributes:
        fps_per_slide: average false positives per slide at each threshold (decreasing).
        sensitivity: lesion sensitivity at each threshold.
        score: mean sensitivity at :data:`EVAL_FPS` (NaN without counted lesions).
        at: sensitivity at each of :data:`EVAL_FPS`.
        n_slides: slides evaluated.
        n_lesions: lesions counted (ITCs excluded).
    """

    fps_per_slide: np.ndarray
    sensitivity: np.ndarray
    score: float
    at: dict[float, float] = field(default_factory=dict)
    n_slides: int = 0
    n_lesions: int = 0


def froc(hits: Sequence[SlideHits]) -> FrocResult:
    """The FROC over slides (see the module docstring for the exact procedure)."""
    if not hits:
        raise ValueError("FROC needs at least one slide")
    fp = np.concatenate([h.fp_probs for h in hits])
    tp = np.concatenate([h.tp_probs for h in hits])
    n_slides, n_lesions = len(hits), len(tp)
    thresholds = sorted(v for v in set(fp.tolist()) | set(tp.tolist()) if v > 0)
    total_fp = [int((fp >= t).sum()) for t in thresholds] + [0]
    total_tp = [int((tp >= t).sum()) for t in thresholds] + [0]
    fps = np.asarray(total_fp, float) / n_slides
    if n_lesions == 0:
        log.warning("FROC: no lesion to detect (ITCs excluded); the score is undefined")
        sens = np.full(len(fps), np.nan)
        return FrocResult(fps, sens, float("nan"), dict.fromkeys(EVAL_FPS, float("nan")), n_slides, 0)
    sens = np.asarray(total_tp, float) / n_lesions
    at = np.interp(EVAL_FPS, fps[::-1], sens[::-1])
    return FrocResult(fps, sens, float(at.mean()), dict(zip(EVAL_FPS, at.tolist(), strict=True)), n_slides, n_lesions)
