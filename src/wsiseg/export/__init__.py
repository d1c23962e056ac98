"""Export a checkpoint's whole probability model as TorchScript and ONNX: ``python -m wsiseg.export <ckpt>``.

Both files take uint8 RGB tiles (B, 3, T, T) and return tumour probabilities (B, 1, T, T), normalisation and
sigmoid inside; ``<stem>.json`` beside them records the resolution, tile size and threshold. ``predict.py``
runs either file like a checkpoint (:mod:`wsiseg.inference.exported`), and so can anyone with torch or
onnxruntime alone. This stage imports :mod:`wsiseg.model` and :mod:`wsiseg.inference` only.
"""

from __future__ import annotations

from wsiseg.export.writer import ExportError, ExportOptions, ExportResult, export_checkpoint

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_checkpoint"]
