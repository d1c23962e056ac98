"""``python -m wsiseg.export <ckpt> [--out DIR] [--formats torchscript onnx] [--batch N]``: see :mod:`wsiseg.export`.

Exit status 0 when every file was written and verified, 1 when a file differs from the checkpoint (nothing is
kept), 2 on a refused checkpoint or a bad argument.
"""

from __future__ import annotations

import argparse
import logging
import sys

from wsiseg.errors import WsisegError
from wsiseg.export.writer import FORMATS, OPSET, TOLERANCE, ExportError, ExportOptions, export_checkpoint

DESCRIPTION = """Export a train.py checkpoint's whole probability model (uint8 RGB tiles (B,3,T,T) in, tumour
probabilities (B,1,T,T) out; normalisation and sigmoid inside) as <stem>.torchscript.pt (torch.jit.load) and
<stem>.onnx (onnxruntime), with <stem>.json: the input resolution (um/px), tile size, threshold and the
checkpoint's digest. Both files are loaded back and compared with the checkpoint on random tiles (batch sizes
other than the traced one); a difference above --tolerance removes them. predict.py ckpt_path=<file> predicts
with either file as with the checkpoint (keep the .json beside it)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m wsiseg.export", description=DESCRIPTION)
    parser.add_argument("checkpoint", help="a checkpoint written by train.py (read as data: no code in it runs)")
    parser.add_argument("--out", help="folder to write to (default: the checkpoint's)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="what to write "
                        "(default: both)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=2, help="batch size of the example traced (>= 2; the files "
                        "take any batch size) (default: 2)")  # fmt: skip
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset, >= 17 (default: {OPSET})")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest absolute difference of "
                        f"probabilities from the checkpoint's that passes (default: {TOLERANCE:g})")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Export and verify; print the files and the measured differences. Returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("wsiseg").setLevel(logging.INFO)  # not the ONNX optimiser's notes
    try:
        options = ExportOptions(args.formats, args.batch, args.opset, args.tolerance)
        result = export_checkpoint(args.checkpoint, args.out, options)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError, WsisegError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for fmt, path in result.files.items():
        print(f"written: {path} ({fmt})")
    print(f"written: {result.record} (record)")
    for name, value in result.differences.items():
        print(f"max |difference| of probabilities, {name}: {value:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
