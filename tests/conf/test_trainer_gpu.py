"""trainer=gpu: bf16 autocast, and channels-last with model.channels_last=true.

The CPU tests check the composed values, the memory format, and the same one-batch training and one-slide
prediction with bf16 autocast on the CPU; the ``gpu`` tests run that on CUDA (skipped without it, see
tests/conftest.py).
"""

import json
import shutil

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from tests.conftest import compose_config
from tests.tasks.test_train import overrides
from wsiseg.inference import find_slides
from wsiseg.model import SegmentationModule
from wsiseg.tasks.predict import run as predict
from wsiseg.tasks.train import run as train

BASE = ["paths.output_dir=/tmp/wsiseg-test-out"]


def conv_weights(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in net.parameters() if p.dim() == 4 and p.shape[-1] > 1]  # (C_out, C_in, k, k), k > 1


def channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last)


def test_gpu_trainer_config_is_one_gpu_in_bf16():
    cfg = compose_config("train", [*BASE, "experiment=demo", "trainer=gpu"])
    t = cfg.trainer
    assert (t.accelerator, t.devices, t.precision, t.benchmark) == ("gpu", 1, "bf16-mixed", True)
    assert cfg.model.channels_last is False  # channels-last is the model's choice: model.channels_last=true
    predict_cfg = compose_config("predict", [*BASE, "ckpt_path=x.ckpt", "trainer=gpu"])
    assert predict_cfg.trainer.precision == "bf16-mixed" and predict_cfg.channels_last is None  # as trained


def test_channels_last_is_applied_to_the_network_on_cpu():
    cfg = compose_config("train", [*BASE, "model=unet_tiny", "model.channels_last=true"])
    model = instantiate(cfg.model)
    assert isinstance(model, SegmentationModule) and model.hparams.channels_last
    weights = conv_weights(model.net)
    assert weights and all(channels_last(w) for w in weights)
    assert not weights[0].is_contiguous()  # really permuted, not a shape where both formats coincide
    plain = instantiate(compose_config("train", [*BASE, "model=unet_tiny"]).model)
    plain.load_state_dict(model.state_dict())
    image = torch.rand(2, 3, 64, 64)  # (B, C, H, W)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(image), plain.eval()(image), rtol=1e-4, atol=1e-5)


class DeviceProbe(pl.Callback):
    """Records where and how the first training batch ran (the test reads ``DeviceProbe.seen``)."""

    seen: dict = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        DeviceProbe.seen.update(precision=trainer.precision, device=pl_module.device.type)

        def hook(module, inputs, output):
            DeviceProbe.seen.setdefault("input_channels_last", channels_last(inputs[0]))
            DeviceProbe.seen.setdefault("output_dtype", output.dtype)

        self.handle = pl_module.net.register_forward_hook(hook)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.handle.remove()
        weights = conv_weights(pl_module.net)
        DeviceProbe.seen["weights_channels_last"] = all(channels_last(w) for w in weights)


def train_and_predict_in_bf16(tiny_cohort, tmp_path, accelerator: str) -> None:
    """One training batch and one slide's heatmap with trainer=gpu and channels-last on ``accelerator``."""
    DeviceProbe.seen.clear()
    probe = "+callbacks.probe._target_=tests.conf.test_trainer_gpu.DeviceProbe"
    gpu = ["trainer=gpu", f"trainer.accelerator={accelerator}"]
    cfg = compose_config(
        "train",
        overrides(tiny_cohort, tmp_path / "cache", tmp_path / "train", *gpu, "model.channels_last=true", probe,
                  "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1"),
    )  # fmt: skip
    result = train(cfg)
    seen = DeviceProbe.seen
    assert seen["precision"] == "bf16-mixed" and seen["device"] == ("cuda" if accelerator == "gpu" else "cpu")
    assert seen["input_channels_last"] and seen["weights_channels_last"]
    assert seen["output_dtype"] == torch.bfloat16  # the convolutions ran under bf16 autocast
    assert np.isfinite(result.metrics["train/loss"]) and result.last_checkpoint.is_file()

    slides = tmp_path / "slides"
    slides.mkdir()
    _, path = find_slides(tiny_cohort)[0]
    shutil.copy(path, slides / path.name)
    args = [f"ckpt_path={result.last_checkpoint}", f"slides={slides}", "num_workers=0", "plan_workers=1",
            "inference.heatmap_mpp=8.0", "write_tiff=false", "write_png=false"]  # fmt: skip
    heatmaps = {}
    for name, extra in {"bf16": gpu, "fp32": ["trainer=cpu", "channels_last=false"]}.items():
        out = tmp_path / name
        summary = predict(compose_config("predict", [*args, f"out_dir={out}", f"paths.output_dir={out}-run", *extra]))
        assert summary.done == [path.stem] and not summary.failed
        meta = json.loads((out / f"{path.stem}.json").read_text())
        heatmaps[name] = np.load(out / meta["files"]["heatmap"]).astype(np.float32)
    assert heatmaps["bf16"].shape == heatmaps["fp32"].shape
    assert np.abs(heatmaps["bf16"] - heatmaps["fp32"]).max() < 0.05  # bf16 keeps ~3 significant digits


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_bf16_channels_last_training_and_prediction_on_cpu(tiny_cohort, tmp_path):
    """The GPU test's path with the CPU's bf16 autocast: what CI can check of it."""
    train_and_predict_in_bf16(tiny_cohort, tmp_path, "cpu")


@pytest.mark.gpu
def test_bf16_channels_last_training_and_prediction_on_cuda(tiny_cohort, tmp_path):
    train_and_predict_in_bf16(tiny_cohort, tmp_path, "gpu")
