"""Let PyPI's torchvision (for timm and smp) import beside torch's CPU build: an import hook.

PyPI's torchvision wheels are built against the CUDA build of torch. Beside torch's CPU build (this project's
set-up default) their C++ operators cannot load, and torchvision's import then fails at an unguarded
``torch.library.register_fake("torchvision::nms")``: "operator torchvision::nms does not exist"
(pytorch/vision#9085). Every library that imports torchvision when it is installed fails with it, torchmetrics
and so PyTorch Lightning included. Where the CPU wheels of the PyTorch index can be installed
(``--index-url https://download.pytorch.org/whl/cpu``) the pair matches and none of this is needed.

:func:`install` puts an import hook in front of torchvision's: while torchvision's ``__init__`` runs,
``register_fake`` skips operators that do not exist; nothing else changes (with loadable operators the hook does
nothing). wsiseg uses none of those operators (non-maximum suppression, RoI align: detection models); timm and
segmentation_models_pytorch import torchvision for layers and transforms written in Python, and torchvision's
own ``_assert_has_ops`` still refuses to run a missing operator.

``import wsiseg`` installs the hook; ``python -m wsiseg.compat`` (:mod:`wsiseg.compat`) writes a ``.pth`` file
into the environment's site-packages so that it is installed at interpreter start-up, before anything imports
torchvision (``make setup`` does). Importing this module imports nothing heavy: torch is imported only when
torchvision is.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import logging
import sys
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def _operator_exists(qualname: str) -> bool:
    import torch

    namespace, _, name = qualname.partition("::")
    try:
        getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _tolerant(original: Any, skipped: list[str]) -> Any:
    """``torch.library.register_fake`` that returns the function unregistered for an operator that does not exist."""

    @functools.wraps(original)
    def register_fake(op: Any, func: Any = None, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(op, str) and not _operator_exists(op):
            skipped.append(op)
            return func if func is not None else (lambda fn: fn)
        return original(op, func, *args, **kwargs) if func is not None else original(op, *args, **kwargs)

    return register_fake


class _TolerantLoader(importlib.abc.Loader):
    """torchvision's own loader, run with the tolerant ``register_fake``."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_data, get_resource_reader, ...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import torch

        original, skipped = torch.library.register_fake, []
        torch.library.register_fake = _tolerant(original, skipped)
        try:
            self.loader.exec_module(module)
        finally:
            torch.library.register_fake = original
        if skipped:
            log.debug("torchvision %s beside torch %s: its C++ operators did not load; skipped the fake kernels of %s",
                      getattr(module, "__version__", "?"), torch.__version__, ", ".join(skipped))  # fmt: skip


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    """Finds torchvision as the other finders do, and hands it the tolerant loader."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "torchvision":
            return None
        for finder in sys.meta_path:
            if _is_hook(finder) or not hasattr(finder, "find_spec"):  # this hook, or a copy from a reloaded module
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _TolerantLoader(spec.loader)
                return spec
        return None


def _is_hook(finder: object) -> bool:
    return type(finder).__name__ == _TorchvisionFinder.__name__


def install() -> None:
    """Put the hook first on ``sys.meta_path`` (once; no effect when torchvision is already imported)."""
    if not any(_is_hook(f) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())
