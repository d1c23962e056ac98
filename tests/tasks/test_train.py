"""train.py end to end on the tiny cohort: one batch through Hydra compose, resume, DDP on 2 CPUs, multirun."""

import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import REPO, compose_config
from wsiseg.model import load_config_from_checkpoint
from wsiseg.model.callbacks import PROVENANCE_KEY
from wsiseg.model.spec import DATAMODULE_KEY
from wsiseg.tasks.train import run


def overrides(cohort, cache, out, *extra):
    return [
        "experiment=demo", f"data.cohorts=[{cohort}]", f"paths.cache_dir={cache}", f"paths.output_dir={out}",
        "sampling.magnification=4.0", "sampling.patch_size=32", "sampling.out_size=32", "data.loader.batch_size=8",
        "data.loader.num_workers=0", "data.loader.prepare_workers=1", "data.split.val_fraction=0.4",
        "data.split.test_fraction=0.0",
        "model.net.depth=2", "model.net.base_width=4", "trainer.enable_progress_bar=false",
        "trainer.limit_train_batches=3", "trainer.limit_val_batches=2", "trainer.log_every_n_steps=1", *extra,
    ]  # fmt: skip


def test_one_batch_through_hydra_compose(tiny_cohort, tmp_path):
    cfg = compose_config(
        "train", overrides(tiny_cohort, tmp_path / "cache", tmp_path / "out", "+trainer.fast_dev_run=1")
    )
    result = run(cfg)
    assert {"train/loss", "val/dice", "val/iou"} <= set(result.metrics)
    assert 0.0 <= result.metrics["val/dice"] <= 1.0


def test_training_writes_checkpoints_tensorboard_and_resumes(tiny_cohort, tmp_path):
    out = tmp_path / "out"
    first = run(compose_config("train", overrides(tiny_cohort, tmp_path / "cache", out, "trainer.max_epochs=1")))
    assert first.last_checkpoint.is_file() and first.best_checkpoint.is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    hparams = OmegaConf.load(out / "tensorboard" / "hparams.yaml")  # what train.py gave log_hyperparams
    assert hparams.data.sampling.magnification == 4.0 and hparams.data.cohorts == [str(tiny_cohort)]
    assert hparams.data.tissue.min_area_mm2 == 0.05 and hparams.data.split.val_fraction == 0.4
    assert dict(hparams.data.loader) == {"batch_size": 8, "num_workers": 0, "prepare_workers": 1}
    assert hparams.model.optimizer._target_ == "torch.optim.adam.Adam" and hparams.model.optimizer.lr == 1e-3
    config = load_config_from_checkpoint(first.last_checkpoint)
    assert config["sampling"]["magnification"] == 4.0 and config["sampling"]["out_size"] == 32  # predict reads these
    state = torch.load(first.last_checkpoint, map_location="cpu", weights_only=True)
    assert state["epoch"] == 0 and state["global_step"] == 3
    assert state[PROVENANCE_KEY]["packages"]["torch"] and state[PROVENANCE_KEY]["seed"] == 42
    assert json.loads((out / "run.json").read_text())["config"]["sampling"]["magnification"] == 4.0
    split = state[DATAMODULE_KEY]["split"]  # the patient split travels with the checkpoint (for stage.py)
    assert set(split.values()) <= {"train", "val", "test"} and "train" in split.values()
    resumed = run(
        compose_config(
            "train",
            overrides(
                tiny_cohort,
                tmp_path / "cache",
                tmp_path / "out2",
                "trainer.max_epochs=2",
                f"ckpt_path={first.last_checkpoint}",
            ),
        )
    )
    state = torch.load(resumed.last_checkpoint, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["global_step"] == 6  # continued, not restarted


def _train_cli(args, cwd, timeout=600):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_ddp_with_two_cpu_processes(tiny_cohort, tmp_path):
    """Lightning's DDP launcher re-runs train.py for rank 1; the cache is built once and both ranks train."""
    out = tmp_path / "ddp"
    log = _train_cli(
        [
            *overrides(tiny_cohort, tmp_path / "cache", out, "trainer=ddp_cpu", "trainer.max_epochs=1"),
            f"hydra.run.dir={out}",
        ],
        cwd=tmp_path,
    )
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert len(list((tmp_path / "cache").glob("patches-*"))) == 1
    state = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 3
    assert state["state_dict"]  # weights saved once, by rank 0


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_two_job_multirun(tiny_cohort, tmp_path, launcher):
    """A two-job sweep, in turn (Hydra's basic launcher) and as submitit jobs (the SLURM plugin's local mode)."""
    sweep = tmp_path / "sweep"
    args = overrides(tiny_cohort, tmp_path / "cache", "${hydra:runtime.output_dir}", "trainer.max_epochs=1")
    if launcher == "submitit_local":
        args += ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=15", "hydra.launcher.cpus_per_task=1"]
    _train_cli(["-m", *args, "sampling.neg_pos_ratio=2,3", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    if launcher == "submitit_local":
        assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2  # both ran as submitit jobs
    for job in ("0", "1"):
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert list((sweep / job / "tensorboard").glob("events.out.tfevents.*"))
    ratios = {
        load_config_from_checkpoint(sweep / j / "checkpoints" / "last.ckpt")["sampling"]["neg_pos_ratio"] for j in "01"
    }
    assert ratios == {2, 3}
    assert len(list((tmp_path / "cache").glob("patches-*"))) == 2  # one cache per sampling config


@pytest.mark.parametrize("bad", ["sampling.magnification=63x", pytest.param("trainer=nope", marks=pytest.mark.slow)])
def test_bad_overrides_fail_before_work(tiny_cohort, tmp_path, bad):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = [*overrides(tiny_cohort, tmp_path / "cache", tmp_path / "o"), bad, f"hydra.run.dir={tmp_path / 'o'}"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert not (tmp_path / "cache").exists()


def _records(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return {(r["epoch"], r["batch"]): r["mask_sum"] for r in lines}


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_killed_mid_epoch_resumes_from_last_with_the_same_batches(tiny_cohort, tmp_path):
    import signal
    import time

    def args(out, record, *extra):
        return [
            *overrides(tiny_cohort, tmp_path / "cache", out, "trainer.max_epochs=3", "trainer.limit_train_batches=8"),
            "+callbacks.recorder._target_=tests.tasks.recorder.BatchRecorder", f"+callbacks.recorder.path={record}",
            f"hydra.run.dir={out}", *extra,
        ]  # fmt: skip

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    _train_cli(args(tmp_path / "whole", tmp_path / "whole.jsonl"), cwd=tmp_path)  # the uninterrupted run
    record = tmp_path / "killed.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *args(tmp_path / "killed", record)], cwd=tmp_path,
        env={**env, "WSISEG_TEST_PAUSE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and not (record.is_file() and (1, 3) in _records(record)):
        time.sleep(0.5)
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").is_file(), "epoch 0 should have been checkpointed"
    proc.send_signal(signal.SIGKILL)  # mid-epoch 1
    proc.wait()
    _train_cli(args(tmp_path / "killed", record, "ckpt_path=last"), cwd=tmp_path)
    state = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    whole_state = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (whole_state["epoch"], whole_state["global_step"])
    assert state["global_step"] == 24  # 3 epochs of 8 batches: epoch 1 was redone, not skipped or repeated twice
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert sum(r["epoch"] == 1 for r in lines) == 8  # epoch 1's first 4 batches: before the kill and after
    assert all(r["mask_sum"] == _records(record)[(r["epoch"], r["batch"])] for r in lines)
    whole, resumed = _records(tmp_path / "whole.jsonl"), _records(record)
    assert resumed == whole  # the same patches in every epoch, before and after the kill
    assert whole[(1, 0)] != whole[(2, 0)] or whole[(1, 1)] != whole[(2, 1)]  # epochs differ: not vacuous
