"""Write a checkpoint's whole probability model as TorchScript and ONNX, with its record, and verify both files.

Both files hold :class:`~wsiseg.model.probability.ProbabilityModel`: uint8 RGB tiles (B, 3, T, T) in, tumour
probabilities (B, 1, T, T) out, the normalisation and sigmoid inside. ``<stem>.json`` is the record prediction
reads (:func:`~wsiseg.inference.exported.spec_from_record`). After writing, each file is loaded back the way
``predict.py`` loads it and run on random tiles, at batch sizes other than the one it was traced with, next to
the checkpoint: a difference above the tolerance removes what was written and raises :class:`ExportError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsiseg import __version__
from wsiseg.atomic import atomic_path, write_text_atomic
from wsiseg.inference.exported import (
    EXPORT_FORMAT,
    INPUT,
    OUTPUT,
    load_exported,
    record_path,
    sha256_of,
)
from wsiseg.model.checkpoint import load_model
from wsiseg.model.probability import ProbabilityModel
from wsiseg.model.spec import ModelSpec, tissue_record

log = logging.getLogger(__name__)

FORMATS = ("torchscript", "onnx")
#: File name endings of what :func:`export_checkpoint` writes, per format.
ENDINGS = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
OPSET = 18
TOLERANCE = 1e-4


class ExportError(Exception):
    """An exported file does not give the checkpoint's probabilities (what was written has been removed)."""


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    Attributes:
        formats: ``torchscript`` and / or ``onnx``.
        batch: Batch size of the example the model is traced with (>= 2: ``torch.export`` would fix a batch of
            1); the files are verified on other batch sizes.
        opset: ONNX opset (>= 17).
        tolerance: Largest absolute difference of probabilities from the checkpoint's that passes.
        seed: Seed of the random example and verification tiles.
    """

    formats: Sequence[str] = FORMATS
    batch: int = 2
    opset: int = OPSET
    tolerance: float = TOLERANCE
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown or not self.formats:
            raise ValueError(f"formats must be some of {FORMATS}, got {list(self.formats)}")
        if self.batch < 2 or self.opset < 17 or not self.tolerance > 0:
            raise ValueError(f"need batch >= 2, opset >= 17, tolerance > 0; got {self.batch}, {self.opset}, "
                             f"{self.tolerance}")  # fmt: skip


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote and measured.

    Attributes:
        files: Format -> the file written.
        record: The JSON record.
        differences: ``checkpoint vs <format>`` (and ``torchscript vs onnx``) -> largest absolute difference of
            probabilities over the verification batches.
        onnx_exporter: ``dynamo`` (``torch.export``) or ``torchscript`` (the fallback), when ONNX was written.
    """

    files: dict[str, Path]
    record: Path
    differences: dict[str, float] = field(default_factory=dict)
    onnx_exporter: str | None = None


def export_checkpoint(
    checkpoint: str | Path, out_dir: str | Path | None = None, options: ExportOptions | None = None
) -> ExportResult:
    """Export a ``train.py`` checkpoint's probability model to ``out_dir`` (default: beside it) and verify it.

    Writes ``<stem>.torchscript.pt``, ``<stem>.onnx`` (as ``options.formats`` asks) and ``<stem>.json``, where
    ``<stem>`` is the checkpoint's file name without ``.ckpt``.

    Raises:
        FileNotFoundError: No such checkpoint.
        CheckpointError: The checkpoint is refused (see :func:`~wsiseg.model.load_model`).
        ExportError: An exported file's probabilities differ from the checkpoint's by more than the tolerance, or
            it cannot be loaded back; the files written are removed.
    """
    options = options or ExportOptions()
    checkpoint = Path(checkpoint)
    module, spec = load_model(checkpoint, channels_last=False)  # from its record, never its code
    model = ProbabilityModel(module).eval()
    out = Path(out_dir) if out_dir is not None else checkpoint.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = checkpoint.name.removesuffix(".ckpt")
    files = {fmt: out / f"{stem}{ENDINGS[fmt]}" for fmt in FORMATS if fmt in options.formats}
    record = record_path(next(iter(files.values())))
    example = random_tiles(options.batch, spec.tile_size, options.seed)
    written: list[Path] = []
    try:
        exporter = None
        with _traceable(module):
            if "torchscript" in files:
                written.append(write_torchscript(model, example, files["torchscript"]))
            if "onnx" in files:
                exporter = write_onnx(model, example, files["onnx"], options.opset)
                written.append(files["onnx"])
        info = {"source": {"checkpoint": checkpoint.name, "sha256": sha256_of(checkpoint), "network": spec.network,
                           "network_kwargs": dict(spec.network_kwargs)}}  # fmt: skip
        if exporter is not None:
            info |= {"onnx_opset": options.opset, "onnx_exporter": exporter}
        write_text_atomic(record, json.dumps(export_record(spec, files, info), indent=2) + "\n")
        written.append(record)
        differences = verify(model, files, spec.tile_size, options)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    for fmt in set(FORMATS) - set(files):  # an earlier export's other file would be paired with this record
        stale = out / f"{stem}{ENDINGS[fmt]}"
        if stale.exists():
            stale.unlink()
            log.warning("removed %s: an earlier export, and %s now describes %s only", stale, record.name, *files)
    return ExportResult(files, record, differences, exporter)


def random_tiles(batch: int, tile: int, seed: int) -> torch.Tensor:
    """Random uint8 RGB tiles (B, 3, T, T)."""
    return torch.randint(
        0, 256, (batch, 3, tile, tile), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


@contextlib.contextmanager
def _traceable(module: nn.Module) -> Iterator[None]:
    """Let the tracers walk a Lightning module outside a trainer (its ``trainer`` property would raise).

    Lightning's own ``to_torchscript`` sets the same flag, class-wide; here it is set on this instance only.
    """
    module._jit_is_scripting = True
    try:
        yield
    finally:
        del module._jit_is_scripting


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """``torch.jit.trace`` of ``model`` on ``example``, saved to ``path`` (via a temporary file).

    Not ``torch.jit.freeze``-d: a frozen module holds its weights as constants of the graph, which ``.to(device)``
    does not move, so the file could then only run on the device it was loaded to.
    """
    with atomic_path(path) as part, torch.no_grad(), _quiet():  # TracerWarnings of shape checks run once,
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(part))  # torch.jit's deprecation
    log.info("wrote %s (TorchScript)", path)
    return path


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> str:
    """Export ``model`` to ONNX at ``path`` with a dynamic batch dimension; returns the exporter used.

    ``torch.onnx.export(dynamo=True)`` (``torch.export``, the supported exporter) first; the TorchScript-based
    exporter only if that fails (logged with the reason). Weights inside the file (no external data).
    """
    with atomic_path(path) as part:
        exporter = _export_onnx(model, example, part, opset)
    log.info("wrote %s (ONNX opset %d, %s exporter)", path, opset, exporter)
    return exporter


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> str:
    """Write the ONNX file with the dynamo exporter, or the TorchScript-based one if that fails; which one."""
    names = {"input_names": ["image"], "output_names": ["probability"], "opset_version": opset}
    try:
        batch = torch.export.Dim("batch", min=1)
        with _quiet():
            torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes={"image": {0: batch}},
                              external_data=False, verbose=False, **names)  # fmt: skip
        exporter = "dynamo"
    except Exception as err:  # torch.export's many failure types: fall back to the older exporter
        log.warning("the dynamo ONNX exporter failed (%s: %s); using the TorchScript-based one",
                    type(err).__name__, str(err).splitlines()[0] if str(err) else "")  # fmt: skip
        with torch.no_grad(), _quiet():
            torch.onnx.export(model, (example,), str(path), dynamo=False, dynamic_axes={"image": {0: "batch"}},
                              **names)  # fmt: skip
        exporter = "torchscript"
    return exporter


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' warnings (deprecations, tracer notes) kept out of the log: :func:`verify` checks the result.

    ``torch.jit`` warns that it is deprecated in favour of ``torch.export`` (torch 2.13), but TorchScript is what
    ``torch.jit.load`` users (and C++ LibTorch) read.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def export_record(spec: ModelSpec, files: dict[str, Path], info: dict[str, Any]) -> dict[str, Any]:
    """The JSON record of exported files: what they read and return, the model record's values, ``info``."""
    record: dict[str, Any] = {
        "format": EXPORT_FORMAT, "input": INPUT, "output": OUTPUT, "channels": 3,
        "input_mpp": spec.input_mpp, "tile_size": spec.tile_size, "threshold": spec.threshold,
        "mean": list(spec.mean), "std": list(spec.std),
        "files": {fmt: {"name": path.name, "sha256": sha256_of(path)} for fmt, path in files.items()},
        "wsiseg_version": __version__,
    }  # fmt: skip
    if spec.split:
        record["split"] = dict(spec.split)
    if spec.tissue is not None:
        record["tissue"] = tissue_record(spec.tissue)
    return record | info


def verify(model: nn.Module, files: dict[str, Path], tile: int, options: ExportOptions) -> dict[str, float]:
    """Largest absolute differences of each file's probabilities from ``model``'s, on random tiles.

    Two batches, of 1 and ``options.batch + 1`` tiles (not the traced batch size). Every file is also loaded as
    ``predict.py`` loads it (:func:`~wsiseg.inference.exported.load_exported`: record and zero batch checked).

    Raises:
        ExportError: A file cannot be loaded back, or a difference exceeds ``options.tolerance``.
    """
    batches = [random_tiles(n, tile, options.seed + 1 + n) for n in (1, options.batch + 1)]
    with torch.no_grad():
        expected = [model(x) for x in batches]
        found: dict[str, list[torch.Tensor]] = {}
        for fmt, path in files.items():
            try:
                exported = load_exported(path)[0].model  # the file's own probabilities, not the member's logits
            except Exception as err:
                raise ExportError(f"{path}: written, but it cannot be loaded back for prediction: {err}") from err
            found[fmt] = [exported(x) for x in batches]
    pairs = {f"checkpoint vs {fmt}": (expected, outs) for fmt, outs in found.items()}
    if len(found) == 2:
        pairs["torchscript vs onnx"] = (found["torchscript"], found["onnx"])
    differences = {name: max(_difference(a, b) for a, b in zip(*outs, strict=True)) for name, outs in pairs.items()}
    log.info("verified, max |difference| of probabilities: %s (tolerance %g)",
             ", ".join(f"{name} {value:.3g}" for name, value in differences.items()), options.tolerance)  # fmt: skip
    bad = {name: value for name, value in differences.items() if not value <= options.tolerance}
    if bad:
        raise ExportError(f"the exported probabilities differ from the checkpoint's by more than {options.tolerance:g}:"
                          f" {bad}; nothing was kept")  # fmt: skip
    return differences


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference (``inf`` when the shapes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float((a.float() - b.float()).abs().max())
