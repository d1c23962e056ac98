"""Untrusted files: a checkpoint carrying a malicious pickle is refused everywhere one is loaded, and slide
names from a manifest never place an output outside its folder."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from wsiseg.features import find_heatmaps
from wsiseg.inference import output_paths
from wsiseg.model import load_config_from_checkpoint
from wsiseg.tasks.predict import load_model
from wsiseg.tasks.stage import checkpoint_split
from wsiseg.tasks.train import run as train_run


class Payload:
    """Unpickling this would create ``marker``: proof that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def evil_checkpoint(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save(
        {"state_dict": {}, "wsiseg_config": {"model": {}}, "PatchDataModule": {"split": {}}, "x": Payload(marker)},
        path,
    )
    return path, marker


def test_prediction_refuses_a_pickle_payload(evil_checkpoint):
    path, marker = evil_checkpoint
    for load in (load_model, load_config_from_checkpoint, lambda p: checkpoint_split(p, None)):
        with pytest.raises(pickle.UnpicklingError):
            load(path)
    assert not marker.exists()


def test_resuming_training_refuses_a_pickle_payload(evil_checkpoint, tiny_cohort, tmp_path):
    path, marker = evil_checkpoint
    cfg = compose_config(
        "train",
        ["experiment=demo", f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={tmp_path / 'cache'}",
         f"paths.output_dir={tmp_path / 'out'}", "data.magnification=4.0", "data.patch_size=32", "data.out_size=32",
         "data.num_workers=0", "data.prepare_workers=1", "trainer.enable_progress_bar=false", f"ckpt_path={path}"],
    )  # fmt: skip
    with pytest.raises(pickle.UnpicklingError):
        train_run(cfg)
    assert not marker.exists()


def test_slide_names_never_leave_the_output_folder(tmp_path):
    out = tmp_path / "out"
    for name in ["../../x", "/etc/passwd", "a/../../b"]:
        for path in output_paths(out, name).values():
            assert path.parent == out
    for name in ["..", ".", ""]:
        with pytest.raises(ValueError):
            output_paths(out, name)


def test_heatmap_metadata_cannot_point_outside_its_folder(tmp_path):
    folder = tmp_path / "heatmaps"
    folder.mkdir()
    np.save(folder / "x.heatmap.npy", np.zeros((4, 4), np.float16))
    np.save(folder / "x.tissue.npy", np.ones((4, 4), bool))
    meta = '{"format": 1, "name": "../../x", "slide": "../../x.tif", "heatmap_mpp": 4, "slide_mpp": 0.25}'
    (folder / "x.json").write_text(meta)
    (record,) = find_heatmaps(folder)
    assert record.name == "x" and record.heatmap.parent == folder and record.slide == "x.tif"
