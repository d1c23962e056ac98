"""Scores: the CAMELYON17 kappa, the CAMELYON16 FROC, and classification reports with their pictures."""

from wsiseg.evaluation.bootstrap import (
    BootstrapCI,
    RateRun,
    StageRun,
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
from wsiseg.labels import read_patient_stages  # the official reading the kappa uses

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
