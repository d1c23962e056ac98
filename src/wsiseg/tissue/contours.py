"""Contours of a tissue mask (``cv2.findContours`` with ``RETR_CCOMP``): drop small pieces, fill small holes.

``RETR_CCOMP`` gives a two-level hierarchy: outer boundaries of tissue pieces (no parent) and the boundaries
of the holes inside them (their parent is the piece). Islands inside a hole are outer boundaries again.
"""

from __future__ import annotations

import cv2
import numpy as np


def find_contours(mask: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Return the outer contours and the hole contours of a mask, each an (N, 2) int array of (x, y) pixels.

    Contour points are the centres of the boundary pixels (``CHAIN_APPROX_NONE``), column first.

    Args:
        mask: an (H, W) bool mask.
    """
    contours, parents = _ccomp(mask)
    outers = tuple(c for c, p in zip(contours, parents, strict=True) if p < 0)
    holes = tuple(c for c, p in zip(contours, parents, strict=True) if p >= 0)
    return outers, holes


def clean_mask(mask: np.ndarray, min_piece_px: float, max_hole_px: float) -> np.ndarray:
    """Drop pieces enclosing under ``min_piece_px`` pixels, fill holes of under ``max_hole_px`` pixels.

    A piece's size is the number of pixels its outer contour encloses (its holes included); a hole's size
    is the number of non-tissue pixels inside its contour (after small pieces are dropped). Filling a hole
    makes everything inside it tissue; holes at least ``max_hole_px`` large are kept as they are.

    Args:
        mask: an (H, W) bool mask.
        min_piece_px: smallest piece kept, in pixels.
        max_hole_px: holes strictly smaller than this (in pixels) are filled.

    Returns:
        A new (H, W) bool mask.
    """
    canvas = mask.astype(np.uint8)
    contours, parents = _ccomp(canvas)
    for contour, parent in zip(contours, parents, strict=True):
        if parent < 0 and _enclosed_px(contour) < min_piece_px:
            cv2.drawContours(canvas, [contour[:, None, :]], -1, 0, thickness=cv2.FILLED)
    kept = canvas.astype(bool)
    for contour, parent in zip(contours, parents, strict=True):
        if parent >= 0 and kept[contour[0, 1], contour[0, 0]] and _enclosed_px(contour, kept) < max_hole_px:
            cv2.drawContours(canvas, [contour[:, None, :]], -1, 1, thickness=cv2.FILLED)
    return canvas.astype(bool)


def _ccomp(mask: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """Return the contours ((N, 2) int32 (x, y) each) and their parent indices (-1: outer boundary)."""
    contours, hierarchy = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE
    )
    if hierarchy is None:
        return [], []
    return [c.reshape(-1, 2) for c in contours], [int(p) for p in hierarchy[0, :, 3]]


def _enclosed_px(contour: np.ndarray, tissue: np.ndarray | None = None) -> int:
    """Count the pixels a contour encloses (its own included); with ``tissue``, only non-tissue ones."""
    x, y, w, h = cv2.boundingRect(contour)
    inside = np.zeros((h, w), dtype=np.uint8)
    cv2.drawContours(inside, [contour[:, None, :]], -1, 1, thickness=cv2.FILLED, offset=(-x, -y))
    if tissue is None:
        return int(np.count_nonzero(inside))
    return int(np.count_nonzero(inside.astype(bool) & ~tissue[y : y + h, x : x + w]))
