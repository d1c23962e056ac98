"""Exported models (TorchScript, ONNX) as prediction members: the checkpoint's probabilities, records checked."""

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from tests.export.tiny import TILE, random_tiles, tiny_checkpoint_file
from wsiseg.errors import CheckpointError
from wsiseg.export import ExportOptions, export_checkpoint
from wsiseg.inference import TilePredictor, file_digest, find_slides
from wsiseg.inference.exported import ExportedMember, load_exported, record_path
from wsiseg.model import load_model
from wsiseg.tasks.predict import load_members, run

FILES = {"torchscript": "tiny.torchscript.pt", "onnx": "tiny.onnx"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    checkpoint = tiny_checkpoint_file(folder / "tiny.ckpt")
    export_checkpoint(checkpoint)
    return checkpoint, folder


def probabilities(members, tiles, tta="none"):
    with torch.no_grad():
        return TilePredictor(members, tta).predict_step({"image": tiles}).numpy()


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("tta", ["none", "flips"])
def test_an_exported_member_predicts_as_the_checkpoint(exported, fmt, tta):
    checkpoint, folder = exported
    member, spec = load_exported(folder / FILES[fmt])
    reference, reference_spec = load_model(checkpoint)
    tiles = random_tiles(3, seed=5)
    expected = probabilities([reference], tiles, tta)
    np.testing.assert_allclose(probabilities([member], tiles, tta), expected, rtol=0, atol=1e-5)
    assert (spec.input_mpp, spec.tile_size, spec.threshold) == (reference_spec.input_mpp, TILE, 0.5)
    assert (spec.split, spec.tissue, spec.mean) == (reference_spec.split, reference_spec.tissue, reference_spec.mean)
    assert spec.network == f"exported:{fmt}" and spec.network_kwargs == {}
    with pytest.raises(KeyError):  # nothing is built from an exported model's record
        spec.build()


def test_a_mixed_ensemble_of_checkpoint_torchscript_and_onnx_is_the_checkpoint(exported):
    checkpoint, folder = exported
    members, specs = load_members([checkpoint, folder / FILES["torchscript"], folder / FILES["onnx"]], None)
    assert len({(s.input_mpp, s.tile_size) for s in specs}) == 1
    tiles = random_tiles(2, seed=6)
    single = probabilities(members[:1], tiles)
    np.testing.assert_allclose(probabilities(members, tiles), single, rtol=0, atol=1e-5)


class Fixed(torch.nn.Module):
    def __init__(self, probs):
        super().__init__()
        self.probs = probs

    def forward(self, pixels):
        assert pixels.dtype == torch.uint8
        return self.probs.expand(len(pixels), -1, -1, -1)


def test_logits_of_the_exported_probabilities_round_trip():
    probs = torch.tensor([0.0, 1e-9, 1e-4, 0.3, 0.5, 0.7, 1 - 1e-4, 1 - 1e-9, 1.0]).view(1, 1, 3, 3)
    logits = ExportedMember(Fixed(probs))(random_tiles(2, tile=3).float() / 255)
    assert torch.isfinite(logits).all()
    assert (torch.sigmoid(logits) - probs).abs().max() <= 1e-6


def test_images_go_back_to_their_bytes_exactly():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, pixels):
            seen.append(pixels)
            return torch.full_like(pixels[:, :1], 0.5, dtype=torch.float32)

    tiles = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    ExportedMember(Spy())(tiles.float() / 255)
    assert torch.equal(seen[0], tiles)


def copy_with_record(folder, name, tmp_path, change=None, text=None):
    """The exported file ``name`` in ``tmp_path`` with its record changed (``change``) or replaced (``text``)."""
    shutil.copy(folder / name, tmp_path / name)
    record = json.loads(record_path(folder / name).read_text())
    if change is not None:
        record = change(record)
    record_path(tmp_path / name).write_text(text if text is not None else json.dumps(record))
    return tmp_path / name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r | {"network": "shutil.rmtree"}, "not an exported model's record"),
        (lambda r: r | {"network_kwargs": {"_target_": "os.system"}}, "unknown keys"),
        (lambda r: r | {"input": "float32 RGB (B,3,T,T)"}, "not an exported model's record"),
        (lambda r: r | {"format": 2}, "not an exported model's record"),
        (lambda r: {k: v for k, v in r.items() if k != "input_mpp"}, "input_mpp = None is not a number"),
        (lambda r: r | {"tile_size": "32"}, "tile_size"),
        (lambda r: r | {"tissue": {"_target_": "os.system"}}, "tissue has no setting '_target_'"),
        (lambda r: r | {"split": {"p1": "everything"}}, "split entry"),
        (lambda r: r | {"source": "elsewhere"}, "source = 'elsewhere' is not a"),
        (lambda r: r | {"files": {"onnx": {"sha256": "0" * 64}, "torchscript": {"sha256": "0" * 64}}}, "another file"),
        (lambda r: [r], "is a list, not a mapping"),
    ],
)
def test_a_crafted_record_is_refused(exported, tmp_path, change, message):
    _, folder = exported
    for name in FILES.values():
        with pytest.raises(CheckpointError, match=message) as err:
            load_exported(copy_with_record(folder, name, tmp_path, change))
        assert err.value.path == tmp_path / name


def test_a_missing_or_garbled_record_is_refused(exported, tmp_path):
    _, folder = exported
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_exported(copy_with_record(folder, FILES["onnx"], tmp_path, text='{"format": 1, "input'))
    record_path(tmp_path / FILES["onnx"]).unlink()
    with pytest.raises(CheckpointError, match=r"no record tiny\.json beside it"):
        load_exported(tmp_path / FILES["onnx"])
    with pytest.raises(FileNotFoundError, match="exported model not found"):
        load_exported(tmp_path / "absent.onnx")


@pytest.mark.parametrize(("fmt", "tile"), [("onnx", 64), ("torchscript", 30)])
def test_a_record_whose_tile_size_the_file_does_not_run_is_refused(exported, tmp_path, fmt, tile):
    """ONNX fixes the traced tile size; the U-Net in TorchScript runs any multiple of 4 (depth 2), not 30."""
    _, folder = exported
    path = copy_with_record(folder, FILES[fmt], tmp_path, lambda r: r | {"tile_size": tile})
    with pytest.raises(CheckpointError, match=f"does not run on the {tile} px tiles its record tiny.json names"):
        load_exported(path)


class Payload:
    def __reduce__(self):
        import os

        return os.system, ("touch pwned",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_files_that_are_not_exported_models_are_refused_without_running_them(exported, tmp_path, monkeypatch):
    checkpoint, folder = exported
    monkeypatch.chdir(tmp_path)
    evil = copy_with_record(folder, FILES["torchscript"], tmp_path)
    evil.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="not a readable TorchScript file"):
        load_exported(evil)
    shutil.copy(checkpoint, evil)  # a checkpoint named .pt is not TorchScript either
    with pytest.raises(CheckpointError, match="not a readable TorchScript file"):
        load_exported(evil)
    garbage = copy_with_record(folder, FILES["onnx"], tmp_path)
    garbage.write_bytes(b"\x08\x07garbage")
    with pytest.raises(CheckpointError, match="onnxruntime cannot open it"):
        load_exported(garbage)
    assert not (tmp_path / "pwned").exists()


@pytest.fixture(scope="module")
def two_slides(few_slides, tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_slides")
    for _, path in sorted(find_slides(few_slides), key=lambda s: s[1].stat().st_size)[:2]:  # the least tissue
        shutil.copy(path, folder / path.name)
    return folder


def predict(checkpoint, slides, out):
    overrides = [
        f"ckpt_path={checkpoint}", f"slides={slides}", f"out_dir={out}", f"paths.output_dir={out}-run", "num_workers=0",
        "plan_workers=1", "inference.heatmap_mpp=7.776", "write_png=false", "write_tiff=false",
    ]  # fmt: skip
    summary = run(compose_config("predict", overrides))
    assert not summary.failed and len(summary.done) == 2
    return {name: np.load(out / f"{name}.heatmap.npy") for name in summary.done}


@pytest.mark.slow  # two prediction runs (~8 s); the members' probabilities are checked above, in the fast suite
def test_predict_py_with_an_exported_onnx_file_makes_the_checkpoints_heatmaps(tiny_checkpoint, two_slides, tmp_path):
    """The same heatmaps up to their float16 storage: probabilities ~1e-7 apart round to the neighbouring float16
    on a few pixels (one step: 2.4e-4 at 0.25-0.5), so all but those are equal and none is further apart."""
    onnx = export_checkpoint(tiny_checkpoint, tmp_path / "model", ExportOptions(formats=["onnx"])).files["onnx"]
    expected = predict(tiny_checkpoint, two_slides, tmp_path / "ckpt")
    found = predict(onnx, two_slides, tmp_path / "onnx")
    assert found.keys() == expected.keys()
    for name, heatmap in expected.items():
        assert heatmap.dtype == found[name].dtype == np.float16 and heatmap.max() > 0.01
        difference = np.abs(found[name].astype(np.float32) - heatmap.astype(np.float32))
        one_step = np.spacing(np.maximum(found[name], heatmap)).astype(np.float32)
        assert (difference <= one_step).all() and (difference <= 1e-4).mean() > 0.999, name
        meta = json.loads((tmp_path / "onnx" / f"{name}.json").read_text())
        assert meta["checkpoint"] == str(onnx) and meta["checkpoint_digest"] == file_digest(onnx)  # the file's bytes
