"""The ``stage.py`` task: heatmaps -> features -> slide labels -> pN stages -> submission CSV and scores.

Steps (see ``conf/stage.yaml``):

1. the cohort's inventory (labels, patients, annotations; ``inventory.json``), the finished heatmaps, and
   every patient's five nodes: a node without a heatmap stops the run, naming the patient, the node and why,
   unless ``missing_nodes=negative`` counts it negative (the report lists it);
2. the heatmaps' features (cached per heatmap and feature settings);
3. fit the slide classifier on the labelled slides of the training patients, with balanced class weights,
   and cross-validate it grouped by patient (out-of-fold predictions); or use a ``fitted`` one, which scores
   every slide it did not fit;
4. label every slide, stage every patient, write the submission in the official format and every slide's
   predicted lesions for QuPath (GeoJSON) and ASAP (XML) (see :mod:`wsiseg.tasks.stage_lesions`);
5. where labels are known: slide and patient confusion matrices (PNG), a per-class precision / recall table,
   the official kappa on the held-out patients (and on the out-of-fold predictions), the CAMELYON16 FROC and
   the slide-level ROC AUC with its interval, only ever from slides the classifier did not fit;
6. the reports: ``report.json``, ``report.md``, the terminal summary and ``report.html`` (one self-contained
   page for a browser, see :mod:`wsiseg.tasks.stage_html`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from wsiseg.classifiers import FeatureClassifier, balanced_weights, out_of_fold
from wsiseg.cohorts import CohortOptions, Inventory, cohort_index, read_inventory, slide_info
from wsiseg.features import FeatureSpec, HeatmapRecord, compute_features, find_heatmaps
from wsiseg.labels import write_stage_labels
from wsiseg.staging import fill_missing
from wsiseg.tasks.instantiate import record_run
from wsiseg.tasks.stage_complete import find_missing_nodes
from wsiseg.tasks.stage_holdout import heatmaps_checkpoints, load_checkpoints, mark_holdout, training_run
from wsiseg.tasks.stage_html import HtmlInputs, write_html_report
from wsiseg.tasks.stage_lesions import LesionSettings, write_lesions
from wsiseg.tasks.stage_record import Pictures, ScoredPart, SlideRow, StageReport
from wsiseg.tasks.stage_report import save_pictures, write_features, write_predictions, write_reports
from wsiseg.tasks.stage_scores import BootstrapSettings, score_detection, score_parts, stage_complete

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageResult:
    """What a staging run leaves: the folder, the submission and the report (written as ``report.json``)."""

    out_dir: Path
    submission: Path
    report: StageReport

    @property
    def kappa(self) -> dict[ScoredPart, float]:
        """The official kappa of every part scored against a reference staging (``test``, ``cv``)."""
        return self.report.kappa


def run(cfg: DictConfig) -> StageResult:
    """Stage patients from the heatmaps in ``cfg.heatmaps`` (see ``conf/stage.yaml``).

    Raises:
        MissingNodesError: a patient lacks a node's heatmap and ``missing_nodes=fail`` (no submission is written).
    """
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = json.loads(record_run(cfg, out_dir, cfg.get("seed")).read_text())
    spec: FeatureSpec = instantiate(cfg.features, _convert_="all")
    heatmaps = find_heatmaps(cfg.heatmaps)
    inventory = _inventory(cfg, out_dir, heatmaps)
    rows = _slide_rows(heatmaps, inventory, cfg)
    missing = find_missing_nodes(rows, inventory, Path(cfg.heatmaps))
    fallback = fill_missing(missing, cfg.missing_nodes, MISSING_ADVICE)  # raises unless counted negative
    checkpoints = heatmaps_checkpoints(rows)
    states = load_checkpoints(checkpoints, required=cfg.holdout == "checkpoint")
    mark_holdout(rows, cfg.holdout, inventory.records if inventory else None, checkpoints, states)
    _add_features(rows, spec, cfg, out_dir)
    classifier, fit = _fit_classifier(rows, cfg, out_dir)
    _predict(classifier, rows, out_dir)
    patients = stage_complete({r.heatmap.slide: r.predicted for r in rows} | fallback)
    submission = write_stage_labels(out_dir / "submission.csv", patients)
    log.info("submission: %d patients -> %s", len(patients), submission)
    lesions = write_lesions(rows, patients, LesionSettings(**cfg.lesions), out_dir)
    bootstrap = BootstrapSettings(**cfg.bootstrap)
    parts = score_parts(rows, inventory.stages if inventory else None, out_dir, bootstrap, fallback)
    evaluated, scope = _evaluated(rows)
    detection = score_detection(evaluated, cfg.froc, out_dir, bootstrap, scope)
    pictures = save_pictures(evaluated, cfg.pictures, out_dir, instantiate(cfg.tissue, _convert_="all"))
    report = StageReport(
        str(cfg.heatmaps), len(rows), len(patients), len(fit), type(classifier).__name__, spec, submission, parts,
        detection, Pictures(pictures.get("gallery"), pictures.get("roi")), training_run(checkpoints, states), lesions,
        tuple(missing), out_dir / "inventory.json" if inventory else None, inventory.reasons() if inventory else {},
    )  # fmt: skip
    if cfg.pictures.html:
        inputs = HtmlInputs(report, rows, {p.patient: p.stage for p in patients}, provenance)
        write_html_report(out_dir / "report.html", inputs, cfg.pictures.html_overlay_px)
    write_reports(report, out_dir)
    return StageResult(out_dir, submission, report)


#: How to go on when patients lack node heatmaps (the end of :class:`~wsiseg.staging.MissingNodesError`).
MISSING_ADVICE = (
    "Fix or replace those slides and rerun predict.py with the same out_dir (it predicts only what is missing), "
    "or stage anyway with missing_nodes=negative (each missing node counted negative; the report lists them)."
)


def _inventory(cfg: DictConfig, out_dir: Path, heatmaps: Sequence[HeatmapRecord]) -> Inventory | None:
    """The cohort's inventory, logged and written; ``None``: no cohort.

    Slides are not opened (staging reads heatmaps), nor need they be in the cohort folder: the slides the
    heatmaps were predicted from stand in for labelled slides it lacks (labels and annotations suffice).
    """
    if not cfg.get("cohort"):
        return None
    options: CohortOptions | None = instantiate(cfg.cohorts, _convert_="all") if cfg.get("cohorts") else None
    inventory = read_inventory(cfg.cohort, options, check_slides=False, elsewhere=[h.slide_path for h in heatmaps])
    inventory.report(out_dir)
    return inventory


def _slide_rows(heatmaps: Sequence[HeatmapRecord], inventory: Inventory | None, cfg: DictConfig) -> list[SlideRow]:
    """Join heatmaps with the cohort's labels, patients and annotations (slides match by stem, any case)."""
    index = cohort_index(inventory.records) if inventory else {}
    labels_by_size = bool(cfg.camelyon16_labels)
    rows = [SlideRow.of(h, slide_info(h.slide, h.slide_mpp, index, labels_by_size)) for h in heatmaps]
    unmatched = [h.name for h in heatmaps if h.name.lower() not in index]
    if index and unmatched:
        log.warning("%d of %d heatmaps have no slide in the cohort %s (no label): %s", len(unmatched),
                    len(heatmaps), cfg.cohort, ", ".join(unmatched[:5]))  # fmt: skip
    return rows


def _evaluated(rows: Sequence[SlideRow]) -> tuple[list[SlideRow], str]:
    """The slides the detection scores come from, and what they are: never slides the classifier fitted."""
    held_out = [r for r in rows if r.part == "test"]
    if held_out:
        return held_out, "held-out"
    return [r for r in rows if r.part == "fit"], "out-of-fold (slides the U-Net may have trained on)"


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
        classifier = FeatureClassifier.load(cfg.fitted)
        _score_unfitted(rows, classifier.fitted_on, cfg.holdout)
        return classifier, []
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
        oof = out_of_fold(classifier, rows_x, labels, patients, cfg.cv_folds, cfg.seed, balance)
        for i, (row, label) in enumerate(zip(fit, oof.labels, strict=True)):
            row.oof, row.oof_proba = label, oof.proba[i] if oof.proba is not None else None
    classifier.fit(rows_x, labels, sample_weight=balanced_weights(labels) if balance else None)
    if hasattr(classifier, "save"):
        classifier.fitted_on = sorted(r.heatmap.name for r in fit)
        classifier.save(out_dir / "classifier.joblib")
    return classifier, fit


def _score_unfitted(rows: Sequence[SlideRow], fitted_on: Sequence[str], holdout: str) -> None:
    """With a classifier fitted earlier: every slide it did not fit is scored (``test``), none it did fit.

    Under ``holdout=checkpoint`` the slides whose patients the U-Net trained on stay unscored (``fit``) too.
    """
    seen = {name.lower() for name in fitted_on}
    for row in rows:
        in_sample = row.heatmap.name.lower() in seen or (holdout == "checkpoint" and row.trained_on)
        row.part = "fit" if in_sample else "test"
    scored = sum(r.part == "test" for r in rows)
    log.info("the fitted classifier scores %d of %d slides (%d it was fitted on)", scored, len(rows), len(seen))


def _predict(classifier: Any, rows: list[SlideRow], out_dir: Path) -> None:
    """Label every slide (and keep the class probabilities when the classifier gives them)."""
    x = [r.features for r in rows]
    proba = classifier.predict_proba(x) if hasattr(classifier, "predict_proba") else None
    for i, (row, label) in enumerate(zip(rows, classifier.predict(x), strict=True)):
        row.predicted = label
        row.proba = proba[i] if proba is not None else None
    write_predictions(out_dir / "predictions.csv", rows)
