"""Direct reads of a tiled TIFF pyramid level: tile bytes by ``pread``, decoded by tifffile in the calling thread.

tiffslide reads a window through a Zarr store whose requests all pass through one asyncio thread
(``zarr_io``), which also decodes the tiles: reads from several threads queue behind each other there, and
every read pays the event loop's round trip. For the common case, a level that is one tiled page of a local
file with interleaved samples (CAMELYON's TIFFs, SVS, most pyramidal TIFFs), :class:`LevelTiles` does the
same work directly: it reads each tile's bytes with ``os.pread`` (thread-safe, no shared file position) and
decodes them with the page's own tifffile decoder, the function tifffile's Zarr store calls, so the pixels are
the same bit for bit (tested), in whichever thread asked; imagecodecs releases the GIL while it decodes, so
threads decode in parallel. Missing tiles (no bytes stored) read as 0, as through tiffslide. Any other
layout (strips, NDPI, separate colour planes, several pages per level, remote files) is left to tiffslide.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np


class LevelTiles:
    """The tiles of one pyramid level (a single tiled TIFF page), read from an open file descriptor.

    Args:
        page: the level's tifffile ``TiffPage`` (tiled, one plane, interleaved samples, uint8).
        fd: an ``os.open`` descriptor of the file, owned by the caller.
    """

    def __init__(self, page: Any, fd: int) -> None:
        self.fd = fd
        self.offsets = np.asarray(page.dataoffsets, dtype=np.int64)
        self.counts = np.asarray(page.databytecounts, dtype=np.int64)
        self.tile_h, self.tile_w = int(page.tilelength), int(page.tilewidth)
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self.columns = math.ceil(self.width / self.tile_w)
        self.samples = int(page.samplesperpixel)
        self.decode, self.tables = page.decode, page.jpegtables

    @staticmethod
    def eligible(page: Any, pages_in_level: int) -> bool:
        """Whether a level can be read tile by tile here (else tiffslide reads it)."""
        try:
            return (
                pages_in_level == 1
                and bool(page.is_tiled)
                and int(page.imagedepth) == 1
                and int(page.tiledepth) == 1
                and np.dtype(page.dtype) == np.uint8
                and (int(page.samplesperpixel) == 1 or int(page.planarconfig) == 1)  # interleaved samples
                and len(page.dataoffsets)
                == math.ceil(page.imagewidth / page.tilewidth) * math.ceil(page.imagelength / page.tilelength)
            )
        except (AttributeError, TypeError, ValueError):
            return False

    def read(self, x0: int, y0: int, width: int, height: int) -> np.ndarray:
        """The level's pixels of a window inside it: (height, width, samples) uint8."""
        if x0 < 0 or y0 < 0 or width <= 0 or height <= 0 or x0 + width > self.width or y0 + height > self.height:
            raise ValueError(f"window {(x0, y0, width, height)} is not inside the level ({self.width} x {self.height})")
        out = np.empty((height, width, self.samples), dtype=np.uint8)
        th, tw = self.tile_h, self.tile_w
        rows = range(y0 // th, (y0 + height - 1) // th + 1)
        columns = range(x0 // tw, (x0 + width - 1) // tw + 1)

        def place(ty: int, tx: int) -> None:
            top, bottom = max(y0, ty * th), min(y0 + height, (ty + 1) * th)
            left, right = max(x0, tx * tw), min(x0 + width, (tx + 1) * tw)
            tile = self.tile(ty * self.columns + tx)
            target = out[top - y0 : bottom - y0, left - x0 : right - x0]
            if tile is None:
                target[...] = 0
            else:
                target[...] = tile[top - ty * th : bottom - ty * th, left - tx * tw : right - tx * tw]

        for ty in rows:
            for tx in columns:
                place(ty, tx)
        return out

    def tile(self, index: int) -> np.ndarray | None:
        """One decoded tile, (tile_h, tile_w, samples), or None where the file stores no bytes for it."""
        count, offset = int(self.counts[index]), int(self.offsets[index])
        if count <= 0 or offset <= 0:
            return None
        data = os.pread(self.fd, count, offset)
        if len(data) != count:
            raise OSError(f"tile {index}: read {len(data)} of {count} bytes at offset {offset} (truncated file?)")
        decoded = self.decode(data, index, jpegtables=self.tables, _fullsize=True)[0]
        return decoded.reshape(self.tile_h, self.tile_w, self.samples)
