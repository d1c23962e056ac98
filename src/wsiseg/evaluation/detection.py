"""Lesion detection scored from heatmaps: the CAMELYON16 FROC over slides and the slide-level ROC AUC.

A slide takes part when its tumour status is known pixel by pixel: a negative slide, or a tumour slide with
its lesion annotation. Detections are the heatmap's regions (:func:`~wsiseg.features.lesion_detections`);
the evaluation mask is the annotation rasterised at a pyramid level of the slide, as the organisers' script
reads it (see :mod:`wsiseg.evaluation.froc`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from wsiseg.annotations import tumour_mask
from wsiseg.evaluation.froc import OFFICIAL_LEVEL, SWEEPS, FrocResult, SlideHits, Sweep, froc, slide_hits_at_level
from wsiseg.features import HeatmapRecord, lesion_detections, load_heatmap
from wsiseg.labels import SLIDE_LABELS, SlideLabel


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
        """Check the sweep and the level."""
        if self.sweep not in SWEEPS:
            raise ValueError(f"unknown FROC sweep {self.sweep!r}; expected one of {', '.join(SWEEPS)}")
        if self.level < 0:
            raise ValueError(f"the evaluation mask's level must be 0 or more, got {self.level}")


@dataclass(frozen=True)
class DetectionSlide:
    """One slide to score.

    Attributes:
        heatmap: its heatmap.
        label: its reference label (``None``: unknown, the slide is left out).
        annotation: its lesion annotation (a tumour slide without one is left out).
        max_prob: the heatmap's largest probability, a slide score.
        proba: the slide classifier's class probabilities in :data:`~wsiseg.labels.SLIDE_LABELS` order, if any.
    """

    heatmap: HeatmapRecord
    label: SlideLabel | None
    annotation: Path | None
    max_prob: float
    proba: np.ndarray | None = None

    @property
    def known(self) -> bool:
        """Whether the slide's tumour is known pixel by pixel (negative, or annotated)."""
        return self.label == "negative" or (self.label is not None and self.annotation is not None)


@dataclass(frozen=True)
class DetectionResult:
    """The detection scores.

    Attributes:
        slides: slides scored.
        auc_max_prob: slide ROC AUC (tumour or not) of the heatmaps' largest probability; ``None`` unless both
            classes are there.
        auc_classifier: the same of the classifier's probability of tumour (1 - P(negative)), when it gives
            probabilities.
        curve: the FROC (``None`` without slides).
    """

    slides: int
    auc_max_prob: float | None = None
    auc_classifier: float | None = None
    curve: FrocResult | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: ``slides``, the known AUCs, then ``froc``, ``froc_at``, ``lesions``, ``froc_sweep``."""
        result: dict[str, Any] = {"slides": self.slides}
        for key in ("auc_max_prob", "auc_classifier"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        if self.curve is not None:
            curve = self.curve
            result |= {"froc": curve.score, "froc_at": curve.at, "lesions": curve.n_lesions, "froc_sweep": curve.sweep}
        return result


def detection_scores(slides: Sequence[DetectionSlide], settings: DetectionSettings) -> DetectionResult:
    """CAMELYON16 lesion FROC and slide ROC AUC over the slides of known tumour (:attr:`DetectionSlide.known`)."""
    usable = [s for s in slides if s.known]
    if not usable:
        return DetectionResult(0)
    truth = [s.label != "negative" for s in usable]
    auc_max_prob = auc_classifier = None
    if len(set(truth)) == 2:
        auc_max_prob = float(roc_auc_score(truth, [s.max_prob for s in usable]))
        if usable[0].proba is not None:
            p_tumour = [1.0 - s.proba[SLIDE_LABELS.index("negative")] for s in usable]  # type: ignore[index]
            auc_classifier = float(roc_auc_score(truth, p_tumour))
    tumour = [None if s.label == "negative" else s.annotation for s in usable]
    curve = froc([lesion_hits(s.heatmap, xml, settings) for s, xml in zip(usable, tumour, strict=True)], settings.sweep)
    return DetectionResult(len(usable), auc_max_prob, auc_classifier, curve)


def lesion_hits(heatmap: HeatmapRecord, annotation: Path | None, settings: DetectionSettings) -> SlideHits:
    """One slide's share of the FROC, the official way (see :func:`wsiseg.evaluation.slide_hits_at_level`).

    Detections are the heatmap's regions at ``settings.threshold``; the evaluation mask is the ``annotation``
    rasterised at pyramid level ``settings.level`` of the slide (``2**level`` level-0 px per pixel).

    Args:
        heatmap: the slide's heatmap.
        annotation: the lesion annotation of a tumour slide; ``None`` for a negative slide.
        settings: the detection settings.
    """
    probabilities, _ = load_heatmap(heatmap)
    detections = lesion_detections(probabilities, heatmap.mpp, settings.threshold, settings.merge_um)
    mask = None
    if annotation is not None:
        scale = heatmap.mpp / heatmap.slide_mpp  # level-0 px per heatmap px
        size_wh = (math.ceil(probabilities.shape[1] * scale), math.ceil(probabilities.shape[0] * scale))
        mask = tumour_mask(annotation, size_wh, 2**settings.level)
    return slide_hits_at_level(detections, mask, heatmap.slide_mpp, settings.level, settings.l0_mpp)
