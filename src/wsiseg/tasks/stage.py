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
   predicted lesions for QuPath (GeoJSON) and ASAP (XML) (see :mod:`wsiseg.evaluation.lesions`);
5. where labels are known: slide and patient confusion matrices (PNG), a per-class precision / recall table,
   the official kappa on the held-out patients (and on the out-of-fold predictions), the CAMELYON16 FROC and
   the slide-level ROC AUC with its interval, only ever from slides the classifier did not fit;
6. the reports: ``report.json``, ``report.md``, the terminal summary and ``report.html`` (one self-contained
   page for a browser, see :mod:`wsiseg.evaluation.html`).

Each step is one call into its stage's package (cohorts, features, classifiers, staging, evaluation); this
module only reads the config.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from wsiseg.classifiers import (
    FeatureClassifier,
    SlideRow,
    fit_rows,
    heatmaps_checkpoints,
    label_rows,
    load_checkpoints,
    mark_holdout,
    score_unfitted,
    slide_rows,
    training_run,
    write_features,
)
from wsiseg.cohorts import CohortOptions, Inventory, cohort_index, read_inventory
from wsiseg.evaluation import (
    HtmlInputs,
    Pictures,
    ScoredPart,
    StageReport,
    save_pictures,
    score_detection,
    score_parts,
    write_html_report,
    write_lesions,
    write_reports,
)
from wsiseg.features import FeatureSpec, HeatmapRecord, compute_features, find_heatmaps
from wsiseg.labels import write_stage_labels
from wsiseg.staging import fill_missing, find_missing_nodes, stage_complete
from wsiseg.tasks.instantiate import record_run

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
    inventory = _inventory(cfg, out_dir, heatmaps)  # cohorts
    index = cohort_index(inventory.records) if inventory else {}
    rows = slide_rows(heatmaps, index, bool(cfg.camelyon16_labels), cfg.cohort)
    missing = find_missing_nodes([r.heatmap.slide for r in rows], inventory, Path(cfg.heatmaps))  # staging
    fallback = fill_missing(missing, cfg.missing_nodes, MISSING_ADVICE)  # raises unless counted negative
    checkpoints = heatmaps_checkpoints(rows)  # classifiers: which slides it may fit
    states = load_checkpoints(checkpoints, required=cfg.holdout == "checkpoint")
    mark_holdout(rows, cfg.holdout, inventory.records if inventory else None, checkpoints, states)
    _add_features(rows, spec, cfg, out_dir)  # features
    classifier, fit = _fit_classifier(rows, cfg, out_dir)  # classifiers
    label_rows(classifier, rows, out_dir)
    patients = stage_complete({r.heatmap.slide: r.predicted for r in rows} | fallback)  # staging
    submission = write_stage_labels(out_dir / "submission.csv", patients)
    log.info("submission: %d patients -> %s", len(patients), submission)
    lesions = write_lesions(rows, patients, instantiate(cfg.lesions), out_dir)  # evaluation
    bootstrap = instantiate(cfg.bootstrap)
    parts = score_parts(rows, inventory.stages if inventory else None, out_dir, bootstrap, fallback)
    evaluated, scope = _evaluated(rows)
    detection = score_detection(evaluated, instantiate(cfg.froc, _convert_="all"), out_dir, bootstrap, scope)
    pictures = save_pictures(evaluated, out_dir, cfg.pictures.gallery_per_label, cfg.pictures.roi_figure,
                             instantiate(cfg.tissue, _convert_="all"))  # fmt: skip
    report = StageReport(
        str(cfg.heatmaps), len(rows), len(patients), len(fit), type(classifier).__name__, spec, submission, parts,
        detection, Pictures(pictures.get("gallery"), pictures.get("roi")), training_run(checkpoints, states), lesions,
        tuple(missing), out_dir / "inventory.json" if inventory else None, inventory.reasons() if inventory else {},
    )  # fmt: skip
    if cfg.pictures.html:
        config = provenance.get("config")
        text = OmegaConf.to_yaml(OmegaConf.create(config)) if isinstance(config, dict) else str(config)
        inputs = HtmlInputs(report, rows, {p.patient: p.stage for p in patients}, provenance, text)
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
    """The classifier (fitted here on the labelled ``fit`` rows, or a ``fitted`` one loaded) and the rows it fit."""
    if cfg.get("fitted"):  # a classifier fitted by an earlier run (e.g. on the training set): no fitting here
        log.info("using the fitted classifier %s", cfg.fitted)
        classifier = FeatureClassifier.load(cfg.fitted)
        score_unfitted(rows, classifier.fitted_on, cfg.holdout)
        return classifier, []
    classifier = instantiate(cfg.classifier, _convert_="all")
    source = f"cohort={cfg.cohort} gives no label to the heatmaps of {cfg.heatmaps}"
    fit = fit_rows(classifier, rows, cfg.cv_folds, cfg.seed, bool(cfg.balance_classes), out_dir, source)
    return classifier, fit
