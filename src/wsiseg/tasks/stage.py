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
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.metrics import roc_auc_score

from wsiseg.annotations import read_asap_xml, tumour_mask
from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.classifiers import FeatureClassifier, balanced_weights, cross_val_predict_grouped
from wsiseg.errors import CheckpointError
from wsiseg.evaluation import (
    OFFICIAL_LEVEL,
    SlideHits,
    camelyon17_kappa,
    class_report,
    froc,
    save_confusion_png,
    save_froc_png,
    slide_hits_at_level,
)
from wsiseg.features import FeatureSpec, HeatmapRecord, compute_features, find_heatmaps, lesion_detections, load_heatmap
from wsiseg.labels import (
    NODE_RE,
    PN_STAGES,
    SLIDE_LABELS,
    PatientRecord,
    read_stage_labels,
    size_label,
    write_stage_labels,
)
from wsiseg.sampling import SlideRecord, SplitSpec, patient_split, read_cohort, select_training_slides
from wsiseg.staging import stage_patients
from wsiseg.tasks.instantiate import record_run
from wsiseg.tasks.stage_report import save_pictures, write_features, write_predictions, write_reports

log = logging.getLogger(__name__)


@dataclass
class SlideRow:
    """Everything known about one slide with a heatmap."""

    heatmap: HeatmapRecord
    patient: str
    dataset: str = ""
    label: str | None = None
    annotation: Path | None = None
    label_source: str = ""
    part: str = "fit"  # fit | test
    features: dict[str, float] = field(default_factory=dict)
    predicted: str = ""
    oof: str = ""  # out-of-fold prediction (fit slides with labels)
    proba: np.ndarray | None = None


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
    checkpoint = _heatmaps_checkpoint(rows)
    state = _load_checkpoint(checkpoint, required=cfg.holdout == "checkpoint")
    _mark_holdout(rows, cfg.holdout, cfg.cohort, checkpoint, state)
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
    report["training"] = _training_run(checkpoint, state)
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
    report["detection"] = _detection_metrics(evaluated, cfg.froc, out_dir)
    report["pictures"] = save_pictures(evaluated, cfg.pictures, out_dir)


# -- inputs ------------------------------------------------------------------------------------------------


def _slide_rows(heatmaps: Sequence[HeatmapRecord], cfg: DictConfig) -> list[SlideRow]:
    """Join heatmaps with the cohort's labels, patients and annotations (slides match by file name)."""
    records: dict[str, SlideRecord] = {}
    if cfg.get("cohort"):
        records = {r.slide: r for r in read_cohort(cfg.cohort)}
    rows = []
    for h in heatmaps:
        rec = records.get(h.slide)
        match = NODE_RE.match(h.slide)
        patient = rec.patient if rec else match.group(1).lower() if match else Path(h.slide).stem
        row = SlideRow(h, patient)
        if rec is not None:
            row.dataset, row.annotation = rec.dataset, rec.annotation
            if rec.label is not None:
                row.label, row.label_source = rec.label, "labels"
            elif rec.dataset == "camelyon16" and rec.has_tumour and rec.annotation and cfg.camelyon16_labels:
                row.label, row.label_source = _label_from_annotation(rec.annotation, h.slide_mpp), "annotation"
        rows.append(row)
    unmatched = sum(1 for h in heatmaps if h.slide not in records)
    if records and unmatched:
        log.warning("%d of %d heatmaps have no slide in the cohort %s (no label)", unmatched, len(heatmaps), cfg.cohort)
    return rows


def _label_from_annotation(xml: Path, slide_mpp: float) -> str:
    """CAMELYON16 tumour slides have no slide label: take the size rule on the largest annotated lesion."""
    tumour = [a for a in read_asap_xml(xml) if a.role == "tumor"]
    longest = max((max_feret_diameter(a.vertices_xy) for a in tumour), default=0.0) * slide_mpp / 1000
    return size_label(longest) if longest > 0 else "itc"


def _heatmaps_checkpoint(rows: list[SlideRow]) -> Path | None:
    """The checkpoint that made every heatmap, when they name exactly one."""
    checkpoints = {r.heatmap.checkpoint for r in rows} - {None}
    return Path(checkpoints.pop()) if len(checkpoints) == 1 else None


def _load_checkpoint(checkpoint: Path | None, required: bool) -> dict[str, Any] | None:
    """The checkpoint's contents, loaded once, weights-only, with its model record checked.

    ``None`` when there is none, or when it is unreadable or refused and not ``required``.
    """
    if checkpoint is None or not checkpoint.is_file():
        return None
    from wsiseg.model.checkpoint import read_checkpoint, stored_split  # torch: only this path needs it

    try:
        state = read_checkpoint(checkpoint)
        stored_split(state, checkpoint)  # a crafted record is refused here, before anything is used
    except CheckpointError as err:
        if required:
            raise
        log.warning("not using the checkpoint: %s", err)
        return None
    return state


def checkpoint_split(
    checkpoint: Path, cohort: str | Path | None, state: dict[str, Any] | None = None
) -> dict[str, str]:
    """The patient split the U-Net was trained with.

    Read from the checkpoint's record (or ``PatchDataModule.state_dict`` of older checkpoints); for a
    checkpoint with neither, recomputed from its stored data config over ``cohort``. ``state``: the
    checkpoint's contents when already loaded.

    Raises:
        FileNotFoundError: No such checkpoint.
        CheckpointError: The checkpoint is refused (pickled objects, a crafted model record).
        ValueError: It records no split and none can be recomputed.
    """
    from wsiseg.model.checkpoint import CONFIG_KEY, stored_split

    if state is None:
        state = _load_checkpoint(checkpoint, required=True)
    if state is None:
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    saved = stored_split(state, checkpoint)
    if saved:
        return saved
    config = state.get(CONFIG_KEY)
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict) or cohort is None:
        raise ValueError(f"{checkpoint} records no patient split; run stage.py with holdout=none")
    records = select_training_slides(read_cohort(cohort), data["tumour_from"], data["normal_from"])
    return patient_split(records, SplitSpec(data["val_fraction"], data["test_fraction"], data["split_seed"]))


def _mark_holdout(
    rows: list[SlideRow], holdout: str, cohort: str | None, checkpoint: Path | None, state: dict[str, Any] | None
) -> None:
    """Mark the slides of held-out patients (``holdout=checkpoint``) as ``test``."""
    if holdout == "none":
        return
    if holdout != "checkpoint":
        raise ValueError(f"holdout must be 'checkpoint' or 'none', got {holdout!r}")
    if checkpoint is None:
        found = sorted({r.heatmap.checkpoint for r in rows} - {None})
        raise ValueError(f"holdout=checkpoint needs heatmaps from one checkpoint, found {found}; use holdout=none")
    if state is None:
        raise FileNotFoundError(f"the heatmaps' checkpoint {checkpoint} is gone; use holdout=none")
    split = checkpoint_split(checkpoint, cohort, state)
    for row in rows:
        row.part = "test" if split.get(row.patient) == "test" else "fit"
    log.info(
        "held-out patients (the U-Net's test split): %d of %d",
        len({r.patient for r in rows if r.part == "test"}),
        len({r.patient for r in rows}),
    )


def _training_run(checkpoint: Path | None, state: dict[str, Any] | None) -> dict[str, str]:
    """The checkpoint behind the heatmaps and its TensorBoard folder, when they are known and still there."""
    if checkpoint is None or state is None:
        return {}
    from wsiseg.model.checkpoint import tensorboard_folder

    folder = tensorboard_folder(state)
    return {"checkpoint": str(checkpoint)} | ({"tensorboard": str(folder)} if folder else {})


def _reference_stages(cohort: str | None) -> Path | None:
    """The cohort's ``stage_labels.csv``, when there is one."""
    path = Path(cohort) / "stage_labels.csv" if cohort else None
    return path if path is not None and path.is_file() else None


# -- staging -------------------------------------------------------------------------------------------------


def _stage(labels: dict[str, str]) -> list[PatientRecord]:
    """Stage the CAMELYON17 patients that have all five node slides; warn about the others."""
    nodes = {slide: label for slide, label in labels.items() if NODE_RE.match(slide)}
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


def _detection_metrics(rows: list[SlideRow], settings: DictConfig, out: Path) -> dict[str, Any]:
    """CAMELYON16 lesion FROC and slide ROC AUC over slides of known tumour status (annotated if tumour)."""
    usable = [r for r in rows if r.label == "negative" or (r.label is not None and r.annotation is not None)]
    result: dict[str, Any] = {"slides": len(usable)}
    if not usable:
        return result
    truth = [r.label != "negative" for r in usable]
    if len(set(truth)) == 2:
        result["auc_max_prob"] = float(roc_auc_score(truth, [r.features["max_prob"] for r in usable]))
        if usable[0].proba is not None:
            p_tumour = [1.0 - r.proba[SLIDE_LABELS.index("negative")] for r in usable]
            result["auc_classifier"] = float(roc_auc_score(truth, p_tumour))
    curve = froc([_lesion_hits(r, settings) for r in usable], settings.get("sweep", "official"))
    save_froc_png(curve, out / "froc.png")
    result |= {"froc": curve.score, "froc_at": curve.at, "lesions": curve.n_lesions, "froc_sweep": curve.sweep}
    return result


def _lesion_hits(row: SlideRow, settings: DictConfig) -> SlideHits:
    """One slide's share of the FROC, the official way (see :func:`wsiseg.evaluation.slide_hits_at_level`).

    Detections are the heatmap's regions at ``settings.threshold``; the evaluation mask is the annotation
    rasterised at pyramid level ``settings.level`` of the slide (``2**level`` level-0 px per pixel).
    """
    heatmap, _ = load_heatmap(row.heatmap)
    detections = lesion_detections(heatmap, row.heatmap.mpp, settings.threshold, settings.merge_um)
    slide_mpp, level = row.heatmap.slide_mpp, int(settings.get("level", OFFICIAL_LEVEL))
    tumour = None
    if row.label != "negative":
        scale = row.heatmap.mpp / slide_mpp  # level-0 px per heatmap px
        size_wh = (math.ceil(heatmap.shape[1] * scale), math.ceil(heatmap.shape[0] * scale))
        tumour = tumour_mask(row.annotation, size_wh, 2**level)
    return slide_hits_at_level(detections, tumour, slide_mpp, level, settings.get("l0_mpp"))
