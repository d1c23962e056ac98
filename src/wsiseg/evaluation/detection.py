"""Lesion detection scored from heatmaps: the CAMELYON16 FROC over slides and the slide-level ROC AUC.

A slide takes part in the FROC when its tumour status is known pixel by pixel: a negative slide, or a tumour
slide with its lesion annotation; in the slide-level AUC when it is known whether it holds tumour (a tumour
slide of CAMELYON16's test set without annotation too). Detections are the heatmap's regions
(:func:`~wsiseg.features.lesion_detections`);
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

from wsiseg.annotations import DEFAULT_GROUP_ROLES, GroupRole, tumour_mask
from wsiseg.evaluation.bootstrap import BootstrapCI, bootstrap_auc
from wsiseg.evaluation.froc import DetectionSettings, FrocResult, SlideHits, froc, slide_hits_at_level
from wsiseg.features import HeatmapRecord, lesion_detections, load_heatmap
from wsiseg.labels import SLIDE_LABELS, SlideLabel


@dataclass(frozen=True)
class DetectionSlide:
    """One slide to score.

    Attributes:
        heatmap: its heatmap.
        label: its reference label (``None``: unknown size class; the slide counts where ``has_tumour`` is known).
        annotation: its lesion annotation (a tumour slide without one is left out of the FROC).
        max_prob: the heatmap's largest probability, a slide score.
        proba: the slide classifier's class probabilities in :data:`~wsiseg.labels.SLIDE_LABELS` order, if any.
        has_tumour: whether it holds tumour (``None``: as its label says; unknown without a label).
        patient: its patient (the AUC's interval resamples patients; ``""``: the slide is its own).
        group_roles: its annotation's group roles on top of the CAMELYON names.
    """

    heatmap: HeatmapRecord
    label: SlideLabel | None
    annotation: Path | None
    max_prob: float
    proba: np.ndarray | None = None
    has_tumour: bool | None = None
    patient: str = ""
    group_roles: tuple[tuple[str, GroupRole], ...] = ()

    @property
    def tumour(self) -> bool | None:
        """Whether the slide holds tumour, when known."""
        if self.has_tumour is not None:
            return self.has_tumour
        return None if self.label is None else self.label != "negative"

    @property
    def known(self) -> bool:
        """Whether the slide's tumour is known pixel by pixel (negative, or annotated)."""
        return self.tumour is False or (self.tumour is True and self.annotation is not None)


@dataclass(frozen=True)
class DetectionResult:
    """The detection scores.

    Attributes:
        slides: slides of the FROC (tumour known pixel by pixel).
        auc_max_prob: slide ROC AUC (tumour or not) of the heatmaps' largest probability; ``None`` unless both
            classes are there.
        auc_classifier: the same of the classifier's probability of tumour (1 - P(negative)), when it gives
            probabilities.
        curve: the FROC (``None`` without slides).
        auc_slides: slides of the AUCs (tumour or not known).
        auc_max_prob_ci, auc_classifier_ci: the AUCs' bootstrap intervals over patients, when asked for.
        scope: which slides were scored (e.g. ``held-out``), for the report's wording.
    """

    slides: int
    auc_max_prob: float | None = None
    auc_classifier: float | None = None
    curve: FrocResult | None = None
    auc_slides: int = 0
    auc_max_prob_ci: BootstrapCI | None = None
    auc_classifier_ci: BootstrapCI | None = None
    scope: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: ``slides``, the known AUCs, then ``froc``, ``froc_at``, ``lesions``, ``froc_sweep``."""
        result: dict[str, Any] = {"slides": self.slides, "auc_slides": self.auc_slides, "scope": self.scope}
        for key in ("auc_max_prob", "auc_classifier"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
            if (ci := getattr(self, f"{key}_ci")) is not None:
                result[f"{key}_ci"] = ci.as_dict()
        if self.curve is not None:
            curve = self.curve
            result |= {"froc": curve.score, "froc_at": curve.at, "lesions": curve.n_lesions, "froc_sweep": curve.sweep}
        return result


def detection_scores(
    slides: Sequence[DetectionSlide], settings: DetectionSettings, n_boot: int = 0, seed: int = 0, level: float = 0.95,
    scope: str = "",
) -> DetectionResult:  # fmt: skip
    """CAMELYON16 lesion FROC (slides :attr:`DetectionSlide.known`) and slide ROC AUC (tumour or not known).

    ``n_boot`` > 0: the AUCs get percentile intervals at ``level`` from resampling the slides' patients.
    """
    rated = [s for s in slides if s.tumour is not None]
    truth = [bool(s.tumour) for s in rated]
    auc_max_prob = auc_classifier = max_ci = classifier_ci = None
    if len(set(truth)) == 2:
        groups = [s.patient or s.heatmap.name for s in rated]
        auc_max_prob, max_ci = _auc(truth, [s.max_prob for s in rated], groups, n_boot, seed, level)
        if all(s.proba is not None for s in rated):
            p_tumour = [1.0 - s.proba[SLIDE_LABELS.index("negative")] for s in rated]  # type: ignore[index]
            auc_classifier, classifier_ci = _auc(truth, p_tumour, groups, n_boot, seed, level)
    usable = [s for s in slides if s.known]
    curve = None
    if usable:
        hits = [lesion_hits(s.heatmap, s.annotation if s.tumour else None, settings, s.group_roles) for s in usable]
        curve = froc(hits, settings.sweep)
    return DetectionResult(len(usable), auc_max_prob, auc_classifier, curve, len(rated), max_ci, classifier_ci, scope)


def _auc(
    truth: list[bool], scores: list[float], groups: list[str], n_boot: int, seed: int, level: float
) -> tuple[float, BootstrapCI | None]:
    auc = float(roc_auc_score(truth, scores))
    return auc, bootstrap_auc(truth, scores, groups, n_boot, seed, level) if n_boot > 0 else None


def lesion_hits(
    heatmap: HeatmapRecord, annotation: Path | None, settings: DetectionSettings,
    group_roles: tuple[tuple[str, GroupRole], ...] = (),
) -> SlideHits:  # fmt: skip
    """One slide's share of the FROC, the official way (see :func:`wsiseg.evaluation.slide_hits_at_level`).

    Detections are the heatmap's regions at ``settings.threshold``; the evaluation mask is the ``annotation``
    rasterised at pyramid level ``settings.level`` of the slide (``2**level`` level-0 px per pixel).

    Args:
        heatmap: the slide's heatmap.
        annotation: the lesion annotation of a tumour slide; ``None`` for a negative slide.
        settings: the detection settings.
        group_roles: the annotation's group roles on top of the CAMELYON names.
    """
    probabilities, _ = load_heatmap(heatmap)
    detections = lesion_detections(probabilities, heatmap.mpp, settings.threshold, settings.merge_um)
    mask = None
    if annotation is not None:
        scale = heatmap.mpp / heatmap.slide_mpp  # level-0 px per heatmap px
        size_wh = (math.ceil(probabilities.shape[1] * scale), math.ceil(probabilities.shape[0] * scale))
        roles = {**DEFAULT_GROUP_ROLES, **dict(group_roles)}
        mask = tumour_mask(annotation, size_wh, 2**settings.level, roles)
    return slide_hits_at_level(detections, mask, heatmap.slide_mpp, settings.level, settings.l0_mpp)
