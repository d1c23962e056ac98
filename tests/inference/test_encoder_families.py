"""Every network family through the commands: train.py trains it, predict.py predicts with TTA and in an ensemble
with another family, and a mining round runs on it (tiny encoders, a few steps: the machinery, not accuracy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import compose_config
from wsiseg.model import load_model
from wsiseg.tasks.predict import run as predict
from wsiseg.tasks.train import run as train

pytestmark = pytest.mark.slow  # two trainings (~30 s) and three prediction runs: make test-all

TINY = ["experiment=demo", "sampling.magnification=3.888", "sampling.patch_size=32", "sampling.out_size=32",
        "data.loader.num_workers=0", "data.loader.prepare_workers=1", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false",
        "~logger", "callbacks.prediction_grid=null", "callbacks.lr_monitor=null"]  # fmt: skip
#: The smallest member of each family: an smp U-Net on timm's ResNet-10, and a two-block ViT.
FAMILIES = {
    "smp": ["model=resnet18_unet", "model.net.encoder=tu-resnet10t", "model.net.encoder_depth=3",
            "model.net.decoder_width=4"],
    "vit": ["model=vit_tiny", "model.net.embed_dim=32", "model.net.decoder_width=16"],
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tiny_cohort, tmp_path_factory):
    out = {}
    for family, overrides in FAMILIES.items():
        folder = tmp_path_factory.mktemp(family)
        where = [f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={folder / 'cache'}", f"paths.output_dir={folder}"]
        cfg = compose_config("train", [*TINY, *overrides, *where])
        out[family] = train(cfg).last_checkpoint
    return out


def predict_args(checkpoint, slides, out) -> list[str]:
    return [f"ckpt_path={checkpoint}", f"slides={slides}", f"out_dir={out}", "num_workers=0", "plan_workers=1",
            "inference.heatmap_mpp=7.776", "write_png=false", f"paths.output_dir={out}-run"]  # fmt: skip


def test_each_family_trains_and_records_its_network(trained):
    for family, checkpoint in trained.items():
        module, spec = load_model(checkpoint)
        assert spec.network == {"smp": "SmpNetwork", "vit": "ViTSegmenter"}[family]
        assert spec.mean == (0.485, 0.456, 0.406) and spec.tile_size == 32  # ImageNet's, from the encoder


def test_each_family_predicts_with_tta_and_in_an_ensemble(trained, few_slides, tmp_path):
    slide = sorted(few_slides.glob("*.tif"))[0]
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / slide.name).symlink_to(slide)
    maps = {}
    runs = {"smp": trained["smp"], "vit": trained["vit"], "both": f"[{trained['smp']},{trained['vit']}]"}
    for key, checkpoint in runs.items():
        out = tmp_path / key
        (name,) = predict(compose_config("predict", predict_args(checkpoint, tmp_path / "one", out)
                                         + ["inference.tta=flips"])).done  # fmt: skip
        maps[key] = np.load(out / f"{name}.heatmap.npy").astype(np.float32)
        assert json.loads((out / f"{name}.json").read_text())["settings"]["tta"] == "flips"
    assert all(np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1 for m in maps.values())
    assert np.abs(maps["smp"] - maps["vit"]).max() > 1e-3  # two different networks
    assert np.abs(maps["both"] - (maps["smp"] + maps["vit"]) / 2).max() < 2e-3  # float16 storage


# ~100 s each: a mining prediction over the training slides
@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_runs_a_mining_round(tiny_cohort, tmp_path, family):
    where = [f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={tmp_path / 'cache'}", f"paths.output_dir={tmp_path}"]
    mining = ["mining.rounds=1", "mining.threshold=0.2", "mining.per_slide=3", "mining.importance=true",
              "mining.heatmap_mpp=7.776", "mining.workers=0"]  # fmt: skip
    cfg = compose_config("train", [*TINY, *FAMILIES[family], *where, *mining])
    result = train(cfg)
    pool = json.loads((tmp_path / "round-1" / "mining" / "pool.json").read_text())
    assert result.last_checkpoint == tmp_path / "round-1" / "checkpoints" / "last.ckpt"
    networks = {load_model(path)[1].network for path in (result.last_checkpoint, pool["checkpoint"])}
    assert pool["round"] == 1 and networks == {"SmpNetwork" if family == "smp" else "ViTSegmenter"}
