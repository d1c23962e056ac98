"""The model record of a checkpoint: written by training, read back strictly, rebuilt from an allow-list only."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch

from wsiseg.errors import CheckpointError
from wsiseg.model import ConfigInCheckpoint, ModelSpec, load_model, read_checkpoint
from wsiseg.model.checkpoint import spec_of_module, spec_of_run, stored_split
from wsiseg.model.spec import CONFIG_KEY, DATAMODULE_KEY, MODEL_KEY, trusted_target, untrusted_targets
from wsiseg.tissue import TissueParams

from .synthetic import DiscDataset, make_module


def record(**changes) -> dict:
    base = ModelSpec("UNet", {"base_width": 4, "depth": 2}, input_mpp=2.0, tile_size=32, split={"p1": "test"})
    return base.to_dict() | changes


def save(tmp_path: Path, state: dict, name: str = "x.ckpt") -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_training_writes_a_record_that_rebuilds_the_same_network(tmp_path: Path) -> None:
    module = make_module(threshold=0.4)
    loader = torch.utils.data.DataLoader(DiscDataset(8), batch_size=4)
    trainer = pl.Trainer(
        max_steps=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, callbacks=[ConfigInCheckpoint({"seed": 0}, input_mpp=1.5, tile_size=32)],
    )  # fmt: skip
    trainer.fit(module, loader)
    trainer.save_checkpoint(tmp_path / "t.ckpt")
    stored = read_checkpoint(tmp_path / "t.ckpt")[MODEL_KEY]
    assert stored["network"] == "UNet" and stored["network_kwargs"]["base_width"] == 4
    assert stored["input_mpp"] == 1.5 and stored["tile_size"] == 32 and stored["threshold"] == 0.4
    rebuilt, spec = load_model(tmp_path / "t.ckpt")
    assert spec.network_kwargs == module.net.init_kwargs and not rebuilt.training
    x = torch.rand(2, 3, 32, 32)
    module.eval()
    torch.testing.assert_close(rebuilt.predict_step(x), module.predict_step(x))
    with pytest.raises(ValueError, match="no optimizer"):
        rebuilt.configure_optimizers()


def test_a_checkpoint_from_before_the_record_is_read_through_the_allow_list(tmp_path: Path) -> None:
    module = make_module()
    config = {
        "model": {"_target_": "wsiseg.model.SegmentationModule", "threshold": 0.5,
                  "net": {"_target_": "wsiseg.model.UNet", "base_width": 4, "depth": 2},
                  "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3},
                  "scheduler": {"_target_": "torch.optim.lr_scheduler.MultiStepLR", "_partial_": True},
                  "loss": {"_target_": "wsiseg.model.BCEDiceLoss"}},
        "data": {"magnification": "20x", "patch_size": 64, "out_size": 32},
    }  # fmt: skip
    path = save(tmp_path, {"state_dict": module.state_dict(), CONFIG_KEY: config,
                           DATAMODULE_KEY: {"split": {"patient_000": "test"}}})  # fmt: skip
    _, spec = load_model(path)
    assert spec.input_mpp == 1.0 and spec.tile_size == 32  # 0.5 um/px * 64 / 32
    assert spec.split == {"patient_000": "test"} and stored_split(read_checkpoint(path), path) == spec.split


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"network": "shutil.rmtree"}, "not one of wsiseg's networks"),
        ({"network_kwargs": {"base_width": {"_target_": "os.truncate", "path": "x", "length": 0}}}, "not a plain"),
        ({"network_kwargs": {"_target_": "os.system"}}, "takes no argument '_target_'"),
        ({"input_mpp": "2"}, "input_mpp"),
        ({"tile_size": True}, "tile_size"),
        ({"format": 99}, "unknown model record"),
        ({"extra": 1}, "unknown model record"),
        ({"split": {"p": "everything"}}, "split entry"),
        ({"mean": []}, "mean"),
        ({"tissue": "default"}, "tissue is a str"),
        ({"tissue": {"min_area_mm2": 0.1, "command": "rm -rf /"}}, "tissue has no setting 'command'"),
        ({"tissue": {"min_area_mm2": {"_target_": "os.system", "command": "x"}}}, "tissue.min_area_mm2 = "),
        ({"tissue": {"remove_black": 1}}, "tissue.remove_black = 1 is not a plain bool"),
        ({"tissue": {"black_max_value": 50.5}}, "tissue.black_max_value"),
        ({"tissue": {"green_hue_deg": [70.0, "190"]}}, r"tissue.green_hue_deg = \[70.0, '190'\] is not a plain tuple"),
        ({"tissue": {"min_area_mm2": -1.0}}, "min_area_mm2 must be >= 0"),
    ],
)
def test_a_crafted_record_is_refused_naming_the_file(tmp_path: Path, change: dict, message: str) -> None:
    path = save(tmp_path, {"state_dict": make_module().state_dict(), MODEL_KEY: record(**change)})
    with pytest.raises(CheckpointError, match=message) as err:
        load_model(path)
    assert err.value.path == path


def test_the_tissue_settings_of_training_are_recorded_as_plain_values(tmp_path: Path) -> None:
    """The datamodule's tissue settings (what its patches were sampled with) go into the record; read back alike."""
    tissue = TissueParams(min_area_mm2=0.1, green_hue_deg=(60.0, 180.0))
    datamodule = SimpleNamespace(input_mpp=2.0, tile_size=32, split_of={"p1": "test"}, tissue=tissue)
    spec = spec_of_run(SimpleNamespace(datamodule=datamodule), make_module())
    assert spec is not None and spec.tissue == tissue
    stored = spec.to_dict()["tissue"]
    assert stored["min_area_mm2"] == 0.1 and stored["green_hue_deg"] == [60.0, 180.0]  # lists: plain values
    path = save(tmp_path, {"state_dict": make_module().state_dict(), MODEL_KEY: spec.to_dict()})
    assert load_model(path)[1].tissue == tissue
    old = {k: v for k, v in spec.to_dict().items() if k != "tissue"}  # a checkpoint from before the record
    assert (
        load_model(save(tmp_path, {"state_dict": make_module().state_dict(), MODEL_KEY: old}, "old.ckpt"))[1].tissue
        is None
    )
    no_datamodule = spec_of_run(SimpleNamespace(datamodule=None), make_module(), input_mpp=1.0, tile_size=32)
    assert no_datamodule is not None and no_datamodule.tissue is None


def test_weights_that_do_not_fit_the_record_are_refused_before_memory_is_spent(tmp_path: Path) -> None:
    weights = make_module().state_dict()
    path = save(tmp_path, {"state_dict": weights, MODEL_KEY: record(network_kwargs={"base_width": 8, "depth": 2})})
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(path)
    huge = record(network_kwargs={"base_width": 10**7, "depth": 4})  # ~10^17 parameters: checked on "meta"
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(save(tmp_path, {"state_dict": weights, MODEL_KEY: huge}, "huge.ckpt"))


def test_not_a_checkpoint_is_refused_naming_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="junk.ckpt: not a readable torch checkpoint"):
        read_checkpoint(junk)
    with pytest.raises(CheckpointError, match="holds a list"):
        read_checkpoint(save(tmp_path, [1, 2], "list.ckpt"))
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "missing.ckpt")


def test_trusted_targets_are_decided_from_the_string_alone() -> None:
    for target in ["wsiseg.model.UNet", "wsiseg.model.unet.UNet", "wsiseg.model.SegmentationModule",
                   "wsiseg.model.losses.BCEDiceLoss", "torch.optim.Adam", "torch.optim.adam.Adam",
                   "torch.optim.lr_scheduler.MultiStepLR", "torch.nn.BCEWithLogitsLoss"]:  # fmt: skip
        assert trusted_target(target), target
    for target in ["os.truncate", "shutil.copyfile", "builtins.open", "torch.save", "torch.optim.Adam.step",
                   "torch.nn.Conv2d", "torch.optim.lr_scheduler.LRScheduler.__init__", "torch.optim.__builtins__",
                   "UNet.x", 3]:  # fmt: skip
        assert not trusted_target(target), target
    tree = {"_target_": "wsiseg.model.SegmentationModule", "net": {"_target_": "os.truncate"},
            "extra": [{"_target_": "builtins.exec"}]}  # fmt: skip
    assert untrusted_targets(tree) == [
        "model.net._target_ = 'os.truncate'",
        "model.extra[0]._target_ = 'builtins.exec'",
    ]


def test_a_module_with_an_unregistered_network_has_no_record() -> None:
    module = make_module()
    module.net = torch.nn.Conv2d(3, 1, 1)
    with pytest.raises(CheckpointError, match="not registered"):
        spec_of_module(module, 1.0, 32)


@pytest.mark.parametrize("stain", ["none", "macenko", pytest.param("reinhard", marks=pytest.mark.slow)])
def test_every_stain_config_names_trusted_targets_only(stain: str) -> None:
    # every model file (with stain=macenko): tests/tasks/test_configs.py::test_every_model_and_data_file
    from omegaconf import OmegaConf

    from tests.conftest import compose_config

    cfg = compose_config("train", ["model=unet_tiny", f"stain={stain}", "paths.output_dir=."])
    assert untrusted_targets(OmegaConf.to_container(cfg.model, resolve=True)) == []
