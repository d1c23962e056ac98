"""conf/debug/: every debugging config composes with every trainer config, and fast_dev_run trains for real."""

import pytest
import pytorch_lightning as pl
from hydra.utils import instantiate
from pytorch_lightning.profilers import SimpleProfiler

from tests.conftest import CONF, compose_config
from tests.tasks.test_train import overrides
from wsiseg.tasks.train import run

BASE = ["experiment=demo", "paths.output_dir=/tmp/wsiseg-test-out"]
DEBUG = sorted(p.stem for p in (CONF / "debug").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (CONF / "trainer").glob("*.yaml"))


def test_the_template_set_is_there():
    assert DEBUG == ["default", "fdr", "limit", "overfit", "profiler"]


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("debug", DEBUG)
def test_debug_configs_make_a_one_process_cpu_trainer(debug, trainer):
    cfg = compose_config("train", [*BASE, f"debug={debug}", f"trainer={trainer}"])
    assert cfg.task_name == "debug"
    assert "callbacks" not in cfg and "logger" not in cfg  # no checkpoints, LR monitor, image grid, TensorBoard
    assert (cfg.data.loader.num_workers, cfg.data.loader.prepare_workers) == (0, 1)
    t = cfg.trainer
    assert (t.accelerator, t.devices, t.num_nodes, t.strategy, t.precision) == ("cpu", 1, 1, "auto", "32-true")
    assert t.detect_anomaly and not t.sync_batchnorm  # trainer=ddp's settings undone
    built = instantiate(cfg.trainer, logger=False)
    assert isinstance(built, pl.Trainer) and built.world_size == 1 and built.num_devices == 1


def test_each_debug_config_sets_what_it_is_named_after():
    def trainer(name):
        return instantiate(compose_config("train", [*BASE, f"debug={name}"]).trainer, logger=False)

    assert trainer("default").max_epochs == 1
    fdr = trainer("fdr")
    assert fdr.fast_dev_run is True and fdr.limit_train_batches == 1 and fdr.limit_val_batches == 1
    overfit = trainer("overfit")
    assert (overfit.overfit_batches, overfit.limit_train_batches, overfit.max_epochs) == (3, 3, 20)
    limit = trainer("limit")
    assert (limit.max_epochs, limit.limit_train_batches, limit.limit_val_batches) == (3, 10, 5)
    profiler = trainer("profiler").profiler
    assert isinstance(profiler, SimpleProfiler)
    assert (str(profiler.dirpath), profiler.filename) == ("/tmp/wsiseg-test-out", "profile")  # the run folder


def test_a_group_removed_by_debug_comes_back_from_the_command_line():
    cfg = compose_config("train", [*BASE, "debug=fdr", "callbacks=default", "logger=tensorboard"])
    assert {"model_checkpoint", "latest_checkpoint", "lr_monitor"} <= set(cfg.callbacks) and "tensorboard" in cfg.logger
    assert cfg.trainer.fast_dev_run is True


class FitProbe(pl.Callback):
    """Records how the trainer ran (the test reads ``FitProbe.seen``)."""

    seen: list[dict] = []

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        FitProbe.seen.append(
            {
                "fast_dev_run": trainer.fast_dev_run,
                "global_step": trainer.global_step,
                "epochs": trainer.current_epoch,
                "sanity_steps": trainer.num_sanity_val_steps,
                "loggers": [type(logger).__name__ for logger in trainer.loggers],
            }
        )


@pytest.mark.parametrize(
    "restored",
    [
        pytest.param([], marks=pytest.mark.slow),  # 15 s; one batch through compose stays in the fast suite
        pytest.param(["callbacks=default", "logger=tensorboard"], marks=pytest.mark.slow),
    ],
    ids=["plain", "callbacks"],
)
def test_fast_dev_run_trains_one_batch_and_writes_no_checkpoint(tiny_cohort, tmp_path, restored):
    out = tmp_path / "out"
    probe = ["+callbacks.probe._target_=tests.conf.test_debug.FitProbe"]
    FitProbe.seen.clear()
    cfg = compose_config("train", overrides(tiny_cohort, tmp_path / "cache", out, "debug=fdr", *restored, *probe))
    result = run(cfg)
    assert {"train/loss", "val/dice"} <= set(result.metrics) and 0.0 <= result.metrics["val/dice"] <= 1.0
    (seen,) = FitProbe.seen
    assert seen["fast_dev_run"] is True and seen["global_step"] == 1 and seen["sanity_steps"] == 0
    assert seen["loggers"] == (["DummyLogger"] if restored else [])  # Lightning swaps a real logger out
    assert result.best_checkpoint is None and result.last_checkpoint is None
    assert not list(out.rglob("*.ckpt")) and not list(out.rglob("events.out.tfevents.*"))
    assert (out / "run.json").is_file()  # the run is still recorded


@pytest.mark.slow  # make test-all: fdr above covers the fast suite's real run
def test_profiler_writes_its_table_into_the_run_folder(tiny_cohort, tmp_path):
    out = tmp_path / "out"
    run(compose_config("train", overrides(tiny_cohort, tmp_path / "cache", out, "debug=profiler")))
    table = (out / "fit-profile.txt").read_text()
    assert "run_training_epoch" in table and "training_step" in table


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:You requested to overfit but enabled train dataloader shuffling")
def test_overfit_repeats_the_same_batches_every_epoch(tiny_cohort, tmp_path):
    import json

    record = tmp_path / "batches.jsonl"
    recorder = ["+callbacks.recorder._target_=tests.tasks.recorder.BatchRecorder", f"+callbacks.recorder.path={record}"]
    args = overrides(tiny_cohort, tmp_path / "cache", tmp_path / "out", "debug=overfit", "trainer.max_epochs=2")
    run(compose_config("train", [*args, *recorder]))
    batches = [json.loads(line) for line in record.read_text().splitlines()]
    by_epoch = [[b["mask_sum"] for b in batches if b["epoch"] == epoch] for epoch in (0, 1)]
    assert len(by_epoch[0]) == 3 and by_epoch[0] == by_epoch[1]  # shuffling off: the same 3 batches again
