"""Dry run of the real-data configs against the synthetic cohort laid out exactly like the real downloads.

``data/camelyon17/`` (centre_K/, lesion_annotations/, stage_labels.csv, no manifest) and
``data/camelyon16/training/`` (tumor/, normal/, lesion_annotations/): the paper's experiment, the 4-GPU
trainer, prediction over the whole cohort and staging all compose, find every slide and label, and build
their objects, without training.
"""

import pytest
from hydra.utils import instantiate

from tests.conftest import compose_config
from wsiseg.inference import find_slides
from wsiseg.sampling import read_cohort
from wsiseg.sampling.sampler import plan_slide


@pytest.fixture(scope="module")
def data_dir(tiny_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("real_layout") / "data"
    c17, c16 = root / "camelyon17", root / "camelyon16"
    c17.mkdir(parents=True)
    c16.mkdir()
    for item in [*tiny_cohort.glob("centre_*"), tiny_cohort / "lesion_annotations", tiny_cohort / "stage_labels.csv"]:
        (c17 / item.name).symlink_to(item)
    (c16 / "training").symlink_to(tiny_cohort / "camelyon16" / "training")
    return root


@pytest.mark.parametrize("experiment", ["paper_v1", "paper_v2"])
def test_paper_training_config_finds_the_real_layout(data_dir, experiment):
    cfg = compose_config("train", [f"experiment={experiment}", f"paths.data_dir={data_dir}", "paths.output_dir=x"])
    assert (cfg.trainer.devices, cfg.trainer.strategy, cfg.trainer.sync_batchnorm) == (4, "ddp", True)
    dm = instantiate(cfg.data)
    slides = dm.slides()
    datasets = {s.dataset for s in slides}
    assert datasets == {"camelyon16", "camelyon17"} and all(s.path.is_file() for s in slides)
    assert all(s.annotation is not None for s in slides if s.has_tumour)
    split = dm.split_patients(slides)
    assert {"train", "val"} <= set(split.values())
    tumour = next(s for s in slides if s.has_tumour and s.dataset == "camelyon17")
    plan = plan_slide(tumour, dm.spec, dm.tissue)  # the paper's 20X / 40X sampling plan on a real-layout slide
    assert len(plan.tumour_xy) > 0
    assert dm.spec.neg_pos_ratio == (3 if experiment == "paper_v2" else 2)


def test_prediction_and_staging_configs_find_every_slide_and_label(data_dir):
    predict = compose_config(
        "predict", ["trainer=ddp", "ckpt_path=model.ckpt", f"slides={data_dir}/camelyon17", "paths.output_dir=x"]
    )
    assert len(find_slides(predict.slides)) == 25 and predict.trainer.devices == 4
    stage = compose_config("stage", [f"cohort={data_dir}/camelyon17", "classifier=xgboost", "paths.output_dir=x"])
    records = read_cohort(stage.cohort)
    assert len(records) == 25 and all(r.label is not None for r in records)
    assert instantiate(stage.classifier).estimator.__class__.__name__ == "XGBClassifier"
