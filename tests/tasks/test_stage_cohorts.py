"""stage.py on the challenges' test sets as downloaded: complete submissions, fitted classifiers, CAMELYON16 scores.

Heatmaps are synthetic (written the way predict.py writes them), so no model is needed; the cohorts are the
real layouts: ``CAMELYON17/testing/patients/`` with a labels file, ``CAMELYON16/testing/`` with ``reference.csv``.
"""

import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import compose_config
from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.evaluation import stage_kappa
from wsiseg.inference import SlidePrediction, TileGrid, write_outputs
from wsiseg.labels import read_stage_labels
from wsiseg.staging import MissingNodesError
from wsiseg.synth.heatmaps import HeatmapCohortSpec, synthetic_heatmap, write_heatmap_cohort
from wsiseg.tasks.stage import run

SPEC = HeatmapCohortSpec(patients=20, shape_hw=(200, 260), overlays=False)
FAST = ["workers=1", "pictures.html=false", "pictures.gallery_per_label=0", "lesions.write=false",
        "bootstrap.n_boot=200", "classifier.estimator.n_estimators=40"]  # fmt: skip


def stage_cfg(heatmaps, cohort, out, *extra):
    return compose_config("stage", [f"heatmaps={heatmaps}", f"cohort={cohort}", f"out_dir={out}",
                                    "paths.output_dir=unused", *FAST, *extra])  # fmt: skip


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """20 training patients' heatmaps (patients 000-019), their cohort, and a classifier fitted on them."""
    heatmaps, cohort = write_heatmap_cohort(tmp_path_factory.mktemp("train"), SPEC, seed=3)
    out = run(stage_cfg(heatmaps, cohort, tmp_path_factory.mktemp("fit"), "holdout=none")).out_dir
    return heatmaps, cohort, out / "classifier.joblib"


@pytest.fixture
def fitted(training):
    return training[2]


@pytest.fixture
def test_set(tmp_path):
    """10 test patients (100-109): their heatmaps, and ``CAMELYON17/testing/`` as downloaded, labelled."""
    heatmaps, made = write_heatmap_cohort(tmp_path / "made", HeatmapCohortSpec(10, (200, 260), overlays=False), 5,
                                          first_patient=100)  # fmt: skip
    testing = tmp_path / "CAMELYON17" / "testing"
    (testing / "patients").mkdir(parents=True)
    for patient in read_stage_labels(made / "stage_labels.csv"):
        for node in patient.nodes:
            (testing / "patients" / node.slide).write_bytes(b"")  # the slides; staging opens none
    shutil.copytree(made / "lesion_annotations", testing / "lesion_annotations")
    shutil.copy(made / "stage_labels.csv", testing / "stage_labels.csv")
    return heatmaps, testing


def drop_heatmap(heatmaps, name):
    for path in heatmaps.glob(f"{name}.*"):
        path.unlink()


def test_a_labelled_test_set_is_scored_by_a_fitted_classifier(fitted, test_set, tmp_path):
    heatmaps, testing = test_set
    result = run(stage_cfg(heatmaps, testing, tmp_path / "out", f"fitted={fitted}", "holdout=none"))
    report = json.loads((result.out_dir / "report.json").read_text())
    truth = {p.patient: p.stage for p in read_stage_labels(testing / "stage_labels.csv")}
    submitted = {p.patient: p.stage for p in read_stage_labels(result.out_dir / "submission.csv")}
    assert sorted(submitted) == sorted(truth) and report["fit_slides"] == 0
    expected = stage_kappa([truth[p] for p in sorted(truth)], [submitted[p] for p in sorted(truth)])
    assert result.kappa == {"test": pytest.approx(expected)} and report["patient"]["test"]["n"] == 10
    ci = report["kappa_ci"]["test"]
    assert ci["estimate"] == pytest.approx(expected) and ci["low"] <= expected <= ci["high"]
    assert set(report["slide"]["test"]["per_class"]) == {"negative", "itc", "micro", "macro"}
    assert report["cohort"]["left_out"] == {} and (result.out_dir / "inventory.json").is_file()


def test_a_fitted_classifier_never_scores_the_slides_it_was_fitted_on(training, tmp_path):
    heatmaps, cohort, fitted = training
    result = run(stage_cfg(heatmaps, cohort, tmp_path / "out", f"fitted={fitted}", "holdout=none"))
    assert result.kappa == {} and result.report.parts == {}  # every slide in-sample: nothing to score


def test_a_missing_node_stops_the_run_naming_patient_node_and_reason(fitted, test_set, tmp_path):
    heatmaps, testing = test_set
    drop_heatmap(heatmaps, "patient_103_node_2")  # predict.py failed on it
    (heatmaps / "summary.json").write_text(json.dumps({"failed": {"patient_103_node_2": "SlideError: truncated"}}))
    drop_heatmap(heatmaps, "patient_107_node_4")  # never downloaded: not in the cohort, its label only
    (testing / "patients" / "patient_107_node_4.tif").unlink()
    out = tmp_path / "out"
    with pytest.raises(MissingNodesError) as error:
        run(stage_cfg(heatmaps, testing, out, f"fitted={fitted}", "holdout=none"))
    message = str(error.value)
    assert "2 patients lack 2 node slides, so no submission was written" in message
    assert "patient_103 node 2: predict.py failed on it: SlideError: truncated" in message
    assert "patient_107 node 4: patient_107_node_4.tif left out of the cohort: label without slide" in message
    assert "missing_nodes=negative" in message and not (out / "submission.csv").exists()
    # counted negative when asked: a complete submission, the fallback in the report
    result = run(stage_cfg(heatmaps, testing, out, f"fitted={fitted}", "holdout=none", "missing_nodes=negative"))
    submitted = {p.patient: p for p in read_stage_labels(result.out_dir / "submission.csv")}
    assert len(submitted) == 10 and all(len(p.nodes) == 5 for p in submitted.values())
    node = submitted["patient_103"].nodes[2]
    assert (node.slide, node.label) == ("patient_103_node_2.tif", "negative")
    missing = json.loads((result.out_dir / "report.json").read_text())["missing_nodes"]
    assert [(m["slide"], m["counted_as"]) for m in missing] == [("patient_103_node_2.tif", "negative"),
                                                                ("patient_107_node_4.tif", "negative")]  # fmt: skip


def test_without_a_cohort_a_patient_is_found_by_its_other_nodes(fitted, test_set, tmp_path):
    heatmaps, _ = test_set
    drop_heatmap(heatmaps, "patient_105_node_0")
    with pytest.raises(MissingNodesError, match=r"patient_105 node 0: no slide file of this node in the heatmaps"):
        run(stage_cfg(heatmaps, "null", tmp_path / "out", f"fitted={fitted}", "holdout=none"))


def test_a_node_scanned_in_another_format_stays_with_its_patient(fitted, test_set, tmp_path):
    heatmaps, testing = test_set
    meta = heatmaps / "patient_101_node_1.json"
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"slide": "/scans/patient_101_node_1.svs"}))
    (testing / "patients" / "patient_101_node_1.tif").rename(testing / "patients" / "patient_101_node_1.svs")
    result = run(stage_cfg(heatmaps, testing, tmp_path / "out", f"fitted={fitted}", "holdout=none"))
    submitted = {p.patient: p for p in read_stage_labels(result.out_dir / "submission.csv")}
    assert sorted(submitted) == [f"patient_10{i}" for i in range(10)]  # no patient of its own
    assert submitted["patient_101"].nodes[1].slide == "patient_101_node_1.tif"  # the submission's spelling
    assert result.kappa["test"] == pytest.approx(result.report.kappa["test"])


def camelyon16_test_set(root, labels, seed=0):
    """``CAMELYON16/testing/``: heatmaps of ``test_XXX`` slides, ``reference.csv`` and the test annotations."""
    rng = np.random.default_rng(seed)
    spec = HeatmapCohortSpec(shape_hw=(200, 260), overlays=False)
    heatmaps, testing = root / "heatmaps", root / "CAMELYON16" / "testing"
    lines = []
    for i, label in enumerate(labels, start=1):
        stem = f"test_{i:03d}"
        heatmap, tissue, polygons = synthetic_heatmap(label, spec, rng)
        grid = TileGrid(spec.slide_mpp, spec.mpp, 1, 64, 0, spec.shape_hw)
        prediction = SlidePrediction(stem, testing / "images" / f"{stem}.tif", grid, heatmap, tissue, None)
        meta = {"checkpoint": None, "checkpoint_digest": "x", "config_digest": "x"}
        write_outputs(heatmaps, prediction, meta, tiff=False, png=False)
        if polygons and i % 4:  # test_004, test_008: tumour without annotation, scored by the AUC, not the FROC
            scale = spec.mpp / spec.slide_mpp
            write_asap_xml(testing / "lesion_annotations" / f"{stem}.xml",
                           [Annotation("a", "_0", "tumor", p * scale) for p in polygons])  # fmt: skip
        lines.append(f"{stem},Normal" if label == "negative" else f"{stem},Tumor,{label.title()},Primary")
    (testing / "images").mkdir(parents=True, exist_ok=True)
    (testing / "reference.csv").write_text("\n".join(lines) + "\n")
    return heatmaps, testing


def test_the_camelyon16_test_set_gets_its_slide_auc_with_an_interval_and_its_froc(fitted, tmp_path):
    labels = ["negative", "macro", "negative", "micro", "macro", "negative", "negative", "macro", "micro", "negative"]
    heatmaps, testing = camelyon16_test_set(tmp_path, labels)
    result = run(stage_cfg(heatmaps, testing, tmp_path / "out", f"fitted={fitted}", "holdout=none"))
    detection = json.loads((result.out_dir / "report.json").read_text())["detection"]
    assert detection["auc_slides"] == 10 and detection["scope"] == "held-out"
    assert (
        0.0 <= detection["auc_max_prob_ci"]["low"] <= detection["auc_max_prob"] <= detection["auc_max_prob_ci"]["high"]
    )
    assert detection["slides"] == 10 - 2 and detection["lesions"] >= 1  # the unannotated tumour slides: no FROC
    assert "froc" in detection and "auc_classifier" in detection


def test_without_held_out_patients_the_scores_are_out_of_fold(tmp_path):
    spec = HeatmapCohortSpec(patients=20, shape_hw=(200, 260), false_positive_rate=3.0, miss_itc=0.9, overlays=False)
    heatmaps, cohort = write_heatmap_cohort(tmp_path / "made", spec, seed=11)
    result = run(stage_cfg(heatmaps, cohort, tmp_path / "out", "holdout=none"))
    detection = result.report.detection
    assert detection.scope.startswith("out-of-fold")
    lines = [line.split(",") for line in (result.out_dir / "predictions.csv").read_text().splitlines()]
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    truth = [r["label"] != "negative" for r in rows]
    out_of_fold = roc_auc_score(truth, [1 - float(r["oof_p_negative"]) for r in rows])
    in_sample = roc_auc_score(truth, [1 - float(r["p_negative"]) for r in rows])
    assert detection.auc_classifier == pytest.approx(out_of_fold) and out_of_fold < in_sample
