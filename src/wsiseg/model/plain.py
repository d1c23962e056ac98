"""Keep checkpoints loadable with ``torch.load(..., weights_only=True)``: plain python values only.

``torch.load`` refuses arbitrary classes by default since torch 2.6, and Lightning's ``load_from_checkpoint``
uses that default for local files. Hyper-parameters such as a ``functools.partial`` optimizer are therefore
stored as a Hydra-style description (``{"_target_": ..., "_partial_": True, ...}``) instead.
"""

from __future__ import annotations

import functools
from typing import Any

_SCALARS = (type(None), bool, int, float, str, bytes)


def find_non_plain(value: Any, where: str = "") -> str | None:
    """Locate the first value that is not a plain python value (scalars, str, list, tuple, dict).

    Args:
        value: The object to check.
        where: Path prefix used in the answer.

    Returns:
        A path such as ``"data.root (PosixPath)"`` to the first offending value, or None when all is plain.
    """
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, list | tuple):
        items: list[tuple[Any, Any]] = list(enumerate(value))
    elif isinstance(value, dict):
        bad_key = next((k for k in value if not isinstance(k, _SCALARS)), None)
        if bad_key is not None:
            return f"{where or '<root>'} (key of type {type(bad_key).__name__})"
        items = list(value.items())
    else:
        return f"{where or '<root>'} ({type(value).__name__})"
    for key, item in items:
        found = find_non_plain(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _qualified_name(obj: Any) -> str:
    """``module.qualname`` of a class or function, else its ``repr``."""
    qualname = getattr(obj, "__qualname__", None)
    return f"{obj.__module__}.{qualname}" if qualname else repr(obj)


def to_plain(value: Any) -> Any:
    """Convert a value to plain python types, recursively.

    A ``functools.partial`` becomes ``{"_target_": "pkg.Class", "_partial_": True, **keywords}`` (plus
    ``"_args_"`` for positional arguments), a class or function its qualified name, anything else that is
    not plain its ``repr``.

    Args:
        value: The object to convert.

    Returns:
        A value made of None, bool, numbers, str, bytes, lists, tuples and dicts only.
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return type(value)(to_plain(v) for v in value)
    if isinstance(value, dict):
        return {k if isinstance(k, _SCALARS) else repr(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, functools.partial):
        out: dict[str, Any] = {"_target_": _qualified_name(value.func), "_partial_": True}
        if value.args:
            out["_args_"] = to_plain(list(value.args))
        out.update({k: to_plain(v) for k, v in value.keywords.items()})
        return out
    if isinstance(value, type) or callable(value):
        return _qualified_name(value)
    return repr(value)
