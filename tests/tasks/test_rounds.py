"""train.py's later rounds: mined hard negatives where the model erred and outside tumour, training patients only,
importance weights from the previous round's losses, and the provenance of each."""

import json

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from wsiseg.annotations import rasterize, read_asap_xml
from wsiseg.cohorts import read_cohort
from wsiseg.data.cache import open_cache
from wsiseg.inference import file_digest
from wsiseg.mining import MiningSource, MiningSpec, mine_pool
from wsiseg.sampling import SamplingSpec
from wsiseg.tasks.train import run as train

pytestmark = pytest.mark.slow  # two training rounds and a mining prediction: make test-all

TINY = ["experiment=demo", "sampling.magnification=3.888", "sampling.patch_size=32", "sampling.out_size=32",
        "data.loader.num_workers=0", "data.loader.prepare_workers=1", "model.net.depth=2", "model.net.base_width=4",
        "trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false", "~logger", "callbacks.prediction_grid=null",
        "callbacks.lr_monitor=null"]  # fmt: skip


@pytest.fixture(scope="module")
def two_rounds(tiny_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("rounds")
    overrides = [*TINY, f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={out / 'cache'}", f"paths.output_dir={out}",
                 "mining.rounds=1", "mining.threshold=0.2", "mining.per_slide=3", "mining.importance=true",
                 "mining.heatmap_mpp=7.776", "mining.workers=0"]  # fmt: skip
    return out, train(compose_config("train", overrides))


def test_the_last_round_is_the_result_and_records_what_mined_its_pool(two_rounds):
    out, result = two_rounds
    first = out / "checkpoints" / "last.ckpt"
    assert result.last_checkpoint == out / "round-1" / "checkpoints" / "last.ckpt" and first.is_file()
    pool = json.loads((out / "round-1" / "mining" / "pool.json").read_text())
    assert pool["round"] == 1 and pool["checkpoint"] == str(first)
    assert pool["checkpoint_digest"] == file_digest(first) and pool["patches"] > 0
    assert json.loads((out / "round-1" / "run.json").read_text())  # the round's own run record
    cache = open_cache(pool["pool"], pool["key"])
    assert cache is not None and len(cache.rows("mined", False)) == pool["patches"]
    assert json.loads((cache.folder / "provenance.json").read_text())["checkpoint"] == str(first)


def test_mined_patches_lie_where_the_model_erred_and_outside_tumour(two_rounds, tiny_cohort):
    out, _ = two_rounds
    pool = json.loads((out / "round-1" / "mining" / "pool.json").read_text())
    cache = open_cache(pool["pool"], pool["key"])
    records = {r.slide: r for r in read_cohort(tiny_cohort)}
    spec = SamplingSpec(magnification=3.888, patch_size=32, out_size=32)
    heatmaps = out / "round-1" / "mining" / "heatmaps"
    assert not np.load(cache.masks_path).any()  # no tumour pixel in any mined patch
    for row in cache.index:
        record = records[row["slide"]]
        meta = json.loads((heatmaps / f"{record.path.stem}.json").read_text())
        heatmap = np.load(heatmaps / f"{record.path.stem}.heatmap.npy").astype(np.float32)
        ds = meta["heatmap_mpp"] / meta["slide_mpp"]
        half = spec.footprint_um / meta["slide_mpp"] / 2
        cx, cy = int((row["x"] + half) / ds), int((row["y"] + half) / ds)  # the centre's heatmap pixel
        assert heatmap[cy, cx] > 0.2  # the model called it tumour
        if record.annotation:  # and the patch's footprint, grown by the margin, holds no annotated tumour
            margin = spec.tumour_margin_um / meta["slide_mpp"]
            side = int(2 * half + 2 * margin)
            box = rasterize(read_asap_xml(record.annotation), (side, side), 1.0,
                            origin_xy=(row["x"] - margin, row["y"] - margin))  # fmt: skip
            assert not box.any()


def test_only_training_patients_are_mined(two_rounds, tiny_cohort):
    out, _ = two_rounds
    split = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["wsiseg_model"]["split"]
    pool = json.loads((out / "round-1" / "mining" / "pool.json").read_text())
    patients = {r.slide: r.patient for r in read_cohort(tiny_cohort)}
    assert pool["per_slide"] and {split[patients[s]] for s in pool["per_slide"]} == {"train"}
    assert {p for p, part in split.items() if part != "train"}  # there were others to leave out
    val = next(r for r in read_cohort(tiny_cohort) if split.get(r.patient) == "val")
    source = MiningSource(1, out / "checkpoints" / "last.ckpt", "x", "y")
    with pytest.raises(ValueError, match="refusing to mine slides of validation or held-out patients"):
        mine_pool([val], split, out, SamplingSpec(), MiningSpec(), source, out)


def test_importance_weights_follow_the_previous_rounds_loss(two_rounds):
    from torch.nn import functional as F

    from wsiseg.model import load_model

    out, _ = two_rounds
    losses = np.load(out / "round-1" / "mining" / "losses.npy")
    weights = np.load(out / "round-1" / "mining" / "weights.npy")
    n = len(weights)
    assert weights.sum() == pytest.approx(1.0) and losses.std() > 0
    assert np.allclose(weights, 0.1 / n + 0.9 * losses / losses.sum())  # the uniform floor, then the loss
    (folder,) = (out / "cache").glob("patches-*")
    cache = open_cache(folder)
    rows = cache.rows("train", True)
    assert len(rows) == n  # one weight per training draw, oversampling repeats included
    model, _ = load_model(out / "checkpoints" / "last.ckpt")  # the previous round's model, by hand
    images, masks = np.load(cache.images_path), np.load(cache.masks_path)
    for i in (0, n // 2, n - 1):
        image = torch.from_numpy(images[rows[i]]).permute(2, 0, 1)[None].float() / 255
        mask = torch.from_numpy(masks[rows[i]])[None, None].float()
        with torch.inference_mode():
            loss = F.binary_cross_entropy_with_logits(model(image), mask).item()
        assert losses[i] == pytest.approx(loss, rel=1e-4)


def test_a_given_round_zero_is_not_trained_again_and_must_share_the_split(two_rounds, tiny_cohort, tmp_path):
    out, _ = two_rounds
    start = out / "checkpoints" / "last.ckpt"
    overrides = [*TINY, f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={out / 'cache'}",
                 f"paths.output_dir={tmp_path}", "mining.rounds=1", "mining.hard_negatives=false",
                 "mining.importance=true", f"mining.start={start}"]  # fmt: skip
    result = train(compose_config("train", overrides))
    assert result.last_checkpoint == tmp_path / "round-1" / "checkpoints" / "last.ckpt"
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "round-1" / "mining" / "pool.json").exists()
    assert np.allclose(
        np.load(tmp_path / "round-1" / "mining" / "losses.npy"), np.load(out / "round-1" / "mining" / "losses.npy")
    )  # fmt: skip - the same round-0 model
    with pytest.raises(ValueError, match="was trained on another patient split than this config's"):
        other_split = [*overrides, "data.split.val_fraction=0.5", f"paths.output_dir={tmp_path / 'b'}"]
        train(compose_config("train", other_split))
