"""Untrusted files: a checkpoint is data. One carrying a malicious pickle, or plain strings naming functions
with side effects, is refused everywhere one is loaded and nothing happens on disk; slide names from a
manifest never place an output outside its folder."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, compose_config
from wsiseg.classifiers.holdout import checkpoint_split
from wsiseg.errors import CheckpointError
from wsiseg.features import find_heatmaps
from wsiseg.inference import output_paths
from wsiseg.model import ModelSpec, UNet, load_config_from_checkpoint, load_model
from wsiseg.model.spec import CONFIG_KEY, DATAMODULE_KEY, MODEL_KEY
from wsiseg.tasks.predict import run as predict_run
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
        {"state_dict": {}, CONFIG_KEY: {"model": {}}, DATAMODULE_KEY: {"split": {}}, "x": Payload(marker)},
        path,
    )
    return path, marker


def test_prediction_refuses_a_pickle_payload(evil_checkpoint):
    path, marker = evil_checkpoint
    for load in (load_model, load_config_from_checkpoint, lambda p: checkpoint_split(p, None)):
        with pytest.raises(CheckpointError, match="refused, nothing in it was run"):
            load(path)
    assert not marker.exists()


class Victims:
    """Files a crafted checkpoint would create, truncate or copy; :meth:`untouched` checks nothing happened."""

    def __init__(self, folder: Path) -> None:
        self.victim, self.secret = folder / "victim.txt", folder / "secret.txt"
        self.created, self.leak = folder / "created.txt", folder / "leak.txt"
        self.victim.write_text("precious data")
        self.secret.write_text("api key")

    def targets(self) -> list[dict]:
        """Hydra configs that, instantiated, each do one thing on disk (the old ``load_model`` did: Hydra's
        blocklist stops ``os.truncate`` and ``os.remove``, not these)."""
        return [
            {"_target_": "builtins.open", "file": str(self.created), "mode": "w"},
            {"_target_": "builtins.open", "file": str(self.victim), "mode": "w"},  # truncates it
            {"_target_": "shutil.copyfile", "src": str(self.secret), "dst": str(self.leak)},
        ]

    def untouched(self) -> bool:
        return self.victim.read_text() == "precious data" and not self.created.exists() and not self.leak.exists()


def crafted_checkpoints(folder: Path, victims: Victims) -> list[Path]:
    """Checkpoints of plain strings and numbers only (weights-only loading accepts them) naming side effects."""
    weights = {f"net.{k}": v for k, v in UNet(base_width=4, depth=2).state_dict().items()}
    weights |= {"mean": torch.full((1, 3, 1, 1), 0.5), "std": torch.full((1, 3, 1, 1), 0.25)}
    data = {"magnification": 2.0, "patch_size": 32, "out_size": 32}
    good = ModelSpec("UNet", {"base_width": 4, "depth": 2}, 2.0, 32).to_dict()
    states = []
    for target in victims.targets():
        unet = {"_target_": "wsiseg.model.SegmentationModule", "net": target}
        states += [
            {"state_dict": weights, CONFIG_KEY: {"model": target, "data": data}},  # the whole model
            {"state_dict": weights, CONFIG_KEY: {"model": unet, "data": data}},  # its network (recursive)
            {"state_dict": weights, CONFIG_KEY: {"model": unet, "data": data}, MODEL_KEY: good},
            {"state_dict": weights, MODEL_KEY: good | {"network": target["_target_"]}},
            {"state_dict": weights, MODEL_KEY: good | {"network_kwargs": {"base_width": target}}},
        ]
    paths = []
    for i, state in enumerate(states):
        paths.append(folder / f"crafted_{i}.ckpt")
        torch.save(state, paths[-1])
    return paths


def test_a_checkpoint_naming_functions_with_side_effects_is_refused_and_nothing_happens(tmp_path):
    victims = Victims(tmp_path)
    slides = tmp_path / "slides"
    slides.mkdir()
    for path in crafted_checkpoints(tmp_path, victims):
        predict = compose_config("predict", [f"ckpt_path={path}", f"slides={slides}", f"out_dir={tmp_path / 'o'}",
                                             f"paths.output_dir={tmp_path / 'run'}"])  # fmt: skip
        for load in (load_model, lambda p: checkpoint_split(p, None), lambda p, cfg=predict: predict_run(cfg)):
            with pytest.raises(CheckpointError) as err:
                load(path)
            assert err.value.path == path and "refusing" in str(err.value)
        assert victims.untouched(), path


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_predict_cli_refuses_a_crafted_checkpoint(tmp_path):
    victims = Victims(tmp_path)
    path = crafted_checkpoints(tmp_path, victims)[5]  # open(victim, "w") as the model (a config-only checkpoint)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "predict.py"), f"ckpt_path={path}", f"slides={tmp_path}",
               f"out_dir={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "CheckpointError" in done.stderr and str(path) in done.stderr
    assert "builtins.open" in done.stderr and victims.untouched()


def test_resuming_training_refuses_a_pickle_payload(evil_checkpoint, tiny_cohort, tmp_path):
    path, marker = evil_checkpoint
    cfg = compose_config(
        "train",
        ["experiment=demo", f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={tmp_path / 'cache'}",
         f"paths.output_dir={tmp_path / 'out'}", "sampling.magnification=4.0", "sampling.patch_size=32",
         "sampling.out_size=32", "data.loader.num_workers=0", "data.loader.prepare_workers=1",
         "trainer.enable_progress_bar=false", f"ckpt_path={path}"],
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
