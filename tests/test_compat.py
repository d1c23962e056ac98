"""torchvision (for timm and smp) imports beside torch's CPU build, in a fresh interpreter, in either order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wsiseg import compat

CHECK = (
    "import sys, torch, torchvision, timm, segmentation_models_pytorch, pytorch_lightning; "
    "from torchvision.ops.misc import FrozenBatchNorm2d; "
    "ops = torchvision.extension._has_ops(); "
    "err = None\n"
    "try:\n    torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)\n"
    "except RuntimeError as e:\n    err = str(e)\n"
    "print(ops, err is None or 'Couldn' in err)"
)


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": ":".join(p for p in sys.path if p)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


@pytest.mark.slow  # ~5 s: a fresh interpreter imports torch, torchvision, timm, smp and Lightning (the fast suite
# imports them through the hook in-process: tests/model/test_encoders.py)
def test_the_hook_lets_torchvision_and_its_dependants_import() -> None:
    # -S: no site-packages .pth files, so the start-up file `make setup` writes cannot help; the hook alone does
    has_ops, refused_cleanly = run("import wsiseg.compat as c; c.install()\n" + CHECK).split()
    # with a matching torchvision (a CUDA machine) its operators run; without, they are refused with its message
    assert refused_cleanly == "True", has_ops


def test_the_startup_file_installs_the_hook(tmp_path) -> None:
    path = compat.write_startup_file(tmp_path)
    assert path.name == compat.PTH_NAME and path.read_text() == compat.PTH_LINE
    code = f"import site; site.addsitedir({str(tmp_path)!r}); import sys; "
    code += "print(any(type(f).__name__ == '_TorchvisionFinder' for f in sys.meta_path))"
    assert run(code) == "True"


def test_the_hook_leaves_other_imports_alone() -> None:
    finder = compat._TorchvisionFinder()
    assert finder.find_spec("json") is None and finder.find_spec("torchvision.ops") is None
