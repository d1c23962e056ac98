"""The README's real-data commands on the challenges' downloads exactly as they are (rebuilt from synthetic slides).

``CAMELYON17/`` (``training/center_K/``, ``training/lesion_annotations/``, ``training/stage_labels.csv``,
``testing/patients/``) and ``CAMELYON16/`` (``training/tumor/``, ``training/normal/``, ``testing/images/``,
``testing/reference.csv``, test annotations) under one data folder: nothing renamed, nothing moved.
"""

import json

import pytest
from hydra.utils import instantiate

from tests.cohorts import downloads
from tests.conftest import compose_config
from wsiseg.labels import read_stage_labels
from wsiseg.staging import MissingNodesError
from wsiseg.tasks.predict import run as predict
from wsiseg.tasks.stage import run as stage
from wsiseg.tasks.train import run as train

#: The README's dry run (experiment=dry_run), on every slide of the tiny downloads and a few batches.
DRY_RUN = [
    "experiment=dry_run", "cohorts.only=null", "data.loader.num_workers=0", "data.loader.prepare_workers=1",
    "trainer.limit_train_batches=4", "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
]  # fmt: skip
FAST_STAGE = ["workers=1", "pictures.html=false", "pictures.gallery_per_label=0", "lesions.write=false",
              "bootstrap.n_boot=200"]  # fmt: skip


def predict_args(checkpoint, slides, out, run_dir):
    return [f"ckpt_path={checkpoint}", f"slides={slides}", f"out_dir={out}", "num_workers=0", "plan_workers=1",
            "inference.heatmap_mpp=7.776", "write_png=false", "write_tiff=false",
            f"paths.output_dir={run_dir}"]  # fmt: skip


@pytest.mark.parametrize("experiment", ["paper_v1", "paper_v2"])
def test_the_papers_training_configs_find_the_downloads(tiny_cohort, tmp_path, experiment):
    downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    downloads.camelyon16_challenge(tiny_cohort, tmp_path)
    cfg = compose_config("train", [f"experiment={experiment}", f"paths.data_dir={tmp_path}", "paths.output_dir=x"])
    assert (cfg.trainer.devices, cfg.trainer.strategy, cfg.trainer.sync_batchnorm) == (4, "ddp", True)
    dm = instantiate(cfg.data)
    slides = dm.slides()
    both = experiment == "paper_v1"  # the first version's normal slides came from both challenges
    assert {s.dataset for s in slides} == {"camelyon16", "camelyon17"}
    assert len(slides) == 25 + 1 + both  # the nodes, tumor_001 (and normal_001)
    left = {e.name: e.reason for e in dm.inventory().excluded}
    assert sum(r == "test set" for r in left.values()) == 25 + 2  # CAMELYON17's patients 100-104, test_001-002
    assert left.get("normal_001.tif") == (None if both else "dataset not used")
    assert dm.spec.neg_pos_ratio == (3 if experiment == "paper_v2" else 2)


def test_predict_and_stage_the_camelyon17_test_set_as_downloaded(tiny_cohort, tiny_checkpoint, tmp_path):
    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    patients = top / "testing" / "patients"
    (patients / "patient_101_node_1.tif").rename(patients / "patient_101_node_1.svs")  # scanned in another format
    truncated = patients / "patient_103_node_2.tif"
    truncated.write_bytes(truncated.read_bytes()[:4000])  # an incomplete download
    heatmaps = tmp_path / "heatmaps"
    summary = predict(compose_config("predict", predict_args(tiny_checkpoint, patients, heatmaps, tmp_path / "p")))
    assert len(summary.done) == 24 and list(summary.failed) == ["patient_103_node_2"]
    inventory = json.loads((tmp_path / "p" / "inventory.json").read_text())  # in the run folder, before any work
    assert inventory["layouts"] == {str(patients): ["camelyon17"]} and len(inventory["slides"]) == 25
    cfg = ["classifier=diameter_rule", f"heatmaps={heatmaps}", f"cohort={top / 'testing'}", *FAST_STAGE]
    with pytest.raises(
        MissingNodesError, match=r"patient_103 node 2: predict.py failed on it: SlideError: .*truncated"
    ):
        stage(compose_config("stage", [*cfg, f"out_dir={tmp_path / 's1'}"]))
    assert not (tmp_path / "s1" / "submission.csv").exists()
    result = stage(compose_config("stage", [*cfg, f"out_dir={tmp_path / 's2'}", "missing_nodes=negative"]))
    submitted = {p.patient: p for p in read_stage_labels(result.submission)}
    assert sorted(submitted) == [f"patient_10{i}" for i in range(5)]  # every test patient, five nodes each
    assert submitted["patient_101"].nodes[1].slide == "patient_101_node_1.tif"  # the .svs node, its patient's
    assert [(m.patient, m.node) for m in result.report.missing_nodes] == [("patient_103", 2)]


@pytest.mark.slow
def test_train_predict_and_submit_on_the_downloads(tiny_cohort, tmp_path):
    """The README's real-data commands, in order: train on CAMELYON17 + CAMELYON16, predict, fit the slide
    classifier, submit and score a labelled CAMELYON17 test set, score CAMELYON16's test set."""
    data = tmp_path / "data"
    c17 = downloads.camelyon17_challenge(tiny_cohort, data, test_labels=True, bom_crlf=True)
    c16 = downloads.camelyon16_challenge(tiny_cohort, data)
    run_dir = tmp_path / "train"
    trained = train(compose_config("train", [f"paths.data_dir={data}", f"paths.output_dir={run_dir}",
                                             f"paths.cache_dir={tmp_path / 'cache'}", *DRY_RUN]))  # fmt: skip
    inventory = json.loads((run_dir / "inventory.json").read_text())
    assert inventory["left_out"] == {"test set": 27, "dataset not used": 1}
    checkpoint = trained.last_checkpoint
    heatmaps = data / "heatmaps"
    for name, slides in (("train", c17 / "training"), ("test", c17 / "testing"), ("c16", c16 / "testing")):
        summary = predict(compose_config("predict", predict_args(checkpoint, slides, heatmaps / name, tmp_path / name)))
        assert not summary.failed
    fit = stage(compose_config("stage", [f"heatmaps={heatmaps / 'train'}", f"cohort={c17 / 'training'}",
                                         f"out_dir={tmp_path / 'fit'}", "holdout=none", *FAST_STAGE]))  # fmt: skip
    assert fit.report.fit_slides == 25 and fit.report.detection.scope.startswith("out-of-fold")
    classifier = fit.out_dir / "classifier.joblib"
    scored = stage(compose_config("stage", [f"heatmaps={heatmaps / 'test'}", f"cohort={c17 / 'testing'}",
                                            f"out_dir={tmp_path / 'test'}", f"fitted={classifier}",
                                            *FAST_STAGE]))  # fmt: skip
    assert "test" in scored.kappa and scored.report.parts["test"].staging.kappa_ci is not None
    assert len(read_stage_labels(scored.submission)) == 5
    c16_scores = stage(compose_config("stage", [f"heatmaps={heatmaps / 'c16'}", f"cohort={c16}", f"fitted={classifier}",
                                                f"out_dir={tmp_path / 'c16'}", *FAST_STAGE]))  # fmt: skip
    detection = c16_scores.report.detection
    assert (detection.auc_slides, detection.slides) == (2, 2) and detection.auc_max_prob_ci is not None
    assert detection.curve is not None and detection.scope == "held-out"
