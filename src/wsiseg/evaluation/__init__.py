"""Scores and reports: the CAMELYON17 kappa, the CAMELYON16 FROC, and a staging run's report.

The run's record (:mod:`~wsiseg.evaluation.records`), its scores, predicted lesions, pictures and renderings
(``report.md``, the terminal, ``report.html``).

Names are imported lazily (PEP 562): the config schemas read ``DetectionSettings`` in every entry script, which should
not cost scikit-learn's and matplotlib's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.labels import read_patient_stages  # the official reading the kappa uses
from wsiseg.lazy import lazy_getattr

_SOURCES = {
    "BootstrapCI": "bootstrap",
    "BootstrapSettings": "bootstrap",
    "RateRun": "bootstrap",
    "StageRun": "bootstrap",
    "bootstrap_auc": "bootstrap",
    "bootstrap_kappa": "bootstrap",
    "bootstrap_mean_kappa": "bootstrap",
    "bootstrap_mean_rate": "bootstrap",
    "paired_kappa_difference": "bootstrap",
    "paired_rate_difference": "bootstrap",
    "DetectionResult": "detection",
    "DetectionSettings": "froc",
    "DetectionSlide": "detection",
    "detection_scores": "detection",
    "lesion_hits": "detection",
    "EVAL_FPS": "froc",
    "FrocResult": "froc",
    "OFFICIAL_LEVEL": "froc",
    "SWEEPS": "froc",
    "SlideHits": "froc",
    "evaluation_mask": "froc",
    "froc": "froc",
    "itc_lesions": "froc",
    "slide_hits": "froc",
    "slide_hits_at_level": "froc",
    "save_gallery": "gallery",
    "HtmlInputs": "html",
    "render_html": "html",
    "write_html_report": "html",
    "camelyon17_kappa": "kappa",
    "stage_kappa": "kappa",
    "LesionMeasures": "lesions",
    "LesionSettings": "lesions",
    "LesionSummary": "lesions",
    "write_lesions": "lesions",
    "save_pictures": "pictures",
    "PartScores": "records",
    "PatientScore": "records",
    "Pictures": "records",
    "ScoredPart": "records",
    "SlideRatesCI": "records",
    "StageReport": "records",
    "StagingScores": "records",
    "log_summary": "rendering",
    "markdown_report": "rendering",
    "terminal_report": "rendering",
    "write_reports": "rendering",
    "ClassReport": "report",
    "class_report": "report",
    "save_confusion_png": "report",
    "save_froc_png": "report",
    "PART_TITLES": "scores",
    "confusion_name": "scores",
    "score_detection": "scores",
    "score_parts": "scores",
    "slide_rates_ci": "scores",
}
__all__ = [
    "EVAL_FPS",
    "OFFICIAL_LEVEL",
    "PART_TITLES",
    "SWEEPS",
    "BootstrapCI",
    "BootstrapSettings",
    "ClassReport",
    "DetectionResult",
    "DetectionSettings",
    "DetectionSlide",
    "FrocResult",
    "HtmlInputs",
    "LesionMeasures",
    "LesionSettings",
    "LesionSummary",
    "PartScores",
    "PatientScore",
    "Pictures",
    "RateRun",
    "ScoredPart",
    "SlideHits",
    "SlideRatesCI",
    "StageReport",
    "StageRun",
    "StagingScores",
    "bootstrap_auc",
    "bootstrap_kappa",
    "bootstrap_mean_kappa",
    "bootstrap_mean_rate",
    "camelyon17_kappa",
    "class_report",
    "confusion_name",
    "detection_scores",
    "evaluation_mask",
    "froc",
    "itc_lesions",
    "lesion_hits",
    "log_summary",
    "markdown_report",
    "paired_kappa_difference",
    "paired_rate_difference",
    "read_patient_stages",
    "render_html",
    "save_confusion_png",
    "save_froc_png",
    "save_gallery",
    "save_pictures",
    "score_detection",
    "score_parts",
    "slide_hits",
    "slide_hits_at_level",
    "slide_rates_ci",
    "stage_kappa",
    "terminal_report",
    "write_html_report",
    "write_lesions",
    "write_reports",
]

if TYPE_CHECKING:
    from wsiseg.evaluation.bootstrap import (
        BootstrapCI,
        BootstrapSettings,
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
    from wsiseg.evaluation.html import HtmlInputs, render_html, write_html_report
    from wsiseg.evaluation.kappa import camelyon17_kappa, stage_kappa
    from wsiseg.evaluation.lesions import LesionMeasures, LesionSettings, LesionSummary, write_lesions
    from wsiseg.evaluation.pictures import save_pictures
    from wsiseg.evaluation.records import (
        PartScores,
        PatientScore,
        Pictures,
        ScoredPart,
        SlideRatesCI,
        StageReport,
        StagingScores,
    )
    from wsiseg.evaluation.rendering import log_summary, markdown_report, terminal_report, write_reports
    from wsiseg.evaluation.report import ClassReport, class_report, save_confusion_png, save_froc_png
    from wsiseg.evaluation.scores import PART_TITLES, confusion_name, score_detection, score_parts, slide_rates_ci

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
