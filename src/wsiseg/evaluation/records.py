"""What a staging run reports: the scores of each scored part, and the run's report record (``report.json``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wsiseg.classifiers import TrainingRun
from wsiseg.evaluation.bootstrap import BootstrapCI
from wsiseg.evaluation.detection import DetectionResult
from wsiseg.evaluation.lesions import LesionSummary
from wsiseg.evaluation.report import ClassReport
from wsiseg.features import FeatureSpec
from wsiseg.staging import MissingNode

#: What is scored: ``test``, the held-out patients' predictions; ``cv``, the fitted slides' out-of-fold ones.
ScoredPart = Literal["test", "cv"]


@dataclass(frozen=True)
class PatientScore:
    """One scored patient: its reference and predicted pN stages."""

    patient: str
    reference: str
    predicted: str


@dataclass(frozen=True)
class StagingScores:
    """The patients' pN stages of one scored part against the reference.

    Attributes:
        patients: the class report of the stages.
        kappa: the official CAMELYON17 quadratic-weighted kappa.
        n: patients scored.
        kappa_ci: the kappa's bootstrap interval over the patients (``None``: not computed).
        stages: every scored patient's reference and predicted stage, in patient order.
    """

    patients: ClassReport
    kappa: float
    n: int
    kappa_ci: BootstrapCI | None = None
    stages: tuple[PatientScore, ...] = ()


@dataclass(frozen=True)
class SlideRatesCI:
    """Bootstrap intervals over patients of a part's slide accuracy and per-class recall.

    Attributes:
        accuracy: the slide accuracy.
        recall: per slide label with slides of it, its recall.
    """

    accuracy: BootstrapCI
    recall: dict[str, BootstrapCI] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"accuracy": self.accuracy.as_dict(), "recall": {k: v.as_dict() for k, v in self.recall.items()}}


@dataclass(frozen=True)
class PartScores:
    """The scores of one part (:data:`ScoredPart`): slide labels, and patient stages where a reference exists.

    ``slide_ci``: the slide accuracy's and recalls' bootstrap intervals over patients (held-out part only).
    """

    slides: ClassReport
    staging: StagingScores | None = None
    slide_ci: SlideRatesCI | None = None


@dataclass(frozen=True)
class Pictures:
    """The pictures written besides the confusion matrices and the FROC curve (paths as written)."""

    gallery: str | None = None
    roi: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The pictures written, by name."""
        return {k: v for k, v in (("gallery", self.gallery), ("roi", self.roi)) if v is not None}


@dataclass(frozen=True)
class StageReport:
    """Everything a staging run reports, built once at its end (``report.json`` is :meth:`to_json`).

    Attributes:
        heatmaps: the heatmap folder, as given.
        slides: slides with a heatmap.
        patients_staged: patients in the submission (those with five node slides).
        fit_slides: slides the classifier was fitted on here (0 for a classifier fitted earlier).
        classifier: the classifier's class name.
        features: the feature settings.
        submission: the submission CSV.
        parts: the scored parts, ``test`` before ``cv``, those with labelled slides only.
        detection: the lesion-detection scores.
        pictures: the gallery and ROI pictures written.
        training: the training run behind the heatmaps.
        lesions: the predicted lesions' files and their overlap with annotations.
        missing_nodes: the nodes counted negative because they had no prediction (``missing_nodes=negative``).
        inventory: the cohort's ``inventory.json`` (every slide found, every file left out and why).
        left_out: the cohort's files left out, per reason.
    """

    heatmaps: str
    slides: int
    patients_staged: int
    fit_slides: int
    classifier: str
    features: FeatureSpec
    submission: Path
    parts: dict[ScoredPart, PartScores]
    detection: DetectionResult
    pictures: Pictures = field(default_factory=Pictures)
    training: TrainingRun = field(default_factory=TrainingRun)
    lesions: LesionSummary = field(default_factory=LesionSummary)
    missing_nodes: tuple[MissingNode, ...] = ()
    inventory: Path | None = None
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def kappa(self) -> dict[ScoredPart, float]:
        """The official kappa of every part scored against a reference staging."""
        return {part: s.staging.kappa for part, s in self.parts.items() if s.staging is not None}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values, in the layout of ``report.json`` (the class reports with their Markdown tables)."""
        patients = {p: s.staging for p, s in self.parts.items() if s.staging is not None}
        return {
            "heatmaps": self.heatmaps, "slides": self.slides, "patients_staged": self.patients_staged,
            "fit_slides": self.fit_slides, "classifier": self.classifier, "features": asdict(self.features),
            "submission": str(self.submission), "kappa": self.kappa,
            "slide": {part: _with_table(s.slides) for part, s in self.parts.items()},
            "patient": {part: _with_table(s.patients) | {"n": s.n} for part, s in patients.items()},
            "detection": self.detection.as_dict(), "pictures": self.pictures.as_dict(),
            "training": self.training.as_dict(),
            "kappa_ci": {part: s.kappa_ci.as_dict() for part, s in patients.items() if s.kappa_ci is not None},
            "patients": {part: [asdict(p) for p in s.stages] for part, s in patients.items()},
            "lesions": self.lesions.as_dict(),
            "slide_ci": {part: s.slide_ci.as_dict() for part, s in self.parts.items() if s.slide_ci is not None},
            "missing_nodes": [m.as_dict("negative") for m in self.missing_nodes],
            "cohort": {"inventory": str(self.inventory) if self.inventory else None, "left_out": self.left_out},
        }  # fmt: skip

    def to_json(self) -> str:
        """The content of ``report.json``."""
        return json.dumps(self.as_dict(), indent=2, default=_plain)


def _with_table(report: ClassReport) -> dict[str, Any]:
    return report.as_dict() | {"table": report.table()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
