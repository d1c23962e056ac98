"""Test-time augmentation and ensemble reductions: the choices, and exact maps between views of a tile.

A view is an element of the dihedral group of the square (``k`` quarter turns after an optional left-right
flip). :meth:`View.apply` turns a batch of tiles into that view, :meth:`View.invert` maps a prediction made
on the view back onto the tile's own pixels, exactly (flips and quarter turns only move pixels). Both work on
any tensor with ``flip`` and ``rot90`` methods over its last two axes (torch tensors), so planning code can
import the choices without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

Tta = Literal["none", "flips", "d4"]
"""``inference.tta=``: ``none``; ``flips`` (identity, left-right, up-down, both: 4 views); ``d4`` (the 8
symmetries of the square: 4 quarter turns, each with and without a left-right flip)."""

Reduction = Literal["mean", "median", "max"]
"""``inference.reduction=``: how an ensemble's members' probabilities are combined (views of one member are
always averaged)."""

_H, _W = -2, -1  # the spatial axes of (B, C, H, W)


@dataclass(frozen=True)
class View:
    """A symmetry of the square tile: flip left-right (``flip``), then ``k`` quarter turns counter-clockwise."""

    k: int = 0
    flip: bool = False

    def apply(self, x: Any) -> Any:
        """The tiles ``x`` (..., H, W) seen in this view."""
        if self.flip:
            x = x.flip(_W)
        return x.rot90(self.k, (_H, _W)) if self.k % 4 else x

    def invert(self, y: Any) -> Any:
        """A prediction ``y`` (..., H, W) made on the view, mapped back onto the original tile's pixels."""
        if self.k % 4:
            y = y.rot90(-self.k, (_H, _W))
        return y.flip(_W) if self.flip else y


_IDENTITY = View()
_VIEWS: dict[str, tuple[View, ...]] = {
    "none": (_IDENTITY,),
    # up-down flip = left-right flip then a half turn; both flips = a half turn
    "flips": (_IDENTITY, View(0, True), View(2, True), View(2, False)),
    "d4": tuple(View(k, flip) for flip in (False, True) for k in range(4)),
}


def views(tta: str) -> tuple[View, ...]:
    """The views predicted for a ``tta`` choice (the identity first)."""
    if tta not in _VIEWS:
        raise ValueError(f"tta must be one of {list(get_args(Tta))}, got {tta!r}")
    return _VIEWS[tta]


def reduce_members(stack: Any, reduction: str) -> Any:
    """Combine the members' probabilities ``stack`` (M, ...) along the first axis."""
    if reduction == "mean":
        return stack.mean(0)
    if reduction == "median":  # the lower median for an even M (torch's convention)
        return stack.median(0).values
    if reduction == "max":
        return stack.amax(0)
    raise ValueError(f"reduction must be one of {list(get_args(Reduction))}, got {reduction!r}")
