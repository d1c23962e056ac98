"""Predicting with an exported model: a TorchScript or ONNX file and the JSON record beside it.

``python -m wsiseg.export`` writes ``<stem>.torchscript.pt`` and ``<stem>.onnx``, each the whole probability
model (:class:`~wsiseg.model.probability.ProbabilityModel`: uint8 RGB tiles (B, 3, T, T) in, probabilities
(B, 1, T, T) out), and ``<stem>.json``, the record of what the model reads (resolution, tile size, ...). A model
trained elsewhere predicts like a wsiseg checkpoint when it is shared the same way: a file of either format
with that contract and a record written by hand (see :func:`spec_from_record` for its keys).

:func:`load_exported` gives a member for :class:`~wsiseg.inference.TilePredictor` (so test-time augmentation
and ensembles, mixed with checkpoints too, work as for checkpoints) and the :class:`~wsiseg.model.ModelSpec`
read from the record. Nothing read is instantiated as Python: ``torch.jit.load`` compiles the file's
TorchScript (a restricted language of registered tensor operators; no pickled Python objects, no imports) and
an ONNX file is data, a graph of standard operators that onnxruntime evaluates. The record is plain JSON
values checked as strictly as a checkpoint's record; its spec names no wsiseg network (``exported:<format>``,
not one of :data:`~wsiseg.model.NETWORKS`), so nothing but the exported file is ever built from it. Either
format can still compute anything a network can: use models from people you trust.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsiseg.errors import CheckpointError
from wsiseg.inference.outputs import file_digest
from wsiseg.model.spec import SPEC_FORMAT, ModelSpec

#: The format number of the JSON record.
EXPORT_FORMAT = 1
#: What an exported model reads and returns (the record states it; a hand-written record must too).
INPUT = "uint8 RGB (B,3,T,T)"
OUTPUT = "probabilities (B,1,T,T)"
#: File name endings of the exported formats (``python -m wsiseg.export`` writes ``.torchscript.pt``).
SUFFIXES = {".pt": "torchscript", ".onnx": "onnx"}
#: Probabilities are clamped to [eps, 1 - eps] before the logit, so ``sigmoid`` returns them within 1e-6.
LOGIT_EPS = 1e-7
#: The record's keys: those of the model record, then the export's own (informative, type-checked only).
_SPEC_KEYS = ("input_mpp", "tile_size", "mean", "std", "threshold", "split", "tissue")
_INFO_TYPES: dict[str, type] = {
    "files": dict, "source": dict, "wsiseg_version": str, "onnx_opset": int, "onnx_exporter": str
}  # fmt: skip
_RECORD_KEYS = {"format", "input", "output", "channels", *_SPEC_KEYS, *_INFO_TYPES}


def exported_format(path: str | Path) -> str | None:
    """``torchscript`` (``*.pt``), ``onnx`` (``*.onnx``), or ``None`` for anything else (a checkpoint)."""
    return SUFFIXES.get(Path(path).suffix.lower())


def record_path(path: str | Path) -> Path:
    """The record beside an exported file: ``x.torchscript.pt``, ``x.pt`` and ``x.onnx`` -> ``x.json``."""
    path = Path(path)
    name = path.name
    for ending in (".torchscript.pt", ".pt", ".onnx"):
        if name.lower().endswith(ending):
            return path.with_name(name[: -len(ending)] + ".json")
    return path.with_suffix(".json")


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file's bytes (all 64 hex digits: the record's; heatmaps are keyed by the first 16)."""
    return file_digest(Path(path), digits=64)


def spec_from_record(record: Any, path: str | Path) -> ModelSpec:
    """The checked :class:`~wsiseg.model.ModelSpec` of an exported file's record (``path``: the exported file).

    Keys: ``format`` (1), ``input`` and ``output`` (exactly :data:`INPUT`, :data:`OUTPUT`), ``channels`` (3);
    ``input_mpp`` and ``tile_size`` (required), ``mean``, ``std``, ``threshold``, ``split``, ``tissue``, checked
    as in a checkpoint's model record; informative: ``files`` (format -> ``{"name", "sha256"}``: when the file's
    format is listed, its bytes must have that digest), ``source``, ``wsiseg_version``, ``onnx_opset``,
    ``onnx_exporter``. Any other key is refused.

    Raises:
        CheckpointError: A key or value outside the above, or the file is not the one the record lists.
    """
    if not isinstance(record, Mapping):
        raise CheckpointError(path, f"its record {record_path(path).name} is a {type(record).__name__}, not a mapping")
    unknown = sorted(str(k) for k in record if k not in _RECORD_KEYS)
    contract = (record.get("format"), record.get("input"), record.get("output"), record.get("channels"))
    if unknown or contract != (EXPORT_FORMAT, INPUT, OUTPUT, 3):
        raise CheckpointError(path, f"refusing its record {record_path(path).name}: not an exported model's record "
                              f"(format {EXPORT_FORMAT}, input {INPUT!r}, output {OUTPUT!r}, channels 3); found "
                              f"{contract}, unknown keys {unknown}")  # fmt: skip
    for key, kind in _INFO_TYPES.items():
        if key in record and (not isinstance(record[key], kind) or isinstance(record[key], bool)):
            raise CheckpointError(path, f"refusing its record: {key} = {record[key]!r} is not a {kind.__name__}")
    _check_file(record.get("files", {}), path)
    # the model record's checks, on a stand-in network (always registered), which is then replaced: the record
    # itself can name no network, so nothing from it is ever built (ModelSpec.build fails on the name)
    values = {key: record[key] for key in _SPEC_KEYS if key in record}
    checked = ModelSpec.from_dict({"format": SPEC_FORMAT, "network": "UNet", "network_kwargs": {}, **values}, path)
    return dataclasses.replace(checked, network=f"exported:{exported_format(path)}", network_kwargs={})


def _check_file(files: Mapping[str, Any], path: str | Path) -> None:
    """When the record lists the file's format, the file must be the one it was written for."""
    entry = files.get(str(exported_format(path)))
    if entry is None:
        return
    wanted = entry.get("sha256") if isinstance(entry, Mapping) else None
    if not isinstance(wanted, str):
        raise CheckpointError(path, f"refusing its record: files.{exported_format(path)} = {entry!r} has no sha256")
    if sha256_of(path) != wanted:
        raise CheckpointError(path, f"its record {record_path(path).name} was written for another file (sha256 "
                              f"{wanted[:16]}...): export again, or pair the file with its own record")  # fmt: skip


def read_record(path: str | Path) -> ModelSpec:
    """The checked model record of an exported file, from ``<stem>.json`` beside it.

    Raises:
        CheckpointError: No record, not JSON, or refused by :func:`spec_from_record`.
    """
    source = record_path(path)
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CheckpointError(path, f"no record {source.name} beside it: an exported model needs its resolution "
                              "and tile size (python -m wsiseg.export writes both)") from err  # fmt: skip
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(path, f"its record {source.name} is not readable JSON ({err})") from err
    return spec_from_record(record, path)


class OnnxProbabilities(nn.Module):
    """An ONNX probability model run by onnxruntime, as a module: uint8 (B, 3, T, T) -> probabilities (B, 1, T, T).

    On the CUDA provider when the batch is on a CUDA device and onnxruntime has it, else on the CPU. The session
    is opened per device kind on first use and not pickled (a copy opens its own).

    Args:
        path: The ``.onnx`` file: one uint8 input, one float output.

    Raises:
        CheckpointError: onnxruntime cannot open the file, or its inputs and outputs are not those.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.register_buffer("anchor", torch.zeros(0), persistent=False)  # follows .to(): where results go
        self._sessions: dict[str, Any] = {}
        session = self.session("cpu")
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0].type != "tensor(uint8)":
            found = [(i.name, i.type) for i in inputs], [(o.name, o.type) for o in outputs]
            raise CheckpointError(path, f"not an exported probability model: it must take one {INPUT} input and "
                                  f"return one output; it has inputs and outputs {found}")  # fmt: skip
        self.input_name = inputs[0].name

    def session(self, device: str) -> Any:
        """The onnxruntime session for ``device`` (``cpu`` or ``cuda``), opened on first use."""
        if device not in self._sessions:
            import onnxruntime as ort  # only exported ONNX models need it

            providers = ["CPUExecutionProvider"]
            if device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only
            try:
                self._sessions[device] = ort.InferenceSession(str(self.path), options, providers=providers)
            except Exception as err:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
                raise CheckpointError(self.path, f"onnxruntime cannot open it ({type(err).__name__}: {err})") from err
        return self._sessions[device]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, T, T) float32 of uint8 tiles (B, 3, T, T), on the tiles' device."""
        session = self.session("cuda" if image.device.type == "cuda" else "cpu")
        (probs,) = session.run(None, {self.input_name: image.detach().cpu().contiguous().numpy()})
        return torch.from_numpy(probs).to(device=image.device, dtype=torch.float32)  # (B, 1, T, T)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sessions": {}}


def open_exported(path: str | Path) -> nn.Module:
    """The exported probability model of a file, on the CPU: uint8 (B, 3, T, T) -> probabilities (B, 1, T, T).

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: Not a ``.pt`` / ``.onnx`` file, or not a TorchScript / ONNX model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exported model not found: {path}")
    kind = exported_format(path)
    if kind == "onnx":
        return OnnxProbabilities(path)
    if kind != "torchscript":
        raise CheckpointError(path, f"not an exported model: its name ends in none of {sorted(SUFFIXES)}")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError, OSError) as err:
        raise CheckpointError(path, f"not a readable TorchScript file ({type(err).__name__}: {err})") from err


class ExportedMember(nn.Module):
    """An exported probability model as a :class:`~wsiseg.inference.TilePredictor` member: [0, 1] images -> logits.

    The images go back to the bytes they were made of (``round(255 x)``: exact for uint8 tiles, and for the
    test-time views of them), the exported model gives probabilities, and their logits (clamped at
    :data:`LOGIT_EPS`) are returned, so ``sigmoid`` gives the exported model's probabilities within 1e-6.

    Args:
        model: uint8 (B, 3, T, T) -> probabilities (B, 1, T, T) (see :func:`open_exported`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, T, T) of [0, 1] float images (B, 3, T, T)."""
        pixels = image.mul(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)  # (B, 3, T, T)
        return torch.logit(self.model(pixels).float(), eps=LOGIT_EPS)  # (B, 1, T, T)


def load_exported(path: str | Path) -> tuple[ExportedMember, ModelSpec]:
    """An exported model (``.pt`` TorchScript or ``.onnx``) and its record, for prediction, in eval mode.

    The model is tried on one zero batch of the record's tile size: it must return (1, 1, T, T) probabilities.

    Raises:
        FileNotFoundError: No such file.
        CheckpointError: No usable record beside it (:func:`read_record`), not a TorchScript / ONNX model, or
            it does not run on the record's tiles.
    """
    model = open_exported(path)
    spec = read_record(path)
    _check_runs(model, spec.tile_size, path)
    return ExportedMember(model).eval(), spec


def _check_runs(model: nn.Module, tile: int, path: str | Path) -> None:
    """Run one zero batch of ``tile`` px tiles: probabilities of the tiles' size, or a :class:`CheckpointError`."""
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, tile, tile, dtype=torch.uint8))
    except Exception as err:  # whatever the exported graph raises (shape errors, onnxruntime's types)
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise CheckpointError(path, f"it does not run on the {tile} px tiles its record {record_path(path).name} "
                              f"names ({type(err).__name__}: {reason})") from err  # fmt: skip
    ok = isinstance(out, torch.Tensor) and out.is_floating_point() and tuple(out.shape) == (1, 1, tile, tile)
    if not ok or not bool(((out >= 0) & (out <= 1)).all()):
        what = f"{tuple(out.shape)} {out.dtype}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckpointError(path, f"on (1, 3, {tile}, {tile}) uint8 tiles (its record's size) it returns {what}, "
                              f"not {OUTPUT} in [0, 1]")  # fmt: skip
