"""Pure tiling geometry for whole-slide prediction (numbers and arrays in, arrays out).

Three pixel grids share the slide's top-left corner: level 0 (``slide_mpp``), the model's input pixels
(``model_mpp``, the training resolution) and the heatmap (``heatmap_mpp = factor * model_mpp``). A tile of
``tile`` model pixels is cut with a ``margin`` on every side; its central *core* (``tile - 2 * margin``)
lands on ``core // factor`` heatmap pixels. Cores tile the slide without gaps or overlap, so stitching
the cores (``blend="crop"``) has no seams; ``blend="weighted"`` blends whole tiles with a window instead.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Blend = Literal["crop", "weighted"]


@dataclass(frozen=True)
class TileGrid:
    """How one slide is tiled.

    Attributes:
        slide_mpp: level-0 um/px.
        model_mpp: um/px of the model input (the training resolution).
        factor: model pixels per heatmap pixel (an integer >= 1).
        tile: tile side, model pixels (the network input).
        margin: pixels cut from each tile side (a multiple of ``factor``, which divides ``tile``).
        heatmap_hw: heatmap (rows, cols) covering the whole slide: ``ceil(slide extent / heatmap_mpp)`` from the
            slide's top-left corner, so it overshoots the right and bottom edges by under one heatmap pixel.
        slide_wh: the slide's level-0 (width, height), or ``None`` where unknown (a heatmap made without a slide).
    """

    slide_mpp: float
    model_mpp: float
    factor: int
    tile: int
    margin: int
    heatmap_hw: tuple[int, int]
    slide_wh: tuple[int, int] | None = None

    @property
    def heatmap_mpp(self) -> float:
        """um/px of the heatmap."""
        return self.model_mpp * self.factor

    @property
    def core(self) -> int:
        """Side of a tile's core, model pixels."""
        return self.tile - 2 * self.margin

    @property
    def core_hm(self) -> int:
        """Side of a tile's core, heatmap pixels."""
        return self.core // self.factor

    def tile_origin_level0(self, core_xy: np.ndarray) -> np.ndarray:
        """Level-0 top-left of the tiles whose cores start at heatmap corners ``core_xy`` (N, 2)."""
        model_xy = np.asarray(core_xy, float) * self.factor - self.margin
        return model_xy * self.model_mpp / self.slide_mpp


def make_tile_grid(
    slide_wh: tuple[int, int], slide_mpp: float, model_mpp: float, tile: int, heatmap_mpp: float, overlap: float
) -> TileGrid:
    """Choose the tiling of a slide.

    Args:
        slide_wh: level-0 (width, height).
        slide_mpp: level-0 um/px.
        model_mpp: the model's input resolution, um/px.
        tile: the model's input side, pixels.
        heatmap_mpp: wanted heatmap resolution; rounded to a whole multiple of ``model_mpp`` (at least 1).
        overlap: share of each tile given to margins (0 = no overlap); margins are rounded to whole heatmap
            pixels.

    Raises:
        ValueError: if the heatmap pixel does not divide the tile, or no core is left.
    """
    factor = max(1, round(heatmap_mpp / model_mpp))
    if tile <= 0 or tile % factor:
        raise ValueError(f"heatmap_mpp {heatmap_mpp} is {factor} model pixels, which must divide the tile ({tile})")
    margin = factor * round(tile * overlap / 2 / factor)
    if tile - 2 * margin < factor:
        raise ValueError(f"tile {tile} with overlap {overlap} leaves no core of {factor} model px")
    size_um = np.asarray(slide_wh, float) * slide_mpp
    heatmap_w, heatmap_h = (math.ceil(v / (model_mpp * factor) - 1e-9) for v in size_um)
    return TileGrid(
        slide_mpp, model_mpp, factor, tile, margin, (heatmap_h, heatmap_w), (int(slide_wh[0]), int(slide_wh[1]))
    )


def select_cores(grid: TileGrid, tissue_hm: np.ndarray) -> np.ndarray:
    """Heatmap corners (x, y) of the cores that hold any tissue, row-major.

    Args:
        grid: the tiling.
        tissue_hm: (H, W) bool tissue mask at heatmap resolution (``grid.heatmap_hw``).

    Returns:
        (N, 2) int64 corners.
    """
    step = grid.core_hm
    rows, cols = math.ceil(tissue_hm.shape[0] / step), math.ceil(tissue_hm.shape[1] / step)
    padded = np.zeros((rows * step, cols * step), bool)
    padded[: tissue_hm.shape[0], : tissue_hm.shape[1]] = tissue_hm
    occupied = padded.reshape(rows, step, cols, step).any(axis=(1, 3))  # (rows, cols)
    r, c = np.nonzero(occupied)
    return np.stack([c * step, r * step], axis=1).astype(np.int64)


def group_cores(core_xy: np.ndarray, step: int, block: int) -> list[np.ndarray]:
    """Group core corners into square blocks of up to ``block`` x ``block`` cores (one read each), row-major.

    Returns:
        Index arrays into ``core_xy``, one per non-empty block.
    """
    if not len(core_xy):
        return []
    cell = np.asarray(core_xy) // (step * block)  # (N, 2) block coordinates
    order = np.lexsort((cell[:, 0], cell[:, 1]))
    keys = cell[order]
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    return [order[a:b] for a, b in zip(starts, np.r_[starts[1:], len(order)], strict=True)]


def blend_window(tile: int, margin: int, blend: Blend) -> np.ndarray:
    """Per-pixel weights (tile, tile) of a tile's prediction.

    ``crop``: 1 in the core, 0 in the margins. ``weighted``: a separable tent that is highest in the centre
    and positive everywhere, so overlapping tiles blend smoothly.
    """
    if blend == "crop":
        w = np.zeros(tile, np.float32)
        w[margin : tile - margin] = 1.0
    elif blend == "weighted":
        centre = (tile - 1) / 2
        w = (1.0 - np.abs(np.arange(tile) - centre) / (centre + 1)).astype(np.float32)
    else:
        raise ValueError(f"blend must be 'crop' or 'weighted', got {blend!r}")
    return np.outer(w, w)


@functools.lru_cache(maxsize=8)
def pooled_window(tile: int, margin: int, factor: int, blend: Blend) -> np.ndarray:
    """:func:`blend_window` averaged over each heatmap pixel: (tile / factor, tile / factor) weights."""
    side = tile // factor
    window = blend_window(tile, margin, blend).reshape(side, factor, side, factor).mean(axis=(1, 3))
    window.setflags(write=False)
    return window
