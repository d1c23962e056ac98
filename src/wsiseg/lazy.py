"""Lazy package attributes (PEP 562): a package's names imported from its modules on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, sources: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``name`` from ``<package>.<sources[name]>`` once, into ``namespace``.

    A name spelt like its own module (``froc`` in ``froc.py``) is imported now: importing the submodule
    anywhere sets the package attribute of that name to the module object, and a module ``__getattr__`` is
    never asked for an attribute that exists, so ``from package import froc`` would return the module.
    """
    for name, module in sources.items():
        if name == module:
            namespace[name] = getattr(importlib.import_module(f"{package}.{module}"), name)

    def __getattr__(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sources[name]}"), name)
        namespace[name] = value
        return value

    return __getattr__
