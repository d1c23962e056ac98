"""smp and ViT networks: allow-listed names, records of plain values, rebuilt, fine-tuned, weights read offline."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BackboneFinetuning
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from wsiseg.errors import CheckpointError
from wsiseg.model import ConfigInCheckpoint, ModelSpec, SegmentationModule, SmpNetwork, UNet, ViTSegmenter, load_model
from wsiseg.model.vision import vision_libraries
from wsiseg.model.weights import resolve_weights

from .synthetic import DiscDataset

TINY_VIT = dict(encoder="vit_tiny_patch16_224", embed_dim=32, depth=2, num_heads=2, layers=2, decoder_width=16)


def tiny_smp(**changes) -> SmpNetwork:
    kwargs = dict(arch="Unet", encoder="resnet18", encoder_depth=3, decoder_width=4) | changes
    return SmpNetwork(**kwargs)


@pytest.mark.parametrize("arch", ["Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus"])
def test_every_architecture_gives_logits_at_the_input_size(arch: str) -> None:
    deep = arch in ("FPN", "DeepLabV3Plus")
    net = tiny_smp(arch=arch, encoder="tu-resnet10t", encoder_depth=5 if deep else 3, decoder_width=32 if deep else 4)
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 1, 64, 64)
    assert net.input_mean == (0.485, 0.456, 0.406)  # the encoder's pretrained normalisation (timm: ImageNet)


def test_input_sizes_the_networks_cannot_take_are_named() -> None:
    assert tiny_smp().input_multiple == 8
    with pytest.raises(ValueError, match="divisible by 8, got 60x60"):
        tiny_smp().check_input_size(60, 60)
    vit = ViTSegmenter(**TINY_VIT)
    assert vit.input_multiple == 16 and vit(torch.rand(1, 3, 48, 48)).shape == (1, 1, 48, 48)
    with pytest.raises(ValueError, match="multiples of 16, got 56x56"):
        vit.check_input_size(56, 56)
    patch14 = ViTSegmenter(**(TINY_VIT | {"encoder": "vit_small_patch14_dinov2"}))
    assert patch14.input_multiple == 14 and patch14(torch.rand(1, 3, 56, 56)).shape == (1, 1, 56, 56)


@pytest.mark.parametrize(
    ("network", "kwargs", "message"),
    [
        ("SmpNetwork", {"arch": "Linknet"}, "arch 'Linknet' is not one of"),
        ("SmpNetwork", {"encoder": "os.system"}, "neither one of segmentation_models_pytorch's encoders"),
        ("SmpNetwork", {"encoder": "tu-not_a_model"}, "neither one of"),
        ("SmpNetwork", {"weights": "/etc/passwd"}, "takes no argument 'weights'"),
        ("SmpNetwork", {"encoder_depth": 9}, "encoder_depth must be 3, 4 or 5"),
        ("SmpNetwork", {"aux_params": "x"}, "takes no argument 'aux_params'"),
        ("ViTSegmenter", {"encoder": "resnet50"}, "not one of timm's Vision Transformers"),
        ("ViTSegmenter", {"mlp": "timm.layers.Mlp"}, "mlp must be one of"),
        ("ViTSegmenter", {"act": "silu"}, "takes no argument 'act'"),
        ("ViTSegmenter", {"act_layer": "os.system"}, "takes no argument 'act_layer'"),
        ("ViTSegmenter", {"depth": [1, 2]}, "not a plain value"),
    ],
)
def test_a_crafted_record_naming_anything_outside_the_allow_lists_is_refused(
    network: str, kwargs: dict, message: str
) -> None:
    record = ModelSpec(network, kwargs, input_mpp=2.0, tile_size=64).to_dict()
    with pytest.raises(CheckpointError, match=message):
        ModelSpec.from_dict(record, "crafted.ckpt")


def fit_and_save(module: SegmentationModule, tmp_path: Path, tile: int) -> Path:
    loader = torch.utils.data.DataLoader(DiscDataset(8, size=tile), batch_size=4)
    trainer = pl.Trainer(
        max_steps=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path, callbacks=[ConfigInCheckpoint({"seed": 0}, input_mpp=2.0, tile_size=tile)],
    )  # fmt: skip
    trainer.fit(module, loader)
    path = tmp_path / "net.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize("family", ["smp", "vit"])
def test_a_trained_network_is_rebuilt_from_its_record_alone(tmp_path: Path, family: str) -> None:
    net = tiny_smp(encoder="tu-resnet10t", dropout=0.1) if family == "smp" else ViTSegmenter(**TINY_VIT)
    module = SegmentationModule(net, optimizer=functools.partial(torch.optim.Adam, lr=1e-3))
    path = fit_and_save(module, tmp_path, 32)
    rebuilt, spec = load_model(path)
    assert spec.network == type(net).__name__ and spec.network_kwargs == net.init_kwargs
    assert "weights" not in spec.network_kwargs
    assert spec.mean == net.input_mean and spec.std == net.input_std  # the encoder's normalisation, recorded
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(rebuilt.predict_step(x), module.eval().predict_step(x))


def test_weights_come_from_a_local_file_and_a_missing_one_is_named(tmp_path: Path) -> None:
    timm, _ = vision_libraries()
    source = timm.create_model("resnet10t", num_classes=10)  # a classifier: its head is ignored
    torch.save(source.state_dict(), tmp_path / "resnet10t.pth")
    net = tiny_smp(encoder="tu-resnet10t", weights=str(tmp_path / "resnet10t.pth"))
    torch.testing.assert_close(net.model.encoder.model.conv1[0].weight, source.conv1[0].weight)
    torch.save({"conv1.weight": source.conv1[0].weight}, tmp_path / "partial.pth")
    with pytest.raises(FileNotFoundError, match="encoder weights not found: .*nowhere.pth"):
        tiny_smp(weights=str(tmp_path / "nowhere.pth"))
    with pytest.raises(ValueError, match="does not fit the encoder .* missing"):  # smp's own encoders
        tiny_smp(weights=str(tmp_path / "partial.pth"))


def fake_hub_cache(cache: Path, repo: str, files: dict[str, dict[str, torch.Tensor]]) -> None:
    from safetensors.torch import save_file

    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for name, state in files.items():
        save_file(state, str(snapshot / name))


def test_a_vit_reads_its_weights_from_the_hugging_face_cache_only(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # a download attempt would fail the test
    donor = ViTSegmenter(**TINY_VIT)
    fake_hub_cache(tmp_path / "hub", "lab/tiny-vit", {"model.safetensors": donor.encoder.state_dict()})
    assert resolve_weights("hf-hub:lab/tiny-vit").name == "model.safetensors"
    net = ViTSegmenter(**TINY_VIT, weights="hf-hub:lab/tiny-vit")
    for (key, mine), theirs in zip(net.encoder.state_dict().items(), donor.encoder.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), key
    with pytest.raises(FileNotFoundError, match="huggingface-cli download MahmoodLab/uni"):
        ViTSegmenter(**TINY_VIT, weights="hf-hub:MahmoodLab/uni")


def test_backbone_finetuning_freezes_the_encoder_then_trains_it_at_its_own_rate(tmp_path: Path) -> None:
    net = tiny_smp(encoder="tu-resnet10t")
    module = SegmentationModule(net, optimizer=functools.partial(torch.optim.SGD, lr=0.1))
    # the convolutions (Lightning keeps batch norm trainable while the rest of the encoder is frozen)
    before = {k: v.clone() for k, v in net.backbone.state_dict().items() if v.ndim == 4}
    seen: dict[int, dict] = {}

    class Watch(pl.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            encoder = pl_module.backbone.state_dict()
            seen[trainer.current_epoch] = {
                "changed": any(not torch.equal(encoder[k], v) for k, v in before.items()),
                "rates": [g["lr"] for g in trainer.optimizers[0].param_groups],
            }

    loader = torch.utils.data.DataLoader(DiscDataset(8, size=32), batch_size=4)
    finetune = BackboneFinetuning(unfreeze_backbone_at_epoch=1, backbone_initial_ratio_lr=0.1)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[finetune, Watch()],
    )  # fmt: skip
    trainer.fit(module, loader)
    assert seen[0] == {"changed": False, "rates": [0.1]}  # frozen: the decoder alone is optimised
    assert seen[1]["changed"] and seen[1]["rates"] == pytest.approx([0.1, 0.01])  # then its own group at 0.1x
    unet = SegmentationModule(UNet(base_width=4, depth=2))
    assert not hasattr(unet, "backbone")  # wsiseg's U-Net has no pretrained encoder: the callback refuses it
    with pytest.raises(MisconfigurationException, match="should have a nn.Module `backbone`"):
        BackboneFinetuning().on_fit_start(trainer, unet)
