"""Scores: the CAMELYON17 kappa, the CAMELYON16 FROC, and classification reports with their pictures.

Names are imported lazily (PEP 562): the config schemas read ``Sweep`` in every entry script, which should
not cost scikit-learn's and matplotlib's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.labels import read_patient_stages  # the official reading the kappa uses
from wsiseg.lazy import lazy_getattr

_SOURCES = {
    "BootstrapCI": "bootstrap",
    "RateRun": "bootstrap",
    "StageRun": "bootstrap",
    "bootstrap_auc": "bootstrap",
    "bootstrap_kappa": "bootstrap",
    "bootstrap_mean_kappa": "bootstrap",
    "bootstrap_mean_rate": "bootstrap",
    "paired_kappa_difference": "bootstrap",
    "paired_rate_difference": "bootstrap",
    "DetectionResult": "detection",
    "DetectionSettings": "detection",
    "DetectionSlide": "detection",
    "detection_scores": "detection",
    "lesion_hits": "detection",
    "EVAL_FPS": "froc",
    "OFFICIAL_LEVEL": "froc",
    "SWEEPS": "froc",
    "FrocResult": "froc",
    "SlideHits": "froc",
    "evaluation_mask": "froc",
    "froc": "froc",
    "itc_lesions": "froc",
    "slide_hits": "froc",
    "slide_hits_at_level": "froc",
    "save_gallery": "gallery",
    "camelyon17_kappa": "kappa",
    "stage_kappa": "kappa",
    "ClassReport": "report",
    "class_report": "report",
    "save_confusion_png": "report",
    "save_froc_png": "report",
}
__all__ = [
    "EVAL_FPS",
    "OFFICIAL_LEVEL",
    "SWEEPS",
    "BootstrapCI",
    "ClassReport",
    "DetectionResult",
    "DetectionSettings",
    "DetectionSlide",
    "FrocResult",
    "RateRun",
    "SlideHits",
    "StageRun",
    "bootstrap_auc",
    "bootstrap_kappa",
    "bootstrap_mean_kappa",
    "bootstrap_mean_rate",
    "camelyon17_kappa",
    "class_report",
    "detection_scores",
    "evaluation_mask",
    "froc",
    "itc_lesions",
    "lesion_hits",
    "paired_kappa_difference",
    "paired_rate_difference",
    "read_patient_stages",
    "save_confusion_png",
    "save_froc_png",
    "save_gallery",
    "slide_hits",
    "slide_hits_at_level",
    "stage_kappa",
]

if TYPE_CHECKING:
    from wsiseg.evaluation.bootstrap import (
        BootstrapCI,
        RateRun,
        StageRun,
        bootstrap_auc,
        bootstrap_kappa,
        bootstrap_mean_kappa,
        bootstrap_mean_rate,
        paired_kappa_difference,
        paired_rate_difference,
    )
    from wsiseg.evaluation.detection import (
        DetectionResult,
        DetectionSettings,
        DetectionSlide,
        detection_scores,
        lesion_hits,
    )
    from wsiseg.evaluation.froc import (
        EVAL_FPS,
        OFFICIAL_LEVEL,
        SWEEPS,
        FrocResult,
        SlideHits,
        evaluation_mask,
        froc,
        itc_lesions,
        slide_hits,
        slide_hits_at_level,
    )
    from wsiseg.evaluation.gallery import save_gallery
    from wsiseg.evaluation.kappa import camelyon17_kappa, stage_kappa
    from wsiseg.evaluation.report import ClassReport, class_report, save_confusion_png, save_froc_png

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
