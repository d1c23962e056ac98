"""A staging run's report as ``report.json``, ``report.md``, the log summary and the terminal summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from wsiseg.atomic import write_text_atomic
from wsiseg.evaluation.records import PartScores, ScoredPart, StageReport

log = logging.getLogger(__name__)


def write_reports(report: StageReport, out: Path) -> None:
    """``report.json``, ``report.md``, the log summary, and the terminal report on stdout."""
    write_text_atomic(out / "report.json", report.to_json())
    write_text_atomic(out / "report.md", markdown_report(report))
    log_summary(report, out)
    print(terminal_report(report, out), flush=True)


_TITLES: dict[ScoredPart, tuple[str, str]] = {  # part -> (Markdown heading, terminal title)
    "test": ("Held-out patients", "held-out patients"),
    "cv": ("Out-of-fold (cross-validation grouped by patient)", "out-of-fold, fitted patients"),
}


def markdown_report(report: StageReport) -> str:
    """``report.md``: per scored part the kappa and the slide / patient tables; the detection scores."""
    lines = ["# Slide classification and pN staging", ""]
    for part, scores in report.parts.items():
        lines += [f"## {_TITLES[part][0]}", ""]
        if scores.staging is not None:
            lines += [f"Quadratic-weighted kappa (CAMELYON17): **{scores.staging.kappa:.4f}**{_ci_text(scores)}", ""]
        lines += ["Slides:", "", scores.slides.table(), ""]
        if scores.staging is not None:
            lines += ["Patients:", "", scores.staging.patients.table(), ""]
    det = report.detection
    if det.curve is not None or det.auc_max_prob is not None:
        lines += ["## Detection (CAMELYON16 metrics)", ""] + ([f"Slides: {det.scope}.", ""] if det.scope else [])
        if det.curve is not None:
            lines.append(f"FROC score {det.curve.score:.4f} ({det.curve.n_lesions} lesions, {det.slides} slides)")
        for name, auc, ci in (("max_prob", det.auc_max_prob, det.auc_max_prob_ci),
                              ("classifier", det.auc_classifier, det.auc_classifier_ci)):  # fmt: skip
            if auc is not None:
                over = f" over {det.auc_slides} slides" if det.auc_slides else ""
                lines.append(f"- slide ROC AUC ({name}): {auc:.4f}{_interval(ci)}{over}")
    if report.missing_nodes:
        lines += ["", "## Nodes without a heatmap, counted negative (missing_nodes=negative)", ""]
        lines += [f"- {m.patient} node {m.node}: {m.reason}" for m in report.missing_nodes]
    if report.lesions.iou:
        lines += ["", "## Predicted lesions against the annotations", "",
                  f"Mean IoU {report.lesions.mean_iou:.4f} over {len(report.lesions.iou)} annotated slides (heatmap "
                  "resolution; per slide in lesions/summary.csv)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def log_summary(report: StageReport, out: Path) -> None:
    """The run's result in the log: kappa and slide recall per scored part, the FROC, where the files are."""
    for part, scores in report.parts.items():
        if scores.staging is not None:
            log.info(
                "%s: kappa %.4f on %d patients; slide accuracy %.3f; recall negative %.2f itc %.2f micro %.2f "
                "macro %.2f", part, scores.staging.kappa, scores.staging.n, scores.slides.accuracy,
                *scores.slides.recall,
            )  # fmt: skip
    det = report.detection
    if det.curve is not None:
        log.info("FROC %.4f (%d lesions); slide AUC %s (%s)", det.curve.score, det.curve.n_lesions, det.auc_max_prob,
                 det.scope)  # fmt: skip
    for m in report.missing_nodes:
        log.warning("%s node %d counted negative (missing_nodes=negative): %s", m.patient, m.node, m.reason)
    log.info("report, pictures and submission in %s", out)


_ARTEFACTS = {
    "submission.csv": "submission (official format)", "predictions.csv": "slide predictions",
    "features.csv": "features", "report.md": "report (tables)", "report.html": "report (browser: open it)",
    "confusion_slide_test.png": "slide confusion",
    "confusion_patient_test.png": "patient confusion", "confusion_slide_cv.png": "slide confusion (CV)",
    "confusion_patient_cv.png": "patient confusion (CV)", "froc.png": "FROC curve", "gallery.png": "overlays",
}  # fmt: skip


def terminal_report(report: StageReport, out: Path) -> str:
    """The short report printed at the end: kappa, per-class slide accuracy, FROC, and where everything is."""
    lines = ["", "=" * 78, "wsiseg stage: slide classification and pN staging", "=" * 78]
    for part, scores in report.parts.items():
        lines += _part_lines(part, scores)
    lines += _detection_lines(report)
    return "\n".join([*lines, *_artefact_lines(report, out)])


def _part_lines(part: ScoredPart, scores: PartScores) -> list[str]:
    """A scored part's kappa (when staged) and its slide accuracy and recall per class."""
    title, slides, staging = _TITLES[part][1], scores.slides, scores.staging
    head = f"{title}:"
    if staging is not None:
        head = f"{title}: kappa {staging.kappa:.4f} over {staging.n} patients (CAMELYON17, quadratic){_ci_text(scores)}"
    per_class = zip(slides.labels, slides.recall, slides.support, strict=True)
    recall = "  ".join(f"{k} {r:.2f} ({int(n)})" for k, r, n in per_class)
    return [head, f"  slide accuracy {slides.accuracy:.3f}; recall per class (n): {recall}"]


def _ci_text(scores: PartScores) -> str:
    """``, 95% CI [low, high] (bootstrap over patients, N draws)`` when the kappa has an interval, else ``""``."""
    ci = scores.staging.kappa_ci if scores.staging is not None else None
    if ci is None:
        return ""
    skipped = f", {ci.n_degenerate} undefined skipped" if ci.n_degenerate else ""
    return f", {ci.level:.0%} CI [{ci.low:.3f}, {ci.high:.3f}] (bootstrap over patients, {ci.n_boot} draws{skipped})"


def _interval(ci: Any) -> str:
    """``, 95% CI [low, high]`` of a bootstrap interval, or ``""``."""
    return "" if ci is None else f", {ci.level:.0%} CI [{ci.low:.3f}, {ci.high:.3f}]"


def _detection_lines(report: StageReport) -> list[str]:
    """The FROC and slide ROC AUC (with their slides), the nodes counted negative, the lesions' IoU."""
    det, lesions = report.detection, report.lesions
    lines, scope = [], f", {det.scope}" if det.scope else ""
    if det.auc_classifier is not None or det.auc_max_prob is not None:
        use_classifier = det.auc_classifier is not None
        auc, ci = (
            (det.auc_classifier, det.auc_classifier_ci) if use_classifier else (det.auc_max_prob, det.auc_max_prob_ci)
        )
        froc = f"FROC {det.curve.score:.3f} ({det.curve.n_lesions} lesions), " if det.curve is not None else ""
        slides = f" ({det.auc_slides} slides)" if det.auc_slides else ""
        lines.append(f"detection{scope}: {froc}slide ROC AUC {auc:.3f}{_interval(ci)}{slides}")
    elif det.curve is not None:
        lines.append(f"detection{scope}: FROC {det.curve.score:.3f} ({det.curve.n_lesions} lesions)")
    if report.missing_nodes:
        lines.append(f"{len(report.missing_nodes)} nodes without a heatmap counted negative (missing_nodes=negative): "
                     + ", ".join(f"{m.patient} node {m.node}" for m in report.missing_nodes[:5]))  # fmt: skip
    if lesions.iou:
        lines.append(f"predicted lesions: IoU {lesions.mean_iou:.3f} with the annotations ({len(lesions.iou)} "
                     "annotated slides, heatmap resolution)")  # fmt: skip
    return lines


def _artefact_lines(report: StageReport, out: Path) -> list[str]:
    """Where the written files, the ROI figure, the checkpoint and the TensorBoard logs are."""
    lines = ["artefacts:"]
    lines += [f"  {what:<30} {out / name}" for name, what in _ARTEFACTS.items() if (out / name).is_file()]
    if report.inventory is not None:
        left = sum(report.left_out.values())
        lines.append(f"  {'cohort inventory':<30} {report.inventory} ({left} files left out: {report.left_out})")
    if report.pictures.roi is not None:
        lines.append(f"  {'tissue ROI figure':<30} {report.pictures.roi}")
    if report.lesions.folder is not None:
        lines.append(f"  {'lesions (QuPath, ASAP)':<30} {report.lesions.folder}/<slide>.lesions.geojson|.xml")
    training = report.training
    for path, what in ((training.checkpoint, "U-Net checkpoint"), (training.tensorboard, "TensorBoard logs")):
        if path is not None:
            lines.append(f"  {what:<30} {path}")
    if training.tensorboard is not None:
        lines.append(f"  watch training with: tensorboard --logdir {training.tensorboard}")
    return lines
