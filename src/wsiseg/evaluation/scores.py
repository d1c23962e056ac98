"""A staging run's scores where labels are known: slide and patient reports, the kappa, detection scores."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from wsiseg.classifiers import SlideRow
from wsiseg.evaluation.bootstrap import (
    DEFAULT_BOOTSTRAP,
    BootstrapCI,
    BootstrapSettings,
    RateRun,
    bootstrap_kappa,
    bootstrap_mean_rate,
)
from wsiseg.evaluation.detection import DetectionResult, DetectionSettings, DetectionSlide, detection_scores
from wsiseg.evaluation.kappa import stage_kappa
from wsiseg.evaluation.records import PartScores, PatientScore, ScoredPart, SlideRatesCI, StagingScores
from wsiseg.evaluation.report import class_report, save_confusion_png, save_froc_png
from wsiseg.labels import PN_STAGES, SLIDE_LABELS, SlideLabel, patient_of_node, write_stage_labels
from wsiseg.staging import stage_complete

log = logging.getLogger(__name__)

#: What each scored part is, in the pictures' titles.
PART_TITLES: dict[ScoredPart, str] = {"test": "held-out patients", "cv": "out-of-fold (grouped CV)"}


def confusion_name(kind: Literal["slide", "patient"], part: ScoredPart) -> str:
    """The file name of a part's confusion matrix picture (``confusion_slide_test.png``)."""
    return f"confusion_{kind}_{part}.png"


def score_parts(
    rows: Sequence[SlideRow],
    reference: Mapping[str, str] | None,
    out: Path,
    bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP,
    fill: Mapping[str, SlideLabel] | None = None,
) -> dict[ScoredPart, PartScores]:
    """Scores of the held-out predictions (``test``) and the out-of-fold ones (``cv``), where there are any.

    Writes the confusion matrices and ``submission_cv.csv``; patients are scored against the ``reference``
    stages (patient -> pN stage, the cohort's labels) when given; the held-out kappa gets its bootstrap
    interval (``bootstrap``). ``fill``: labels of missing nodes (counted negative), joined to their patients.
    """
    held_out = [r for r in rows if r.part == "test" and r.label is not None]
    out_of_fold = [r for r in rows if r.oof]
    parts: dict[ScoredPart, PartScores] = {}
    if held_out:
        predicted = [r.predicted for r in held_out]
        parts["test"] = _evaluate("test", held_out, predicted, reference or None, out, bootstrap, fill or {})
    if out_of_fold:
        predicted = [r.oof for r in out_of_fold]
        parts["cv"] = _evaluate("cv", out_of_fold, predicted, reference or None, out, bootstrap, fill or {})
    return parts


def _evaluate(
    part: ScoredPart,
    rows: Sequence[SlideRow],
    predicted: list[str],
    reference: Mapping[str, str] | None,
    out: Path,
    bootstrap: BootstrapSettings,
    fill: Mapping[str, SlideLabel],
) -> PartScores:
    """The slide report (and its picture) of one part, and its patients' scores when there is a reference."""
    slides = class_report([r.label for r in rows], predicted, SLIDE_LABELS)
    save_confusion_png(slides, out / confusion_name("slide", part), f"Slide labels, {PART_TITLES[part]}")
    ci = None
    if part == "test" and bootstrap.n_boot > 0:  # the held-out slides' rates (as the kappa: a final score)
        ci = slide_rates_ci([r.label for r in rows], predicted, [r.patient for r in rows], bootstrap)
    if reference is None:
        return PartScores(slides, slide_ci=ci)
    patients = {r.patient for r in rows}
    by_slide = {s: label for s, label in fill.items() if patient_of_node(s) in patients}
    by_slide |= {r.heatmap.slide: label for r, label in zip(rows, predicted, strict=True)}
    return PartScores(slides, _staging(part, by_slide, reference, out, bootstrap), ci)


def slide_rates_ci(
    labels: Sequence[str | None], predicted: Sequence[str], patients: Sequence[str], bootstrap: BootstrapSettings
) -> SlideRatesCI:
    """Slide accuracy and per-class recall with percentile bootstrap intervals, resampling the patients.

    A class without a slide has no recall (left out).
    """
    names = sorted(set(patients))
    at = {p: i for i, p in enumerate(names)}

    def rate(counted: Sequence[bool], total: Sequence[bool]) -> BootstrapCI:
        hits, totals = [0] * len(names), [0] * len(names)  # per patient
        for patient, hit, whole in zip(patients, counted, total, strict=True):
            hits[at[patient]] += hit and whole
            totals[at[patient]] += whole
        return bootstrap_mean_rate({0: RateRun(hits, totals, names)}, bootstrap.n_boot, bootstrap.seed, bootstrap.level)

    right = [a == b for a, b in zip(labels, predicted, strict=True)]
    recall = {c: rate(right, [a == c for a in labels]) for c in SLIDE_LABELS if c in labels}
    return SlideRatesCI(rate(right, [True] * len(labels)), recall)


def _staging(
    part: ScoredPart, predicted: dict[str, str], truth: Mapping[str, str], out: Path, bootstrap: BootstrapSettings
) -> StagingScores | None:
    """The predicted stages of the reference's patients: class report, official kappa and its CI, picture."""
    staged = [p for p in stage_complete(predicted) if p.patient in truth]
    if not staged:
        return None
    if part != "test":
        write_stage_labels(out / f"submission_{part}.csv", staged)
    ids = [p.patient for p in staged]
    kappa = stage_kappa([truth[p] for p in ids], [p.stage for p in staged])  # the official kappa's arithmetic
    stages = tuple(PatientScore(p.patient, truth[p.patient], p.stage) for p in staged)
    patients = class_report([s.reference for s in stages], [s.predicted for s in stages], PN_STAGES)
    title = f"pN stages, {PART_TITLES[part]}, kappa {kappa:.3f}"
    save_confusion_png(patients, out / confusion_name("patient", part), title)
    ci = None
    if part == "test" and bootstrap.n_boot > 0:  # the held-out kappa (the out-of-fold one is not a final score)
        references, predictions = [s.reference for s in stages], [s.predicted for s in stages]
        ci = bootstrap_kappa(references, predictions, bootstrap.n_boot, bootstrap.seed, bootstrap.level)
    return StagingScores(patients, kappa, len(ids), ci, stages)


def score_detection(
    rows: Sequence[SlideRow], settings: DetectionSettings, out: Path,
    bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP, scope: str = "held-out",
) -> DetectionResult:  # fmt: skip
    """Lesion FROC (and ``froc.png``) and slide ROC AUC with its interval, with the ``froc`` settings.

    The classifier's probabilities are a slide's own where the classifier did not fit it (``test`` rows), else
    its out-of-fold ones: no score comes from slides a classifier saw.
    """
    slides = [
        DetectionSlide(r.heatmap, r.label, r.annotation, r.features["max_prob"],
                       r.proba if r.part == "test" else r.oof_proba, r.has_tumour, r.patient, r.group_roles)
        for r in rows
    ]  # fmt: skip
    result = detection_scores(slides, settings, bootstrap.n_boot, bootstrap.seed, bootstrap.level, scope)
    if result.curve is not None:
        save_froc_png(result.curve, out / "froc.png")
    return result
