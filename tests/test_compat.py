"""torchvision (for timm and smp) imports beside torch's CPU build: the hook, its start-up file, its command."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from wsiseg import compat, torchvision_hook

CHECK = (
    "import sys, torch, torchvision, timm, segmentation_models_pytorch, pytorch_lightning; "
    "from torchvision.ops.misc import FrozenBatchNorm2d; "
    "ops = torchvision.extension._has_ops(); "
    "err = None\n"
    "try:\n    torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)\n"
    "except RuntimeError as e:\n    err = str(e)\n"
    "print(ops, err is None or 'Couldn' in err)"
)


def run(*args: str) -> subprocess.CompletedProcess:
    # -S: no site-packages .pth files (the start-up file `make setup` writes is not read); the path is ours
    done = subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": ":".join(p for p in sys.path if p)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow  # ~5 s: a fresh interpreter imports torch, torchvision, timm, smp and Lightning (the fast suite
# imports them through the hook in-process: tests/model/test_encoders.py, and below through the command)
def test_the_hook_lets_torchvision_and_its_dependants_import() -> None:
    code = "import wsiseg.torchvision_hook as h; h.install()\n" + CHECK
    has_ops, refused_cleanly = run("-c", code).stdout.split()
    # with a matching torchvision (a CUDA machine) its operators run; without, they are refused with its message
    assert refused_cleanly == "True", has_ops


@pytest.mark.slow  # ~4 s; `make setup` runs the command on every fresh clone, CI's included
def test_the_command_writes_a_startup_file_that_installs_the_hook(tmp_path) -> None:
    done = run("-m", "wsiseg.compat", "--site-packages", str(tmp_path))  # what make setup runs
    assert "RuntimeWarning" not in done.stderr and "imports" in done.stderr  # torchvision imported through it
    path = tmp_path / compat.PTH_NAME
    assert path.read_text() == compat.PTH_LINE
    code = f"import site, sys; site.addsitedir({str(tmp_path)!r}); "
    code += "print(sum(type(f).__name__ == '_TorchvisionFinder' for f in sys.meta_path))"
    assert run("-c", code).stdout.strip() == "1"


def test_two_copies_of_the_hook_neither_recurse_nor_stack(monkeypatch) -> None:
    first = torchvision_hook._TorchvisionFinder()
    reloaded = importlib.reload(torchvision_hook)  # another class object of the same name (python -m, a reload)
    others = [f for f in sys.meta_path if type(f).__name__ != "_TorchvisionFinder"]
    monkeypatch.setattr(sys, "meta_path", [first, reloaded._TorchvisionFinder(), *others])
    spec = first.find_spec("torchvision")
    assert spec is not None and type(spec.loader).__name__ == "_TolerantLoader"
    reloaded.install()
    assert sum(type(f).__name__ == "_TorchvisionFinder" for f in sys.meta_path) == 2  # no third one
    assert first.find_spec("json") is None and first.find_spec("torchvision.ops") is None
