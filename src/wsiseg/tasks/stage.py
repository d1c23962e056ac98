"""The ``stage.py`` task: heatmaps -> features -> slide labels -> pN stages -> submission CSV and scores.

Steps (see ``conf/stage.yaml``):

1. find the finished heatmaps and compute their features (cached per heatmap and feature settings);
2. fit the slide classifier on the labelled slides of the training patients, with balanced class weights,
   and cross-validate it grouped by patient (out-of-fold predictions);
3. label every slide, stage every patient with five slides, write the submission in the official format;
4. where labels are known: slide and patient confusion matrices (PNG), a per-class precision / recall table,
   the official kappa on the held-out patients (and on the out-of-fold predictions), the CAMELYON16 FROC and
   the slide-level ROC AUC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from wsiseg.classifiers import FeatureClassifier, balanced_weights, cross_val_predict_grouped
from wsiseg.evaluation import (
    DetectionResult,
    DetectionSettings,
    DetectionSlide,
    camelyon17_kappa,
    class_report,
    detection_scores,
    save_confusion_png,
    save_froc_png,
)
from wsiseg.features import FeatureSpec, HeatmapRecord, compute_features, find_heatmaps
from wsiseg.labels import (
    PN_STAGES,
    SLIDE_LABELS,
    PatientRecord,
    parse_node,
    read_stage_labels,
    write_stage_labels,
)
from wsiseg.sampling import cohort_index, slide_info
from wsiseg.staging import stage_patients
from wsiseg.tasks.instantiate import record_run
from wsiseg.tasks.stage_holdout import heatmaps_checkpoint, load_checkpoint, mark_holdout, training_run
from wsiseg.tasks.stage_record import SlideRow
from wsiseg.tasks.stage_report import save_pictures, write_features, write_predictions, write_reports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    """What a staging run leaves: the folder, the submission, kappas and the report written as JSON."""

    out_dir: Path
    submission: Path
    kappa: dict[str, float]
    report: dict[str, Any]


def run(cfg: DictConfig) -> StageResult:
    """Stage patients from the heatmaps in ``cfg.heatmaps`` (see ``conf/stage.yaml``)."""
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record_run(cfg, out_dir, cfg.get("seed"))
    spec: FeatureSpec = instantiate(cfg.features, _convert_="all")
    rows = _slide_rows(find_heatmaps(cfg.heatmaps), cfg)
    checkpoint = heatmaps_checkpoint(rows)
    state = load_checkpoint(checkpoint, required=cfg.holdout == "checkpoint")
    mark_holdout(rows, cfg.holdout, cfg.cohort, checkpoint, state)
    _add_features(rows, spec, cfg, out_dir)
    classifier, fit = _fit_classifier(rows, cfg, out_dir)
    _predict(classifier, rows, out_dir)
    patients = _stage({r.heatmap.slide: r.predicted for r in rows})
    submission = write_stage_labels(out_dir / "submission.csv", patients)
    log.info("submission: %d patients -> %s", len(patients), submission)
    report: dict[str, Any] = {
        "heatmaps": str(cfg.heatmaps), "slides": len(rows), "patients_staged": len(patients),
        "fit_slides": len(fit), "classifier": type(classifier).__name__, "features": asdict(spec),
        "submission": str(submission), "kappa": {}, "slide": {}, "patient": {},
    }  # fmt: skip
    _score(rows, cfg, out_dir, report)
    report["training"] = training_run(checkpoint, state)
    write_reports(report, out_dir)
    return StageResult(out_dir, submission, report["kappa"], report)


def _add_features(rows: list[SlideRow], spec: FeatureSpec, cfg: DictConfig, out_dir: Path) -> None:
    """Every heatmap's features (through the cache), into the rows and ``features.csv``."""
    cache_root = Path(cfg.features_cache) if cfg.get("features_cache") else None
    features, cached = compute_features([r.heatmap for r in rows], spec, cache_root, cfg.workers)
    for row, values in zip(rows, features, strict=True):
        row.features = values
    log.info("features of %d heatmaps (%d from the cache %s)", len(rows), cached, cache_root)
    write_features(out_dir / "features.csv", rows)


def _fit_classifier(rows: list[SlideRow], cfg: DictConfig, out_dir: Path) -> tuple[Any, list[SlideRow]]:
    """The classifier (fitted here on the labelled ``fit`` rows, or loaded) and the rows it was fitted on.

    Fitting here also gives the fitted rows their out-of-fold predictions (grouped cross-validation).
    """
    if cfg.get("fitted"):  # a classifier fitted by an earlier run (e.g. on the training set): no fitting here
        log.info("using the fitted classifier %s", cfg.fitted)
        return FeatureClassifier.load(cfg.fitted), []
    classifier = instantiate(cfg.classifier, _convert_="all")
    fit = [r for r in rows if r.part == "fit" and r.label is not None]
    if not fit:
        if isinstance(classifier, FeatureClassifier):
            raise ValueError(
                f"no labelled slide to fit the classifier: cohort={cfg.cohort} gives no label to the heatmaps of "
                f"{cfg.heatmaps} outside the held-out patients (for unlabelled slides pass fitted=<classifier.joblib>)"
            )
        return classifier, fit
    balance = bool(cfg.balance_classes)
    rows_x, labels, patients = [r.features for r in fit], [r.label for r in fit], [r.patient for r in fit]
    if cfg.cv_folds and len(set(patients)) >= 2:
        oof = cross_val_predict_grouped(classifier, rows_x, labels, patients, cfg.cv_folds, cfg.seed, balance)
        for row, label in zip(fit, oof, strict=True):
            row.oof = label
    classifier.fit(rows_x, labels, sample_weight=balanced_weights(labels) if balance else None)
    if hasattr(classifier, "save"):
        classifier.save(out_dir / "classifier.joblib")
    return classifier, fit


def _predict(classifier: Any, rows: list[SlideRow], out_dir: Path) -> None:
    """Label every slide (and keep the class probabilities when the classifier gives them)."""
    x = [r.features for r in rows]
    proba = classifier.predict_proba(x) if hasattr(classifier, "predict_proba") else None
    for i, (row, label) in enumerate(zip(rows, classifier.predict(x), strict=True)):
        row.predicted = label
        row.proba = proba[i] if proba is not None else None
    write_predictions(out_dir / "predictions.csv", rows)


def _score(rows: list[SlideRow], cfg: DictConfig, out_dir: Path, report: dict[str, Any]) -> None:
    """Kappa and reports on the held-out and the out-of-fold predictions; detection metrics; pictures."""
    reference = _reference_stages(cfg.cohort)
    for part, chosen, source in (
        ("test", [r for r in rows if r.part == "test" and r.label is not None], "predicted"),
        ("cv", [r for r in rows if r.oof], "oof"),
    ):
        if chosen:
            _evaluate(part, chosen, source, reference, out_dir, report)
    evaluated = [r for r in rows if r.part == "test"] or [r for r in rows if r.part == "fit"]
    report["detection"] = _detection(evaluated, cfg.froc, out_dir).as_dict()
    report["pictures"] = save_pictures(evaluated, cfg.pictures, out_dir)


# -- inputs ------------------------------------------------------------------------------------------------


def _slide_rows(heatmaps: Sequence[HeatmapRecord], cfg: DictConfig) -> list[SlideRow]:
    """Join heatmaps with the cohort's labels, patients and annotations (slides match by file name)."""
    index = cohort_index(cfg.get("cohort"))
    labels_by_size = bool(cfg.camelyon16_labels)
    rows = [SlideRow.of(h, slide_info(h.slide, h.slide_mpp, index, labels_by_size)) for h in heatmaps]
    unmatched = sum(1 for h in heatmaps if h.slide not in index)
    if index and unmatched:
        log.warning("%d of %d heatmaps have no slide in the cohort %s (no label)", unmatched, len(heatmaps), cfg.cohort)
    return rows


def _reference_stages(cohort: str | None) -> Path | None:
    """The cohort's ``stage_labels.csv``, when there is one."""
    path = Path(cohort) / "stage_labels.csv" if cohort else None
    return path if path is not None and path.is_file() else None


# -- staging -------------------------------------------------------------------------------------------------


def _stage(labels: dict[str, str]) -> list[PatientRecord]:
    """Stage the CAMELYON17 patients that have all five node slides; warn about the others."""
    nodes = {slide: label for slide, label in labels.items() if parse_node(slide)}
    complete, partial = [], []
    for patient in stage_patients(nodes):
        (complete if len(patient.nodes) == 5 else partial).append(patient)
    if partial:
        log.warning(
            "%d patients lack node slides and are not staged: %s", len(partial), [p.patient for p in partial][:10]
        )
    return complete


# -- evaluation ----------------------------------------------------------------------------------------------


def _evaluate(part: str, rows: list[SlideRow], source: str, reference: Path | None, out: Path, report: dict) -> None:
    """Slide and patient reports, pictures and kappa for one evaluation part (``test`` or ``cv``)."""
    predicted = [getattr(r, source) for r in rows]
    slides = class_report([r.label for r in rows], predicted, SLIDE_LABELS)
    report["slide"][part] = slides.as_dict() | {"table": slides.table()}
    title = {"test": "held-out patients", "cv": "out-of-fold (grouped CV)"}[part]
    save_confusion_png(slides, out / f"confusion_slide_{part}.png", f"Slide labels, {title}")
    if reference is None:
        return
    truth = {p.patient: p.stage for p in read_stage_labels(reference)}
    staged = [p for p in _stage({r.heatmap.slide: getattr(r, source) for r in rows}) if p.patient in truth]
    if not staged:
        return
    csv_path = out / ("submission.csv" if part == "test" else f"submission_{part}.csv")
    if part != "test":
        write_stage_labels(csv_path, staged)
    ids = [p.patient for p in staged]
    kappa = camelyon17_kappa(reference, csv_path, patients=ids)
    patients = class_report([truth[p] for p in ids], [p.stage for p in staged], PN_STAGES)
    report["kappa"][part] = kappa
    report["patient"][part] = patients.as_dict() | {"table": patients.table(), "n": len(ids)}
    save_confusion_png(patients, out / f"confusion_patient_{part}.png", f"pN stages, {title}, kappa {kappa:.3f}")


def _detection(rows: list[SlideRow], froc: DictConfig, out: Path) -> DetectionResult:
    """Lesion FROC (and ``froc.png``) and slide ROC AUC, from ``froc:`` of the config."""
    settings = DetectionSettings(**OmegaConf.to_container(froc))  # type: ignore[arg-type]
    slides = [DetectionSlide(r.heatmap, r.label, r.annotation, r.features["max_prob"], r.proba) for r in rows]
    result = detection_scores(slides, settings)
    if result.curve is not None:
        save_froc_png(result.curve, out / "froc.png")
    return result
