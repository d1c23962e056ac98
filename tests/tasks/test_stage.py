"""stage.py end to end on synthetic heatmaps with known lesions (no model needed)."""

import json
import logging

import pytest
import torch

from tests.conftest import compose_config
from wsiseg.evaluation import camelyon17_kappa
from wsiseg.features import cache_folder
from wsiseg.labels import read_stage_labels
from wsiseg.model.spec import DATAMODULE_KEY
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort
from wsiseg.tasks.stage import run

SPEC = HeatmapCohortSpec(patients=20, shape_hw=(400, 520))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_heatmap_cohort(tmp_path_factory.mktemp("stage"), SPEC, seed=3)


def stage_cfg(heatmaps, cohort, out, *extra):
    return compose_config(
        "stage",
        [f"heatmaps={heatmaps}", f"cohort={cohort}", f"out_dir={out}", "paths.output_dir=unused", "workers=1", *extra],
    )  # fmt: skip


def test_stage_writes_submission_reports_and_scores(cohort, tmp_path):
    heatmaps, labels = cohort
    result = run(stage_cfg(heatmaps, labels, tmp_path / "a", "holdout=none", "classifier.estimator.n_estimators=60"))
    out = result.out_dir
    for name in [
        "features.csv",
        "predictions.csv",
        "submission.csv",
        "submission_cv.csv",
        "report.json",
        "report.md",
        "report.html",
        "classifier.joblib",
        "confusion_slide_cv.png",
        "confusion_patient_cv.png",
        "froc.png",
    ]:
        assert (out / name).is_file(), name  # fmt: skip
    assert json.loads((out / "run.json").read_text())["config"]["holdout"] == "none"  # the run is recorded
    submitted = read_stage_labels(out / "submission.csv")  # the official format parses
    assert len(submitted) == 20 and all(len(p.nodes) == 5 for p in submitted)
    header = (out / "features.csv").read_text().splitlines()[0].split(",")
    assert {"t30_largest_feret_mm", "t90_n_regions", "t50_negative_density", "p99_prob"} <= set(header)
    report = json.loads((out / "report.json").read_text())
    # the reported out-of-fold kappa is the official one of the out-of-fold submission
    assert result.kappa["cv"] == pytest.approx(camelyon17_kappa(labels / "stage_labels.csv", out / "submission_cv.csv"))
    assert result.kappa["cv"] > 0.7
    assert report["slide"]["cv"]["per_class"]["macro"]["recall"] > 0.9
    assert report["detection"]["froc"] > 0.7 and report["detection"]["auc_classifier"] > 0.8
    # unlabelled slides (a test set): the saved classifier predicts, nothing is fitted, the same submission
    blind = run(
        stage_cfg(heatmaps, labels, tmp_path / "c", "cohort=null", "holdout=none", f"fitted={out}/classifier.joblib")
    )
    assert (blind.out_dir / "submission.csv").read_text() == (out / "submission.csv").read_text()
    assert blind.kappa == {} and blind.report.fit_slides == 0
    assert json.loads((out / "report.json").read_text()) == json.loads(result.report.to_json())  # rendered once


@pytest.mark.slow  # ~9 s, two 100-slide runs; the fast suite's end-to-end run checks the rerun's cache hits too
def test_a_second_run_reuses_every_cached_feature(cohort, tmp_path, monkeypatch, caplog):
    heatmaps, labels = cohort
    first = run(stage_cfg(heatmaps, labels, tmp_path / "a", "holdout=none", "cv_folds=0"))
    entries = sorted(cache_folder(heatmaps / "features", first.report.features).glob("*.json"))
    assert len(entries) == 100  # one cache entry per heatmap
    written = {p: p.stat().st_mtime_ns for p in entries}

    def no_compute(*args, **kwargs):
        raise AssertionError("a feature was computed, not read from the cache")

    monkeypatch.setattr("wsiseg.features.cache.slide_features", no_compute)  # workers=1: in this process
    with caplog.at_level(logging.INFO, logger="wsiseg"):
        again = run(stage_cfg(heatmaps, labels, tmp_path / "b", "holdout=none", "classifier=xgboost", "cv_folds=0",
                              "pictures.html=false"))  # fmt: skip
    assert "features of 100 heatmaps (100 from the cache" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in entries} == written  # nothing rewritten
    assert (tmp_path / "b" / "features.csv").read_text() == (first.out_dir / "features.csv").read_text()
    assert again.report.fit_slides == 100 and again.report.classifier == "FeatureClassifier"
    assert (first.out_dir / "report.html").is_file() and not (tmp_path / "b" / "report.html").exists()


def test_rule_baseline_and_held_out_patients_from_the_checkpoint(cohort, tmp_path):
    heatmaps, labels = cohort
    # heatmaps record their checkpoint; stage.py reads the U-Net's split from it
    patients = sorted({p.patient for p in read_stage_labels(labels / "stage_labels.csv")})
    split = {p: "test" if i % 4 == 0 else "train" for i, p in enumerate(patients)}
    ckpt = tmp_path / "model.ckpt"
    torch.save({DATAMODULE_KEY: {"split": split}}, ckpt)
    copied = tmp_path / "heatmaps"
    copied.mkdir()
    for path in heatmaps.glob("*.*"):
        data = path.read_bytes()
        if path.suffix == ".json":
            data = json.dumps(json.loads(data) | {"checkpoint": str(ckpt)}).encode()
        (copied / path.name).write_bytes(data)
    result = run(stage_cfg(copied, labels, tmp_path / "rule", "classifier=diameter_rule", "holdout=checkpoint"))
    report = result.report
    assert report.parts["test"].staging.n == 5 and report.fit_slides == 75
    assert "test" in result.kappa and (tmp_path / "rule" / "confusion_patient_test.png").is_file()
    assert not (tmp_path / "rule" / "classifier.joblib").exists()  # nothing learnt, nothing saved
    # report.json: the held-out patients' stages, and the kappa's bootstrap CI around the official kappa
    data = json.loads((tmp_path / "rule" / "report.json").read_text())
    held_out = sorted(p for p, part in split.items() if part == "test")
    assert [row["patient"] for row in data["patients"]["test"]] == held_out
    truth = {p.patient: p.stage for p in read_stage_labels(labels / "stage_labels.csv")}
    assert [row["reference"] for row in data["patients"]["test"]] == [truth[p] for p in held_out]
    submitted = {p.patient: p.stage for p in read_stage_labels(tmp_path / "rule" / "submission.csv")}
    assert [row["predicted"] for row in data["patients"]["test"]] == [submitted[p] for p in held_out]
    ci = data["kappa_ci"]["test"]
    assert ci["estimate"] == pytest.approx(result.kappa["test"]) and ci["n_boot"] == 2000
    assert ci["low"] <= result.kappa["test"] <= ci["high"] <= 1.0
    # the held-out slide accuracy and recalls, with their intervals over the same patients
    slides, rates = data["slide"]["test"], data["slide_ci"]["test"]
    assert list(data["slide_ci"]) == ["test"] and rates["accuracy"]["estimate"] == pytest.approx(slides["accuracy"])
    assert {k: v["estimate"] for k, v in rates["recall"].items()} == pytest.approx(
        {k: v["recall"] for k, v in slides["per_class"].items() if v["support"]}
    )
