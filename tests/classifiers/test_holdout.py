"""stage.py's held-out patients: the U-Net's split, read from its checkpoint or recomputed from its config."""

from pathlib import Path

import pytest
import torch

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.classifiers.holdout import checkpoint_split
from wsiseg.cohorts import read_cohort
from wsiseg.model import ModelSpec
from wsiseg.sampling import split_from_data_config
from wsiseg.synth.cohort import write_manifest

DATA = {"magnification": 2.0, "patch_size": 32, "out_size": 32, "tumour_from": ["camelyon17"],
        "normal_from": ["camelyon17"], "val_fraction": 0.2, "test_fraction": 0.4, "split_seed": 5}  # fmt: skip


@pytest.fixture
def cohort(tmp_path):
    """Ten negative patients and five annotated macro patients, one slide each."""
    rows = [
        {"slide": f"p{i:02d}.tif", "path": f"p{i:02d}.tif", "annotation": "x.xml" if i >= 10 else "",
         "dataset": "camelyon17", "patient": f"p{i:02d}", "centre": "0", "label": "macro" if i >= 10 else "negative",
         "mpp": "0.25", "lesions_mm": ""}
        for i in range(15)
    ]  # fmt: skip
    write_manifest(tmp_path / "manifest.csv", rows)
    for row in rows:
        (tmp_path / row["path"]).write_bytes(b"")  # listed slides must exist (the inventory opens none here)
    write_asap_xml(tmp_path / "x.xml", [Annotation("a", "metastases", "tumor", [[0, 0], [9, 0], [9, 9]])])
    return tmp_path


def old_checkpoint(path, data):
    """A checkpoint with a model record but no split, and the training config's data section."""
    record = ModelSpec("UNet", {"base_width": 4, "depth": 2}, 2.0, 32).to_dict()
    torch.save({"state_dict": {}, "wsiseg_model": record, "wsiseg_config": {"data": data}}, path)
    return path


def test_a_checkpoint_without_a_split_gets_it_from_its_data_config(cohort, tmp_path):
    split = checkpoint_split(old_checkpoint(tmp_path / "old.ckpt", DATA), read_cohort(cohort))
    assert split == split_from_data_config(DATA, read_cohort(cohort))
    # 40 % test, 20 % val of each stratum: 4 + 2 of the ten negatives, 2 + 1 of the five macro patients
    assert sorted(split.values()).count("test") == 6 and sorted(split.values()).count("val") == 3


def test_a_split_that_cannot_be_recomputed_is_a_clear_error(cohort, tmp_path):
    path = old_checkpoint(tmp_path / "old.ckpt", {k: v for k, v in DATA.items() if k != "val_fraction"})
    with pytest.raises(ValueError, match=r"old.ckpt records no patient split and the data config lacks val_fraction"):
        checkpoint_split(path, read_cohort(cohort))
    with pytest.raises(ValueError, match=r"records no patient split; run stage.py with holdout=none"):
        checkpoint_split(old_checkpoint(tmp_path / "old2.ckpt", DATA), None)  # no cohort to recompute it over


def checkpoint_with_split(path, split):
    record = ModelSpec("UNet", {"base_width": 4, "depth": 2}, 2.0, 32, split=split).to_dict()
    torch.save({"state_dict": {}, "wsiseg_model": record}, path)
    return path


def test_an_ensemble_holds_out_only_the_patients_every_member_held_out(tmp_path, caplog):
    from types import SimpleNamespace

    from wsiseg.classifiers.holdout import heatmaps_checkpoints, heldout_patients, load_checkpoints

    a = checkpoint_with_split(tmp_path / "a.ckpt", {"p1": "test", "p2": "test", "p3": "train", "p4": "test"})
    b = checkpoint_with_split(tmp_path / "b.ckpt", {"p1": "test", "p2": "val", "p3": "test", "p4": "test"})
    rows = [SimpleNamespace(heatmap=SimpleNamespace(checkpoints=(str(a), str(b)))) for _ in range(3)]
    members = heatmaps_checkpoints(rows)
    assert members == (a, b)
    states = load_checkpoints(members, required=True)
    assert heldout_patients(members, None, states) == {"p1", "p4"}  # p2 validated b, p3 trained a
    assert "hold out different patients (3, 3): only the 2 held out by every member" in caplog.text
    assert heldout_patients(members[:1], None, states[:1]) == {"p1", "p2", "p4"}
    rows.append(SimpleNamespace(heatmap=SimpleNamespace(checkpoints=(str(a),))))  # heatmaps of two models
    assert heatmaps_checkpoints(rows) is None


def test_the_reported_checkpoint_is_absolute_like_every_other_path(tmp_path, monkeypatch):
    """predict.py records ckpt_path as given (often relative); stage.py's report names it absolute."""
    from wsiseg.classifiers.holdout import training_run

    (tmp_path / "runs" / "tb" / "version_0").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    state = {"wsiseg_config": {"logger": {"tensorboard": {"save_dir": str(tmp_path / "runs"), "name": "tb"}}}}
    run = training_run([Path("runs/last.ckpt")], [state])
    assert run.checkpoint == tmp_path / "runs" / "last.ckpt"
    assert run.checkpoint.is_absolute()
    assert run.tensorboard == tmp_path / "runs" / "tb"
    assert training_run(None, None).checkpoint is None
