"""The stage report: one typed record, written as report.json and rendered as Markdown, log and terminal text."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from wsiseg.classifiers import TrainingRun
from wsiseg.evaluation import BootstrapCI, DetectionResult, FrocResult, class_report
from wsiseg.evaluation.records import PartScores, PatientScore, Pictures, StageReport, StagingScores
from wsiseg.evaluation.rendering import log_summary, markdown_report, terminal_report, write_reports
from wsiseg.features import FeatureSpec
from wsiseg.labels import PN_STAGES, SLIDE_LABELS


@pytest.fixture
def report(tmp_path):
    """Held-out part: 3 slides (2 right), 2 patients (kappa 0.9 given, CI 0.8-1); CV part: slides only; FROC 0.75."""
    slides = class_report(["negative", "macro", "macro"], ["negative", "macro", "itc"], SLIDE_LABELS)
    stages = class_report(["pN0", "pN1"], ["pN0", "pN1mi"], PN_STAGES)
    cv = class_report(["itc"], ["itc"], SLIDE_LABELS)
    at = dict.fromkeys((0.25, 0.5, 1.0, 2.0, 4.0, 8.0), 0.75)
    curve = FrocResult(np.array([1.0, 0.0]), np.array([1.0, 0.0]), 0.75, at, n_slides=3, n_lesions=2)
    ci = BootstrapCI(0.9, 0.8, 1.0, 0.05, 2000, 3, 0.95)
    auc_ci = BootstrapCI(0.5, 0.25, 0.75, 0.1, 2000, 0, 0.95)
    pairs = (PatientScore("patient_000", "pN0", "pN0"), PatientScore("patient_001", "pN1", "pN1mi"))
    (tmp_path / "tb").mkdir()
    return StageReport(
        "heatmaps/", 3, 2, 7, "FeatureClassifier", FeatureSpec(), tmp_path / "submission.csv",
        {"test": PartScores(slides, StagingScores(stages, 0.9, 2, ci, pairs)), "cv": PartScores(cv)},
        DetectionResult(3, auc_max_prob=0.5, curve=curve, auc_slides=4, auc_max_prob_ci=auc_ci, scope="held-out"),
        Pictures(gallery="g.png"),
        TrainingRun(Path("m.ckpt"), tmp_path / "tb"),
    )  # fmt: skip


def test_the_json_keeps_the_report_layout(report):
    data = json.loads(report.to_json())
    assert list(data) == ["heatmaps", "slides", "patients_staged", "fit_slides", "classifier", "features", "submission",
                          "kappa", "slide", "patient", "detection", "pictures", "training", "kappa_ci",
                          "patients", "lesions", "slide_ci", "missing_nodes", "cohort"]  # fmt: skip
    assert data["lesions"] == {
        "folder": None,
        "slides": 0,
        "lesions": {"itc": 0, "micro": 0, "macro": 0},
        "iou_with_annotations": {},
        "mean_iou": None,
    }  # none written: the record's default
    assert (data["heatmaps"], data["slides"], data["patients_staged"], data["fit_slides"]) == ("heatmaps/", 3, 2, 7)
    assert data["features"]["thresholds"] == [0.3, 0.5, 0.7, 0.9] and data["kappa"] == {"test": 0.9}
    assert list(data["slide"]) == ["test", "cv"] and list(data["patient"]) == ["test"]  # the CV part has no staging
    test = data["slide"]["test"]
    assert test["accuracy"] == pytest.approx(2 / 3) and test["per_class"]["macro"] == {
        "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}  # fmt: skip
    assert test["confusion"][3] == [0, 1, 0, 1] and test["table"].startswith("| class | precision |")
    assert data["patient"]["test"]["n"] == 2 and data["patient"]["test"]["per_class"]["pN1"]["recall"] == 0.0
    froc_at = {"0.25": 0.75, "0.5": 0.75, "1.0": 0.75, "2.0": 0.75, "4.0": 0.75, "8.0": 0.75}
    auc_ci = {"estimate": 0.5, "low": 0.25, "high": 0.75, "se": 0.1, "n_boot": 2000, "n_degenerate": 0, "level": 0.95}
    assert data["detection"] == {"slides": 3, "auc_slides": 4, "scope": "held-out", "auc_max_prob": 0.5,
                                 "auc_max_prob_ci": auc_ci, "froc": 0.75, "froc_at": froc_at, "lesions": 2,
                                 "froc_sweep": "official"}  # fmt: skip
    assert data["pictures"] == {"gallery": "g.png"}
    assert data["training"] == {"checkpoint": "m.ckpt", "tensorboard": str(report.training.tensorboard)}
    assert data["kappa_ci"] == {"test": {"estimate": 0.9, "low": 0.8, "high": 1.0, "se": 0.05, "n_boot": 2000,
                                         "n_degenerate": 3, "level": 0.95}}  # fmt: skip
    assert data["patients"] == {"test": [
        {"patient": "patient_000", "reference": "pN0", "predicted": "pN0"},
        {"patient": "patient_001", "reference": "pN1", "predicted": "pN1mi"},
    ]}  # fmt: skip


def test_markdown_log_and_terminal_render_the_same_numbers(report, tmp_path, caplog):
    md = markdown_report(report)
    ci = ", 95% CI [0.800, 1.000] (bootstrap over patients, 2000 draws, 3 undefined skipped)"
    assert f"## Held-out patients\n\nQuadratic-weighted kappa (CAMELYON17): **0.9000**{ci}\n" in md
    assert "## Out-of-fold (cross-validation grouped by patient)\n\nSlides:" in md  # no kappa without staging
    assert md.count("Patients:") == 1 and "| macro | 1.000 | 0.500 | 0.667 | 2 |" in md
    assert "Slides: held-out.\n\nFROC score 0.7500 (2 lesions, 3 slides)\n" in md
    assert "- slide ROC AUC (max_prob): 0.5000, 95% CI [0.250, 0.750] over 4 slides\n" in md
    assert "(classifier)" not in md
    with caplog.at_level(logging.INFO, logger="wsiseg"):
        log_summary(report, tmp_path)
    recall = "recall negative 1.00 itc 0.00 micro 0.00 macro 0.50"
    assert f"test: kappa 0.9000 on 2 patients; slide accuracy 0.667; {recall}" in caplog.text
    assert "FROC 0.7500 (2 lesions); slide AUC 0.5 (held-out)" in caplog.text
    assert "cv:" not in caplog.text  # no kappa: no line
    (tmp_path / "froc.png").write_bytes(b"")
    text = terminal_report(report, tmp_path).splitlines()
    assert f"held-out patients: kappa 0.9000 over 2 patients (CAMELYON17, quadratic){ci}" in text
    recall = "negative 1.00 (1)  itc 0.00 (0)  micro 0.00 (0)  macro 0.50 (2)"
    assert f"  slide accuracy 0.667; recall per class (n): {recall}" in text
    assert "out-of-fold, fitted patients:" in text
    # no classifier AUC: the max_prob one, with its interval and slides
    assert "detection, held-out: FROC 0.750 (2 lesions), slide ROC AUC 0.500, 95% CI [0.250, 0.750] (4 slides)" in text
    assert f"  {'FROC curve':<30} {tmp_path / 'froc.png'}" in text  # the artefacts that exist, only
    assert not any("submission (official" in line for line in text)
    assert f"  {'U-Net checkpoint':<30} m.ckpt" in text
    assert text[-1] == f"  watch training with: tensorboard --logdir {tmp_path / 'tb'}"


def test_write_reports_writes_the_record(report, tmp_path, capsys):
    write_reports(report, tmp_path)
    assert (tmp_path / "report.json").read_text() == report.to_json()
    assert (tmp_path / "report.md").read_text() == markdown_report(report)
    assert capsys.readouterr().out == terminal_report(report, tmp_path) + "\n"
