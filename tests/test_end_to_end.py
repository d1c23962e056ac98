"""The whole pipeline through its four commands on the `tiny` preset, as a user runs it (CI's end-to-end path).

synth.py -> train.py -> predict.py -> stage.py in subprocesses, then every artefact is checked and the
submission is scored with the official kappa.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO
from wsiseg.evaluation import camelyon17_kappa
from wsiseg.labels import read_stage_labels


def cli(script, *args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout + proc.stderr


def test_tiny_pipeline_end_to_end(tmp_path):
    cohort, train, heatmaps, stage = (tmp_path / d for d in ("cohort", "train", "heatmaps", "stage"))
    cli("synth.py", "synth=tiny", f"out_dir={cohort}", cwd=tmp_path)
    assert (cohort / "gallery.png").stat().st_size > 10_000  # what the preset draws, written beside the cohort
    cli(
        "train.py", "experiment=demo", f"data.cohorts=[{cohort}]", f"paths.data_dir={tmp_path}",
        "sampling.magnification=4.0", "sampling.patch_size=32", "sampling.out_size=32", "data.split.val_fraction=0.2",
        "data.split.test_fraction=0.4", "data.loader.num_workers=0", "data.loader.prepare_workers=1",
        "trainer.max_epochs=2", "trainer.limit_train_batches=20", "trainer.enable_progress_bar=false",
        f"hydra.run.dir={train}",
        cwd=tmp_path,
    )  # fmt: skip
    ckpt = train / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and list((train / "tensorboard").glob("events.out.tfevents.*"))
    cli(
        "predict.py", f"ckpt_path={ckpt}", f"slides={cohort}", f"out_dir={heatmaps}", "num_workers=1",
        "plan_workers=1", f"hydra.run.dir={tmp_path / 'predict'}", cwd=tmp_path,
    )  # fmt: skip
    slides = sorted(p.stem for p in cohort.rglob("*.tif"))
    assert len(slides) == 27  # 5 patients x 5 nodes + 2 CAMELYON16 slides
    for stem in slides:
        for suffix in (".json", ".heatmap.npy", ".tissue.npy", ".heatmap.tif", ".overlay.png"):
            assert (heatmaps / f"{stem}{suffix}").is_file(), stem + suffix
    printed = cli(
        "stage.py", f"heatmaps={heatmaps}", f"cohort={cohort}", "classifier.estimator.n_estimators=50",
        f"hydra.run.dir={stage}", cwd=tmp_path,
    )  # fmt: skip
    for name in ("submission.csv", "predictions.csv", "features.csv", "report.json", "report.md", "report.html",
                 "classifier.joblib", "confusion_slide_test.png", "confusion_patient_test.png", "froc.png",
                 "gallery.png", "stage.log"):  # fmt: skip
        assert (stage / name).is_file(), name
    assert list(stage.glob("roi_*.png"))
    submission = read_stage_labels(stage / "submission.csv")  # the official format parses
    assert len(submission) == 5 and all(len(p.nodes) == 5 for p in submission)
    report = json.loads((stage / "report.json").read_text())
    held_out = report["patient"]["test"]["n"]
    assert held_out >= 1 and report["fit_slides"] >= 10
    ids = [r.split(",")[1] for r in (stage / "predictions.csv").read_text().splitlines()[1:] if ",test," in r]
    kappa = camelyon17_kappa(cohort / "stage_labels.csv", stage / "submission.csv", patients=set(ids))
    assert report["kappa"]["test"] == pytest.approx(kappa) and -1.0 <= kappa <= 1.0
    assert "kappa" in printed and "TensorBoard logs" in printed and str(stage / "submission.csv") in printed
    # every slide's predicted lesions for QuPath and ASAP; the annotated ones scored against their annotation
    lesions = report["lesions"]
    assert lesions["slides"] == 27 and len(list((stage / "lesions").glob("*.lesions.geojson"))) == 27
    assert len(list((stage / "lesions").glob("*.lesions.xml"))) == 27 and (stage / "lesions" / "summary.csv").is_file()
    assert lesions["iou_with_annotations"] and 0.0 <= lesions["mean_iou"] <= 1.0
    assert "predicted lesions: IoU" in printed
    # a rerun reuses the cached features (predict.py's reruns: tests/inference/test_predict_task.py)
    # (the rerun checks the cache: the lesion files and pictures checked above are not written again)
    quiet = ["lesions.write=false", "pictures.gallery_per_label=0", "pictures.roi_figure=false"]
    rerun = cli("stage.py", f"heatmaps={heatmaps}", f"cohort={cohort}", f"hydra.run.dir={tmp_path / 's2'}", *quiet,
                cwd=REPO)  # fmt: skip
    assert "(27 from the cache" in rerun
