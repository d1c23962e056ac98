"""python -m wsiseg.export: TorchScript and ONNX files that give the checkpoint's probabilities, and their record."""

import json
import pickle

import numpy as np
import pytest
import torch

from wsiseg.errors import CheckpointError
from wsiseg.export import ExportError, ExportOptions, export_checkpoint
from wsiseg.export import writer as export_writer
from wsiseg.export.__main__ import main
from wsiseg.model import load_model

from .tiny import TILE, random_tiles, tiny_checkpoint_file, tiny_spec


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The CLI run once on a tiny checkpoint: its folder, exit status and printed lines."""
    folder = tmp_path_factory.mktemp("export")
    checkpoint = tiny_checkpoint_file(folder / "tiny.ckpt")
    status = main([str(checkpoint), "--out", str(folder / "out")])
    return checkpoint, folder / "out", status


def checkpoint_probabilities(checkpoint, tiles):
    module, _ = load_model(checkpoint)
    with torch.no_grad():
        return module.predict_step(tiles).numpy()


def test_the_cli_writes_both_files_and_the_record(exported):
    checkpoint, out, status = exported
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.onnx", "tiny.torchscript.pt"]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("batch", [1, 5])  # traced with 2
def test_both_files_give_the_checkpoints_probabilities(exported, batch):
    import onnxruntime as ort

    checkpoint, out, _ = exported
    tiles = random_tiles(batch, seed=7)
    expected = checkpoint_probabilities(checkpoint, tiles)
    assert expected.shape == (batch, 1, TILE, TILE) and expected.std() > 1e-3  # a model, not a constant
    scripted = torch.jit.load(str(out / "tiny.torchscript.pt"))  # as anyone with torch alone would
    with torch.no_grad():
        np.testing.assert_allclose(scripted(tiles).numpy(), expected, rtol=0, atol=1e-4)
    session = ort.InferenceSession(str(out / "tiny.onnx"), providers=["CPUExecutionProvider"])
    (found,) = session.run(None, {session.get_inputs()[0].name: tiles.numpy()})
    assert found.dtype == np.float32
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4)


def test_the_record_says_what_the_files_read_and_where_they_come_from(exported):
    from wsiseg.inference.exported import sha256_of

    checkpoint, out, _ = exported
    record = json.loads((out / "tiny.json").read_text())
    assert record["input"] == "uint8 RGB (B,3,T,T)" and record["output"] == "probabilities (B,1,T,T)"
    assert (record["format"], record["channels"], record["tile_size"], record["input_mpp"]) == (1, 3, TILE, 2.0)
    assert record["threshold"] == 0.5 and record["mean"] == [0.6, 0.5, 0.4] and record["std"] == [0.2, 0.25, 0.3]
    assert record["split"] == {"p1": "test"} and record["tissue"]["min_area_mm2"] == 0.05
    assert record["source"] == {"checkpoint": "tiny.ckpt", "sha256": sha256_of(checkpoint), "network": "UNet",
                                "network_kwargs": {"base_width": 4, "depth": 2}}  # fmt: skip
    assert record["files"]["onnx"] == {"name": "tiny.onnx", "sha256": sha256_of(out / "tiny.onnx")}
    assert record["onnx_exporter"] == "dynamo" and record["onnx_opset"] >= 17 and record["wsiseg_version"]


def test_the_differences_are_printed(tmp_path, capsys):
    checkpoint = tiny_checkpoint_file(tmp_path / "small.ckpt", seed=1)
    (tmp_path / "small.onnx").write_bytes(b"an earlier export's")  # not described by the new record: removed
    assert main([str(checkpoint), "--formats", "torchscript", "--batch", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"written: {tmp_path / 'small.torchscript.pt'} (torchscript)" in printed
    assert "max |difference| of probabilities, checkpoint vs torchscript: 0" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.ckpt", "small.json", "small.torchscript.pt"]


class Shifted(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, image):
        return self.inner(image) + 1e-3


def test_a_file_that_differs_is_refused_and_removed(tmp_path, monkeypatch, capsys):
    checkpoint = tiny_checkpoint_file(tmp_path / "t.ckpt")
    real = export_writer.load_exported

    def off_by_a_little(path):
        member, spec = real(path)
        member.model = Shifted(member.model)  # as a file whose arithmetic went astray would
        return member, spec

    monkeypatch.setattr(export_writer, "load_exported", off_by_a_little)
    with pytest.raises(ExportError, match="differ from the checkpoint's by more than 0.0001"):
        export_checkpoint(checkpoint, tmp_path / "out", ExportOptions(formats=["torchscript"]))
    assert list((tmp_path / "out").iterdir()) == []
    assert main([str(checkpoint), "--formats", "torchscript"]) == 1
    assert "checkpoint vs torchscript" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "t.ckpt"]


def test_the_torchscript_based_onnx_exporter_is_the_fallback(tmp_path, monkeypatch, caplog):
    checkpoint = tiny_checkpoint_file(tmp_path / "t.ckpt")

    def fails(*args, **kwargs):
        raise RuntimeError("no torch.export here")

    monkeypatch.setattr(torch.export, "Dim", fails)
    with caplog.at_level("WARNING", logger="wsiseg"):
        result = export_checkpoint(checkpoint, options=ExportOptions(formats=["onnx"]))
    assert result.onnx_exporter == "torchscript" and result.differences["checkpoint vs onnx"] <= 1e-4
    assert "dynamo ONNX exporter failed (RuntimeError: no torch.export here)" in caplog.text
    assert json.loads((tmp_path / "t.json").read_text())["onnx_exporter"] == "torchscript"


class Payload:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_a_refused_checkpoint_writes_nothing(tmp_path, capsys):
    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps({"state_dict": Payload()}))
    crafted = tiny_spec().to_dict() | {"network": "shutil.rmtree"}
    torch.save({"wsiseg_model": crafted, "state_dict": {}}, tmp_path / "crafted.ckpt")
    with pytest.raises(CheckpointError, match="evil.ckpt"):
        export_checkpoint(tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="not one of wsiseg's networks"):
        export_checkpoint(tmp_path / "crafted.ckpt")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        export_checkpoint(tmp_path / "missing.ckpt")
    for name in ("evil.ckpt", "crafted.ckpt", "missing.ckpt"):
        assert main([str(tmp_path / name)]) == 2
        assert name in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.ckpt", "evil.ckpt"]


def test_bad_options_and_help(tmp_path, capsys):
    checkpoint = tiny_checkpoint_file(tmp_path / "t.ckpt")
    assert main([str(checkpoint), "--batch", "1"]) == 2  # torch.export would fix a batch of 1
    assert main([str(checkpoint), "--opset", "16"]) == 2
    assert "batch >= 2, opset >= 17" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "uint8 RGB tiles" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ckpt"]
