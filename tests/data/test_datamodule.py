import json
import logging
import os

import numpy as np
import pytest
import torch

from wsiseg.data import LoaderSpec, PatchDataModule, build_augmentation, open_cache
from wsiseg.sampling import SamplingSpec, SplitSpec
from wsiseg.tissue import TissueParams


def make_dm(cohort, cache_dir, sampling=None, split=None, **overrides):
    args = dict(
        cohorts=[str(cohort)], cache_dir=str(cache_dir),
        loader=LoaderSpec(batch_size=8, num_workers=0, prepare_workers=1, train_transform=build_augmentation()),
        sampling=SamplingSpec(**{"magnification": 4.0, "patch_size": 32, "out_size": 32, **(sampling or {})}),
        split=SplitSpec(**{"val_fraction": 0.4, **(split or {})}),
    )  # fmt: skip
    return PatchDataModule(**{**args, **overrides})


@pytest.fixture(scope="module")
def prepared(tiny_cohort, tmp_path_factory):
    dm = make_dm(tiny_cohort, tmp_path_factory.mktemp("cache"))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_cache_has_every_patch_with_its_mask(prepared):
    cache = prepared.cache
    images = np.load(cache.images_path, mmap_mode="r")
    masks = np.load(cache.masks_path, mmap_mode="r")
    assert images.shape == (len(cache.index), 32, 32, 3) and masks.shape == (len(cache.index), 32, 32)
    tumour = [r for r in cache.index if r["label"] == "tumour"]
    normal = [r for r in cache.index if r["label"] == "normal"]
    # covering is conservative (boundary slivers count), so a few covering patches hold almost no tumour
    assert np.mean([r["tumour_fraction"] > 0 for r in tumour]) > 0.85
    assert all(r["tumour_fraction"] == 0 for r in normal)  # normals keep their margin
    assert {r["split"] for r in cache.index} == {"train", "val"}
    assert images[[r["row"] for r in normal]].mean() < 235  # tissue, not glass


def test_training_rows_are_oversampled(prepared):
    train = [r for r in prepared.cache.index if r["split"] == "train"]
    n_tumour_uses = sum(r["repeats"] for r in train if r["label"] == "tumour")
    n_normal = sum(r["label"] == "normal" for r in train)
    assert len(prepared.train_set) == n_tumour_uses + n_normal
    assert n_normal / n_tumour_uses == pytest.approx(2.0, abs=0.05)
    assert len(prepared.val_set) == sum(r["split"] == "val" for r in prepared.cache.index)


def test_batches(prepared):
    batch = next(iter(prepared.train_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (8, 1, 32, 32) and set(batch["mask"].unique().tolist()) <= {0.0, 1.0}
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1


def test_training_order_is_a_function_of_seed_and_epoch(prepared):
    def order(epoch):  # a fresh loader, as a resumed run builds one, at the epoch Lightning sets
        loader = prepared.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return list(loader.sampler)

    first, second = order(0), order(1)
    assert sorted(first) == list(range(len(prepared.train_set)))  # every patch once per epoch
    assert first != second and order(1) == second  # a new order each epoch, the same one after resuming
    assert prepared.val_dataloader().sampler.__class__.__name__ == "SequentialSampler"


def test_unchanged_config_reuses_the_cache(prepared, tiny_cohort):
    folder = prepared.cache_folder()
    stamp = os.stat(folder / "meta.json").st_mtime_ns
    again = make_dm(tiny_cohort, prepared.cache_dir)
    again.prepare_data()
    assert again.cache_folder() == folder and os.stat(folder / "meta.json").st_mtime_ns == stamp


@pytest.mark.parametrize(
    "change",
    [
        {"sampling": {"neg_pos_ratio": 3.0}}, {"sampling": {"patch_size": 64}}, {"split": {"seed": 5}},
        {"sampling": {"magnification": "10x"}}, {"tissue": TissueParams(min_area_mm2=0.2)},
    ],
)  # fmt: skip
def test_changed_config_builds_another_cache(prepared, tiny_cohort, change):
    other = make_dm(tiny_cohort, prepared.cache_dir, **change)
    assert other.cache_folder() != prepared.cache_folder()


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_half_written_cache_is_rebuilt(tiny_cohort, tmp_path):
    dm = make_dm(tiny_cohort, tmp_path)
    dm.prepare_data()
    folder = dm.cache_folder()
    (folder / "meta.json").unlink()  # as if the build had been killed before its last step
    assert open_cache(folder) is None
    dm.prepare_data()
    assert json.loads((folder / "meta.json").read_text())["patches"] == len(open_cache(folder).index)


def test_setup_without_prepare_is_a_clear_error(tiny_cohort, tmp_path):
    with pytest.raises(RuntimeError, match="prepare_data"):
        make_dm(tiny_cohort, tmp_path).setup("fit")


def test_state_dict_carries_the_split_and_refuses_another(prepared):
    state = prepared.state_dict()
    assert state["split"] == prepared.split_patients(prepared.slides()) and set(state["split"].values()) == {
        "train",
        "val",
    }
    prepared.load_state_dict(state)  # the same split: accepted
    other = dict(state["split"])
    patient = sorted(other)[0]
    other[patient] = "val" if other[patient] == "train" else "train"
    with pytest.raises(RuntimeError, match="another patient split"):
        prepared.load_state_dict({"split": other})


BUILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
from tests.data.test_datamodule import make_dm
make_dm(sys.argv[1], sys.argv[2]).prepare_data()
"""


@pytest.mark.slow  # 3 processes; the fast suite has the deterministic waiter test below
def test_concurrent_runs_build_one_cache_once(tiny_cohort, tmp_path, prepared):
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    stale = tmp_path / "shared" / f".{prepared.cache.folder.name}.build-20250101-000000-dead00"
    stale.mkdir(parents=True)  # what a killed build leaves: removed by the run that holds the claim next
    command = [sys.executable, "-c", BUILD, str(tiny_cohort), str(tmp_path / "shared")]
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(3)]  # fmt: skip
    logs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], logs
    built = [log for log in logs if "extract patches" in log]
    assert len(built) == 1  # one run built it; the others waited for it, then reused it
    assert all("reusing patch cache" in log for log in logs if log not in built)
    reference = prepared.cache
    folder = tmp_path / "shared" / reference.folder.name  # the same digest, and no private build folder left
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == [".locks", folder.name] and not stale.exists()
    for name in ("images.npy", "masks.npy", "index.csv", "meta.json"):
        assert (folder / name).read_bytes() == (reference.folder / name).read_bytes(), name


def test_a_run_waits_for_the_builder_and_reuses_its_cache(tiny_cohort, tmp_path, caplog):
    import threading

    from wsiseg.data.cache import build_lock
    from wsiseg.locks import owner, try_claim

    dm, waiter = make_dm(tiny_cohort, tmp_path), make_dm(tiny_cohort, tmp_path)
    slides, split_of, folder, key = dm._cache_plan()
    held = try_claim(build_lock(folder), owner("builder"))
    with caplog.at_level(logging.INFO):
        thread = threading.Thread(target=waiter.prepare_data)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not folder.exists()  # waiting, not building beside the holder
        dm._build(slides, split_of, folder, key)
        held.release()
        thread.join(60)
    assert not thread.is_alive() and open_cache(folder, key) is not None
    assert "waiting for run builder" in caplog.text and "built by another run meanwhile" in caplog.text


@pytest.fixture
def downloaded(tiny_cohort, tmp_path):
    """CAMELYON17 and CAMELYON16 as downloaded, under one data folder."""
    from tests.cohorts import downloads

    return downloads.camelyon17_challenge(tiny_cohort, tmp_path), downloads.camelyon16_challenge(tiny_cohort, tmp_path)


def test_bad_slides_are_skipped_and_named_and_fail_when_asked(downloaded, tmp_path):
    from wsiseg.cohorts import CohortOptions

    c17, c16 = downloaded
    truncated = sorted(c17.glob("training/center_4/*.tif"))[0]
    truncated.write_bytes(truncated.read_bytes()[:5000])
    xml = sorted((c17 / "training" / "lesion_annotations").glob("*.xml"))[0]
    xml.write_text(xml.read_text().replace("metastases", "Metastasis"))  # a group the reader does not know
    dm = make_dm(c17, tmp_path / "cache", cohorts=[str(c17), str(c16)])
    used = {s.slide for s in dm.slides()}
    left = {e.name: e.reason for e in dm.inventory().excluded}
    assert left[truncated.name] == "unreadable" and truncated.name not in used
    assert left[xml.name] == "unknown annotation group"
    assert left[f"{xml.stem}.tif"] == "positive slide without annotation" and f"{xml.stem}.tif" not in used
    assert left["test_001.tif"] == left["test_002.tif"] == "test set" and left["normal_001.tif"] == "dataset not used"
    assert "tumor_001.tif" in used and len(used) == 25 - 1 - 1 + 1  # CAMELYON17 - truncated - unannotated + tumor_001
    mapped = CohortOptions(group_roles={"Metastasis": "tumor"})
    assert f"{xml.stem}.tif" in {s.slide for s in make_dm(c17, tmp_path / "c", cohort_options=mapped).slides()}
    strict = make_dm(c17, tmp_path / "cache", cohort_options=CohortOptions(on_bad_slide="fail"))
    with pytest.raises(
        RuntimeError, match=rf"2 bad files in the cohorts \(cohorts.on_bad_slide=fail\): .*{truncated.name}"
    ):
        strict.slides()


def test_training_stops_only_when_nothing_is_left(tiny_cohort, tmp_path):
    from tests.cohorts import downloads

    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    for slide in top.glob("training/center_*/*.tif"):
        slide.write_bytes(b"not a tiff")
    with pytest.raises(
        RuntimeError, match=r"no slide left to train on in .*: 50 files left out \(\{'unreadable': 25, 'test set': 25\}"
    ):
        make_dm(top, tmp_path / "cache").slides()


def test_a_slide_that_fails_in_planning_is_skipped_with_a_warning(downloaded, tmp_path, caplog):
    from wsiseg.cohorts import CohortOptions
    from wsiseg.errors import SlideError

    c17, _ = downloaded
    truncated = sorted(c17.glob("training/center_3/*.tif"))[0]
    truncated.write_bytes(truncated.read_bytes()[:5000])
    unchecked = CohortOptions(check_slides=False)  # not opened first: the planner meets the bad file
    dm = make_dm(c17, tmp_path / "cache", cohort_options=unchecked)
    with caplog.at_level(logging.WARNING):
        dm.prepare_data()
    assert f"left out of training, its patches cannot be planned: {truncated.name}: SlideError" in caplog.text
    dm.setup("fit")
    assert truncated.name not in {r["slide"] for r in dm.cache.index} and len(dm.train_set) > 0
    strict = make_dm(c17, tmp_path / "cache2", cohort_options=CohortOptions(check_slides=False, on_bad_slide="fail"))
    with pytest.raises(SlideError, match="truncated"):
        strict.prepare_data()
