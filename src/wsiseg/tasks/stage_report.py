"""What ``stage.py`` writes besides the submission: tables, reports, pictures and the terminal summary."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from wsiseg.atomic import write_text_atomic
from wsiseg.evaluation import save_gallery
from wsiseg.labels import SLIDE_LABELS
from wsiseg.slide import open_slide
from wsiseg.tasks.stage_record import SlideRow
from wsiseg.tissue import detect_tissue, save_roi_figure

log = logging.getLogger(__name__)


def write_reports(report: dict[str, Any], out: Path) -> None:
    """``report.json``, ``report.md``, the log summary, and the terminal report on stdout."""
    write_text_atomic(out / "report.json", json.dumps(report, indent=2, default=_plain))
    write_text_atomic(out / "report.md", _markdown(report))
    _log_summary(report, out)
    print(terminal_report(report, out), flush=True)


def save_pictures(rows: list[SlideRow], settings: DictConfig, out: Path) -> dict[str, str]:
    """The gallery of overlays (a few slides per reference label) and the tissue ROI figure of one slide."""
    made: dict[str, str] = {}
    per_label = int(settings.gallery_per_label)
    if per_label > 0:
        gallery = {
            label: [(r.heatmap.overlay, f"{r.heatmap.name}\npredicted {r.predicted}")
                    for r in rows if r.label == label and r.heatmap.overlay and r.heatmap.overlay.is_file()][:per_label]
            for label in SLIDE_LABELS
        }  # fmt: skip
        if any(gallery.values()):
            made["gallery"] = str(save_gallery(out / "gallery.png", gallery))
    if settings.roi_figure:
        order = sorted(rows, key=lambda r: SLIDE_LABELS.index(r.label) if r.label else -1, reverse=True)
        for r in order:
            if r.heatmap.slide_path.is_file():
                try:
                    with open_slide(r.heatmap.slide_path) as slide:
                        thumbnail = slide.thumbnail(8.0)
                        roi = detect_tissue(thumbnail, 8.0, slide_mpp=slide.mpp)
                    made["roi"] = str(save_roi_figure(out / f"roi_{r.heatmap.name}.png", thumbnail, roi))
                except (OSError, ValueError) as err:
                    log.warning("no ROI figure for %s: %s", r.heatmap.slide_path, err)
                break
    return made


def _csv_text(header: list[str], lines: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue()


def write_features(path: Path, rows: list[SlideRow]) -> None:
    """``features.csv``: slide, patient, part (fit / test), label, then every named feature."""
    names = sorted(rows[0].features)
    lines = [
        [r.heatmap.slide, r.patient, r.part, r.label or ""] + [f"{r.features[n]:.6g}" for n in names] for r in rows
    ]
    write_text_atomic(path, _csv_text(["slide", "patient", "part", "label", *names], lines))


def write_predictions(path: Path, rows: list[SlideRow]) -> None:
    """``predictions.csv``: per slide its label, prediction, out-of-fold prediction and class probabilities."""
    header = ["slide", "patient", "part", "label", "label_source", "predicted", "out_of_fold"]
    header += [f"p_{name}" for name in SLIDE_LABELS]
    lines = []
    for r in rows:
        probs = [f"{v:.4f}" for v in r.proba] if r.proba is not None else [""] * len(SLIDE_LABELS)
        lines.append([r.heatmap.slide, r.patient, r.part, r.label or "", r.label_source, r.predicted, r.oof, *probs])
    write_text_atomic(path, _csv_text(header, lines))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _markdown(report: dict[str, Any]) -> str:
    lines = ["# Slide classification and pN staging", ""]
    for part, title in (("test", "Held-out patients"), ("cv", "Out-of-fold (cross-validation grouped by patient)")):
        if part not in report["slide"]:
            continue
        lines += [f"## {title}", ""]
        if part in report["kappa"]:
            lines += [f"Quadratic-weighted kappa (CAMELYON17): **{report['kappa'][part]:.4f}**", ""]
        lines += ["Slides:", "", report["slide"][part]["table"], ""]
        if part in report["patient"]:
            lines += ["Patients:", "", report["patient"][part]["table"], ""]
    det = report.get("detection", {})
    if "froc" in det:
        lines += ["## Detection (CAMELYON16 metrics)", "", f"FROC score {det['froc']:.4f} ({det['lesions']} lesions)"]
        for key in ("auc_max_prob", "auc_classifier"):
            if key in det:
                lines.append(f"- slide ROC AUC ({key.removeprefix('auc_')}): {det[key]:.4f}")
    return "\n".join(lines) + "\n"


def _log_summary(report: dict[str, Any], out: Path) -> None:
    for part in ("test", "cv"):
        if part in report["kappa"]:
            recall = report["slide"][part]["per_class"]
            log.info(
                "%s: kappa %.4f on %d patients; slide accuracy %.3f; recall negative %.2f itc %.2f micro %.2f "
                "macro %.2f", part, report["kappa"][part], report["patient"][part]["n"],
                report["slide"][part]["accuracy"], *(recall[k]["recall"] for k in SLIDE_LABELS),
            )  # fmt: skip
    det = report.get("detection", {})
    if "froc" in det:
        log.info("FROC %.4f (%d lesions); slide AUC %s", det["froc"], det["lesions"], det.get("auc_max_prob"))
    log.info("report, pictures and submission in %s", out)


def terminal_report(report: dict[str, Any], out: Path) -> str:
    """The short report printed at the end: kappa, per-class slide accuracy, FROC, and where everything is."""
    lines = ["", "=" * 78, "wsiseg stage: slide classification and pN staging", "=" * 78]
    for part, title in (("test", "held-out patients"), ("cv", "out-of-fold, fitted patients")):
        if part not in report["slide"]:
            continue
        slide = report["slide"][part]
        if part in report["kappa"]:
            n = report["patient"][part]["n"]
            lines.append(f"{title}: kappa {report['kappa'][part]:.4f} over {n} patients (CAMELYON17, quadratic)")
        else:
            lines.append(f"{title}:")
        recall = "  ".join(f"{k} {v['recall']:.2f} ({v['support']})" for k, v in slide["per_class"].items())
        lines.append(f"  slide accuracy {slide['accuracy']:.3f}; recall per class (n): {recall}")
    det = report.get("detection", {})
    if "froc" in det:
        auc = det.get("auc_classifier", det.get("auc_max_prob", float("nan")))
        lines.append(f"detection: FROC {det['froc']:.3f} ({det['lesions']} lesions), slide ROC AUC {auc:.3f}")
    lines.append("artefacts:")
    names = {
        "submission.csv": "submission (official format)", "predictions.csv": "slide predictions",
        "features.csv": "features", "report.md": "report (tables)", "confusion_slide_test.png": "slide confusion",
        "confusion_patient_test.png": "patient confusion", "confusion_slide_cv.png": "slide confusion (CV)",
        "confusion_patient_cv.png": "patient confusion (CV)", "froc.png": "FROC curve", "gallery.png": "overlays",
    }  # fmt: skip
    for name, what in names.items():
        if (out / name).is_file():
            lines.append(f"  {what:<30} {out / name}")
    if "roi" in report.get("pictures", {}):
        lines.append(f"  {'tissue ROI figure':<30} {report['pictures']['roi']}")
    training = report.get("training", {})
    for key, what in (("checkpoint", "U-Net checkpoint"), ("tensorboard", "TensorBoard logs")):
        if key in training:
            lines.append(f"  {what:<30} {training[key]}")
    if "tensorboard" in training:
        lines.append(f"  watch training with: tensorboard --logdir {training['tensorboard']}")
    return "\n".join(lines)
