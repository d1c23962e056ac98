"""The reading side of prediction: what a DataLoader worker is sent (a small request) and what it returns.

Workers receive only :class:`TileRequest` s: a slide path, its tiling and the heatmap corners of one batch of
tiles (never the tissue mask or the plan of a whole slide), so they start in parallel and quickly. A batch
has a fixed number of tiles (``batch_size``, the last batch of a slide fewer); its tiles are read with one
region read per read block they fall in (``block_tiles`` x ``block_tiles`` cores), so batches of the model
and reads of the slide are sized independently.

This module imports torch (the DataLoader's worker loop needs it anyway) but never Lightning.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from wsiseg.inference.tiling import TileGrid
from wsiseg.slide import Reader, Slide, open_slide


@dataclass(frozen=True)
class TileRequest:
    """One model batch of one slide, as sent to a reading worker.

    Attributes:
        task: the slide's index in the run (the writer looks its plan up by it).
        name: the slide's output name.
        path: the slide file.
        grid: the slide's tiling.
        cores: (n, 2) heatmap corners of the batch's tile cores.
        reads: where ``cores`` splits into region reads: ``cores[reads[i]:reads[i + 1]]`` is one read.
        last: the slide's last batch (the writer finishes the slide after it).
        backend: the slide reader (``tiffslide`` or ``openslide``), resolved when the slide was planned.
    """

    task: int
    name: str
    path: Path
    grid: TileGrid
    cores: np.ndarray
    reads: tuple[int, ...]
    last: bool
    backend: Reader = "tiffslide"


class TileReader(Dataset):
    """Reads the tiles of a :class:`TileRequest` (the sampler's items are requests, not indices).

    ``reader[request]`` is ``{"image": (n, 3, T, T) uint8, "task", "name", "core_xy": (n, 2), "last", "error"}``;
    an unreadable region fails its slide (``error`` set, no tiles), not the run. The two slides read last are
    kept open.
    """

    def __init__(self) -> None:
        self._open: OrderedDict[tuple[Path, str], Slide] = OrderedDict()

    def _slide(self, request: TileRequest) -> Slide:
        key = (request.path, request.backend)
        if key not in self._open:
            if len(self._open) >= 2:
                self._open.popitem(last=False)[1].close()
            self._open[key] = open_slide(request.path, mpp=request.grid.slide_mpp, backend=request.backend)
        return self._open[key]

    def __getitem__(self, request: TileRequest) -> dict:
        item = {"task": request.task, "name": request.name, "core_xy": torch.from_numpy(request.cores),
                "last": request.last, "error": ""}  # fmt: skip
        try:
            slide = self._slide(request)
            bounds = zip(request.reads[:-1], request.reads[1:], strict=True)
            tiles = np.concatenate([read_block(slide, request.grid, request.cores[a:b]) for a, b in bounds])
        except Exception as err:  # one unreadable region fails its slide, not the run
            item["error"] = f"{type(err).__name__}: {err}"
            tiles = np.zeros((0, request.grid.tile, request.grid.tile, 3), np.uint8)
        item["image"] = torch.from_numpy(tiles).permute(0, 3, 1, 2)  # (n, 3, T, T) uint8: 4x less to pass on
        return item

    def __getstate__(self) -> dict:
        return {"_open": OrderedDict()}  # slides are opened in each worker


def read_block(slide: Slide, grid: TileGrid, cores: np.ndarray) -> np.ndarray:
    """One region read covering the tiles of ``cores`` (heatmap corners), cut into (n, T, T, 3) tiles."""
    low, high = cores.min(axis=0), cores.max(axis=0)
    size = ((high - low) * grid.factor + grid.tile).astype(int)  # model px (w, h)
    region = slide.read_region(tuple(grid.tile_origin_level0(low[None])[0]), tuple(size), grid.model_mpp)
    offsets = (cores - low) * grid.factor
    return np.stack([region[y : y + grid.tile, x : x + grid.tile] for x, y in offsets])
