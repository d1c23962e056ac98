"""The default backend: tiffslide (pure Python, reads the CAMELYON BigTIFF pyramids)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from wsiseg.errors import SlideError
from wsiseg.slide.backend import PyramidBackend, read_padded
from wsiseg.slide.tiff_tiles import LevelTiles


class TiffSlideBackend(PyramidBackend):
    """A :class:`~wsiseg.slide.backend.SlideBackend` over ``tiffslide.TiffSlide``.

    Every failure of tiffslide, tifffile, imagecodecs or zarr (a corrupt tile, say) becomes a
    :class:`SlideError` naming the file and the read; the slide stays usable for other reads. tiffslide
    parses the file (levels, properties); levels that are single tiled pages of a local file are read tile
    by tile in the calling thread (:class:`~wsiseg.slide.tiff_tiles.LevelTiles`: the same decoder, the same
    pixels, no Zarr event loop between threads), the others through tiffslide. ``properties`` are those
    tiffslide parsed (``tiffslide.mpp-x``, ``tiff.ImageDescription``, levels, ...); ``mpp`` is
    ``tiffslide.mpp-x``, or None when tiffslide found none.

    Args:
        path: The slide file.
        direct: read eligible levels tile by tile (``False``: every read through tiffslide).

    Raises:
        SlideError: tiffslide cannot open the file or parse its pyramid, tile data is missing, or its pixels
            cannot be decoded (the message names the compression).
    """

    _mpp_key = "tiffslide.mpp-x"

    def __init__(self, path: str | Path, direct: bool = True) -> None:
        import tiffslide

        self._path = Path(path)
        self._fd: int | None = None
        self._tiles: tuple[LevelTiles | None, ...] = ()
        try:
            self._slide = tiffslide.TiffSlide(self._path)
            self._dimensions = tuple(tuple(map(int, wh)) for wh in self._slide.level_dimensions)
            self._downsamples = tuple(float(ds) for ds in self._slide.level_downsamples)
            self._properties = dict(self._slide.properties)
        except Exception as err:
            raise SlideError(self._path, f"tiffslide cannot open it ({type(err).__name__}: {err})") from err
        try:
            series_index = int(self._properties.get("tiffslide.series-index", 0))
            _check_complete(self._slide, self._path, series_index)
            _check_decodable(self._slide, self._path, series_index)
            if direct:
                self._open_direct(series_index)
        except BaseException:
            self.close()
            raise

    def _open_direct(self, series_index: int) -> None:
        """Set up tile-by-tile reads of the levels that allow them (none for other layouts or remote files)."""
        if self._properties.get("tiffslide.series-axes") not in ("YXS", "YX"):
            return
        try:
            tif = self._slide.ts_tifffile
            local = bool(tif.filehandle.is_file)
            levels = list(tif.series[series_index].levels)
        except Exception:  # not a plain local TIFF
            return
        if not local or len(levels) != len(self._dimensions):
            return
        tiles: list[LevelTiles | None] = []
        for level, dims in zip(levels, self._dimensions, strict=True):
            page = level.keyframe
            ok = LevelTiles.eligible(page, len(level.pages)) and (page.imagewidth, page.imagelength) == dims
            if ok and self._fd is None:
                self._fd = os.open(self._path, os.O_RDONLY)
            tiles.append(LevelTiles(page, self._fd) if ok else None)
        self._tiles = tuple(tiles)

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read a window (see :meth:`SlideBackend.read_region`); outside is white, alpha is dropped."""
        tiles = self._tiles[level] if 0 <= level < len(self._tiles) else None

        def inside(loc: tuple[int, int], start: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
            if tiles is not None:
                return tiles.read(start[0], start[1], size[0], size[1])
            return self._slide.read_region(loc, level, size, as_array=True, padding=False)

        try:
            return read_padded(inside, location_xy, self._downsamples[level], self._dimensions[level], size_wh)
        except Exception as err:
            raise SlideError(
                self._path,
                f"tiffslide cannot read {tuple(size_wh)} pixels at level {level}, {tuple(location_xy)} "
                f"({type(err).__name__}: {err})",
            ) from err

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to release
                os.close(self._fd)
            self._fd, self._tiles = None, ()
        try:
            self._slide.close()
        except Exception as err:
            raise SlideError(self._path, f"tiffslide cannot close it ({type(err).__name__}: {err})") from err


def _check_complete(slide: Any, path: Path, series_index: int) -> None:
    """Raise SlideError when tile data of the first page of a level runs past the end of the file.

    A truncated download otherwise opens fine (its first IFD is intact) and fails, or worse, only at the
    first read of a missing tile.
    """
    try:
        tif = slide.ts_tifffile
        file_size = int(tif.filehandle.size)
        pages = [level.pages[0] for level in tif.series[series_index].levels]
    except Exception:  # not a plain local TIFF: nothing to check
        return
    for level, page in enumerate(pages):
        offsets = np.asarray(getattr(page, "dataoffsets", ()), dtype=np.int64)
        counts = np.asarray(getattr(page, "databytecounts", ()), dtype=np.int64)
        if offsets.size and int((offsets + counts).max()) > file_size:
            raise SlideError(
                path,
                f"truncated: tile data of level {level} ends at byte {int((offsets + counts).max())} but the "
                f"file has {file_size} bytes (incomplete download or copy?)",
            )


def _check_decodable(slide: Any, path: Path, series_index: int) -> None:
    """Raise SlideError, naming the compression, when tifffile and imagecodecs cannot decode a level's tiles.

    Runs at open, so that such a slide is refused for what it is before its metadata (e.g. a 72 dpi
    resolution tag, 352.8 um/px) is judged. Every level's codec is looked up, then one tile of the
    coarsest level is decoded.
    """
    try:
        pages = [level.keyframe for level in slide.ts_tifffile.series[series_index].levels]
    except Exception:  # not a plain local TIFF: nothing to check
        return
    for level, page in enumerate(pages):
        if int(page.compression) not in tifffile.TIFF.DECOMPRESSORS:
            raise SlideError(
                path,
                f"level {level} is stored with compression {describe_compression(int(page.compression))}, which "
                "tifffile and imagecodecs cannot decode; export or convert the slide to a tiled TIFF with JPEG tiles",
            )
    last = len(pages) - 1
    try:
        slide.read_region((0, 0), last, (1, 1), as_array=True, padding=False)
    except Exception as err:
        compression = describe_compression(int(pages[last].compression))
        raise SlideError(
            path, f"cannot decode the pixels of level {last} (compression {compression}; {type(err).__name__}: {err})"
        ) from err


def describe_compression(code: int) -> str:
    """A TIFF compression code with its name, e.g. ``33003 (APERIO_JP2000_YCBC)`` or ``34999 (unregistered)``."""
    try:
        return f"{code} ({tifffile.COMPRESSION(code).name})"
    except ValueError:
        return f"{code} (not a registered TIFF compression)"
