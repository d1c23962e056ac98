"""CAMELYON16 lesion-level FROC, computed as the organisers' ``Evaluation_FROC.py`` computes it.

The procedure (``computeEvaluationMask``, ``computeITCList``, ``compute_FP_TP_Probs``, ``computeFROC``):

- The tumour mask is taken at level 5 (32 level-0 pixels per mask pixel, about 7.8 um for 0.243 um/px
  slides); every pixel closer than 75/2 um to tumour joins it (nearby lesions merge), holes are filled and
  the result is labelled with 8-connectivity: the *evaluation mask*. Both rules are applied in those
  pixels (``75 / (resolution * 2**level * 2)`` and ``275 / (resolution * 2**level)``).
- Lesions whose ellipse major axis is under 275 um (200 um + the 75 um growth) are isolated tumour cells
  (ITC): a detection on one counts neither as a hit nor as a false positive.
- A detection at level-0 pixel ``(X, Y)`` reads the mask at ``[int(Y / 2**level), int(X / 2**level)]``;
  inside a lesion it is a hit for it (the lesion keeps its most confident hit, the others are ignored);
  elsewhere, and on every normal slide, it is a false positive.
- The score is the mean sensitivity at 1/4, 1/2, 1, 2, 4 and 8 false positives per slide, read off the curve
  with ``np.interp``; false positives per slide divide by the number of slides evaluated.

The quirks of the official script that :func:`froc` keeps by default (``sweep="official"``):

1. The threshold sweep skips the lowest of the sorted unique probabilities (``all_probs[1:]``). That value
   is meant to be the 0 of a missed lesion or an ITC; when no lesion is missed and no ITC is present, the
   lowest real detection is never a threshold (two slides with hits at 0.9 and 0.6 and a false positive at
   0.8 score 0.5, not 0.917).
2. True-positive probabilities are float32 (one entry per lesion label, ITCs included and left at 0), false
   positives float64. The thresholds are the unique values of both pools, so float32(0.7) and 0.7 are two
   thresholds while 0.5 is one; a true positive counts when ``float32(p) >= float32(threshold)`` and a false
   positive when ``p >= threshold`` in float64 (what NumPy does with a float32 array and a Python float,
   and with a float64 array and a float32 scalar). So a hit at 0.7 (float32 0.699999988) ties with a false
   positive at 0.69999999, which it would beat in float64.
3. The ITC zeros are in the true-positive pool (they make a 0 threshold, the one skipped) but ITCs are not
   counted as lesions.

Where this module differs from the script, on purpose: a detection outside the mask (or at negative
coordinates) is a false positive (the script raises ``IndexError`` or wraps round to the other side);
thresholds equal in float32 but not in float64 are sorted by their exact values, as the script's ``sorted``
does under NumPy 1.x, the challenge's (NumPy 2 compares a float32 scalar with a Python float in float32, so
there the script's order of such a pair depends on the set's order and its curve can lose its monotony);
with no lesion to count the score is NaN with a warning (the script divides by zero). The tumour mask
itself is the caller's: ``stage.py`` rasterises the annotation polygons at the level's pixel centres, where
the script reads level 5 of the organisers' mask TIFF (only pixels of value 255 are tumour there), so
boundary pixels can differ with how that pyramid was downsampled.

``sweep="all"`` is wsiseg's earlier sweep, kept as a named variant: float64 probabilities, every positive
probability a threshold, none skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from scipy import ndimage
from skimage.measure import label, regionprops

from wsiseg.labels import ITC_MAX_MM

log = logging.getLogger(__name__)

#: False positives per slide at which the FROC score averages the sensitivity.
EVAL_FPS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
GROWTH_UM = 75.0
ITC_AXIS_UM = ITC_MAX_MM * 1000 + GROWTH_UM  # 275 um: the ITC cut-off plus the mask's growth
#: The pyramid level of the official evaluation mask (2**5 = 32 level-0 pixels per mask pixel).
OFFICIAL_LEVEL = 5

Sweep = Literal["official", "all"]
#: The threshold sweeps :func:`froc` knows: ``official`` (the default) and ``all`` (see the module docstring).
SWEEPS: tuple[Sweep, ...] = get_args(Sweep)


@dataclass(frozen=True)
class DetectionSettings:
    """How detections are taken from a heatmap and scored (``froc:`` in ``conf/stage.yaml``).

    Attributes:
        threshold: detections are the heatmap's regions at or above it, at their most probable pixel.
        merge_um: detections closer than this are one.
        sweep: the FROC's threshold sweep (see :data:`~wsiseg.evaluation.SWEEPS`).
        level: the evaluation mask's pyramid level of the slide (``2**level`` level-0 px per pixel).
        l0_mpp: the level-0 um/px of the 75 / 275 um rules; ``None``: each slide's own (the official script:
            0.243).
    """

    threshold: float = 0.5
    merge_um: float = 75.0
    sweep: Sweep = "official"
    level: int = OFFICIAL_LEVEL
    l0_mpp: float | None = None

    def __post_init__(self) -> None:
        """Check the sweep and the level; a typed config's ``str`` enum becomes its plain value."""
        object.__setattr__(self, "sweep", str(getattr(self.sweep, "value", self.sweep)))
        if self.sweep not in SWEEPS:
            raise ValueError(f"unknown FROC sweep {self.sweep!r}; expected one of {', '.join(SWEEPS)}")
        if self.level < 0:
            raise ValueError(f"the evaluation mask's level must be 0 or more, got {self.level}")


def evaluation_mask(tumour: np.ndarray, mpp: float) -> np.ndarray:
    """Labelled lesions (int array, 0 = background) of a tumour mask at ``mpp`` um/px, grown by 37.5 um.

    The official ``computeEvaluationMask`` on the lesions' bounding box (grown by the reach), which gives the
    same result faster: pixels at a distance under ``75 / (2 * mpp)`` px join, holes are filled, labels are
    8-connected.
    """
    tumour = np.asarray(tumour, bool)
    out = np.zeros(tumour.shape, np.int32)
    found = ndimage.find_objects(tumour.astype(np.uint8))  # the lesions' bounding box, or none
    if not found:
        return out
    rows, cols = found[0]
    reach = GROWTH_UM / (mpp * 2)  # the official 75 / (resolution * 2**level * 2)
    pad = int(np.ceil(reach)) + 2  # the work is done on the lesions' box grown by the reach
    box = (slice(max(rows.start - pad, 0), rows.stop + pad), slice(max(cols.start - pad, 0), cols.stop + pad))
    crop = np.pad(tumour[box], 1)  # a frame of background, so that a hole touching the box edge is not filled
    grown = ndimage.binary_fill_holes(ndimage.distance_transform_edt(~crop) < reach)[1:-1, 1:-1]
    out[box] = label(grown, connectivity=2)
    return out


def itc_lesions(lesions: np.ndarray, mpp: float) -> set[int]:
    """Labels of the lesions whose ellipse major axis is under 275 um (isolated tumour cells)."""
    found = ndimage.find_objects((lesions > 0).astype(np.uint8))  # the box of every lesion, or none
    if not found:
        return set()
    crop = lesions[found[0]]
    threshold = ITC_AXIS_UM / mpp  # the official 275 / (resolution * 2**level), in pixels
    return {p.label for p in regionprops(crop) if p.axis_major_length < threshold}


@dataclass(frozen=True)
class SlideHits:
    """One slide's share of the FROC.

    Attributes:
        fp_probs: probabilities of the false positives.
        tp_probs: the best hit of each counted (non-ITC) lesion; 0 when missed.
        n_itc: ITC lesions on the slide (the official sweep keeps a 0 for each, see :func:`froc`).
    """

    fp_probs: np.ndarray
    tp_probs: np.ndarray
    n_itc: int = 0


def slide_hits(detections: np.ndarray, lesions: np.ndarray | None, mpp: float, downsample: float = 1.0) -> SlideHits:
    """Match detections to the lesions of one slide (the official ``compute_FP_TP_Probs``).

    Args:
        detections: (N, 3) ``x, y, probability`` with x and y in level-0 pixels (the official CSV's X, Y).
        lesions: the slide's :func:`evaluation_mask`, or ``None`` for a normal slide.
        mpp: um per pixel of ``lesions`` (for the ITC rule).
        downsample: level-0 pixels per pixel of ``lesions`` (``2**level``); a detection reads the mask at
            ``[int(y / downsample), int(x / downsample)]``, outside the mask it is a false positive.
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
        r, c = int(y / downsample), int(x / downsample)
        hit = int(lesions[r, c]) if x >= 0 and y >= 0 and r < h and c < w else 0
        if hit == 0:
            fps.append(p)
        elif hit in best:
            best[hit] = max(best[hit], p)
    return SlideHits(np.asarray(fps, float), np.asarray([best[k] for k in counted], float), len(itc))


def slide_hits_at_level(
    detections_um: np.ndarray,
    tumour: np.ndarray | None,
    slide_mpp: float,
    level: int = OFFICIAL_LEVEL,
    l0_mpp: float | None = None,
) -> SlideHits:
    """One slide's share of the FROC from detections in micrometres, with the official evaluation mask.

    Args:
        detections_um: (N, 3) ``x_um, y_um, probability`` (see :func:`wsiseg.features.lesion_detections`);
            they become level-0 pixels (``/ slide_mpp``), then mask pixels (``int(X / 2**level)``).
        tumour: the slide's tumour mask at pyramid level ``level``, i.e. ``2**level`` level-0 pixels per pixel
            (``wsiseg.annotations.tumour_mask(xml, size_wh, 2**level)``); ``None`` for a normal slide.
        slide_mpp: um per level-0 pixel of the slide.
        level: the mask's pyramid level (the official 5: about 7.8 um/px at 0.243 um/px).
        l0_mpp: the level-0 um/px the 75 um and 275 um rules are converted with; ``None``: ``slide_mpp``. The
            official script uses 0.243 for every slide (its ``L0_RESOLUTION``), whatever the scanner.
    """
    down = 2**level
    mpp = (l0_mpp or slide_mpp) * down
    detections_um = np.asarray(detections_um, float).reshape(-1, 3)
    detections = np.column_stack((detections_um[:, :2] / slide_mpp, detections_um[:, 2]))  # level-0 px
    lesions = None if tumour is None else evaluation_mask(tumour, mpp)
    return slide_hits(detections, lesions, mpp, down)


@dataclass(frozen=True)
class FrocResult:
    """The FROC curve and score.

    Attributes:
        fps_per_slide: average false positives per slide at each threshold (decreasing), then 0.
        sensitivity: lesion sensitivity at each threshold, then 0.
        score: mean sensitivity at :data:`EVAL_FPS` (NaN without counted lesions).
        at: sensitivity at each of :data:`EVAL_FPS`.
        n_slides: slides evaluated.
        n_lesions: lesions counted (ITCs excluded).
        thresholds: the probability thresholds of the curve's points (without the final (0, 0)).
        sweep: the sweep used (see :data:`SWEEPS`).
    """

    fps_per_slide: np.ndarray
    sensitivity: np.ndarray
    score: float
    at: dict[float, float] = field(default_factory=dict)
    n_slides: int = 0
    n_lesions: int = 0
    thresholds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sweep: Sweep = "official"


def _at_or_above(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of ``sorted_values`` are ``>=`` each threshold (both in the same dtype)."""
    return len(sorted_values) - np.searchsorted(sorted_values, thresholds, side="left")


def _official_counts(fp: np.ndarray, hits: Sequence[SlideHits]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds, false and true positives at each, as ``computeFROC`` sweeps them (quirks 1-3)."""
    tp32 = np.concatenate([np.zeros(0, np.float32)] + [np.append(h.tp_probs, np.zeros(h.n_itc)) for h in hits])
    tp32 = np.sort(tp32.astype(np.float32))  # the official TP_probs array is float32
    thresholds = np.unique(np.concatenate([fp, tp32.astype(np.float64)]))[1:]  # sorted unique values, lowest skipped
    total_fp = _at_or_above(np.sort(fp), thresholds)  # a float64 array against either kind of threshold
    total_tp = _at_or_above(tp32, thresholds.astype(np.float32))  # a float32 array: the threshold in float32
    return thresholds, total_fp, total_tp


def _all_counts(fp: np.ndarray, hits: Sequence[SlideHits]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds, false and true positives at each: every positive probability, in float64."""
    tp = np.sort(np.concatenate([np.zeros(0)] + [np.asarray(h.tp_probs, float) for h in hits]))
    values = np.unique(np.concatenate([fp, tp]))
    thresholds = values[values > 0]
    return thresholds, _at_or_above(np.sort(fp), thresholds), _at_or_above(tp, thresholds)


def froc(hits: Sequence[SlideHits], sweep: Sweep = "official") -> FrocResult:
    """The FROC over slides (see the module docstring for the procedure and the quirks kept).

    Args:
        hits: one :class:`SlideHits` per slide evaluated, normal slides included.
        sweep: ``official`` (the organisers' computation, the default) or ``all`` (every positive
            probability a threshold, float64; wsiseg's earlier sweep).

    Raises:
        ValueError: no slide, or an unknown ``sweep``.
    """
    if not hits:
        raise ValueError("FROC needs at least one slide")
    if sweep not in SWEEPS:
        raise ValueError(f"unknown FROC sweep {sweep!r}; expected one of {', '.join(SWEEPS)}")
    fp = np.concatenate([np.zeros(0)] + [np.asarray(h.fp_probs, float) for h in hits])
    n_slides, n_lesions = len(hits), sum(len(h.tp_probs) for h in hits)
    thresholds, total_fp, total_tp = (_official_counts if sweep == "official" else _all_counts)(fp, hits)
    fps = np.append(total_fp, 0).astype(float) / n_slides
    if n_lesions == 0:
        log.warning("FROC: no lesion to detect (ITCs excluded); the score is undefined")
        nan = float("nan")
        sens = np.full(len(fps), nan)
        return FrocResult(fps, sens, nan, dict.fromkeys(EVAL_FPS, nan), n_slides, 0, thresholds, sweep)
    sens = np.append(total_tp, 0).astype(float) / n_lesions
    at = np.interp(EVAL_FPS, fps[::-1], sens[::-1])
    at_fps = dict(zip(EVAL_FPS, at.tolist(), strict=True))
    return FrocResult(fps, sens, float(at.mean()), at_fps, n_slides, n_lesions, thresholds, sweep)
