"""The default backend: tiffslide (pure Python, reads the CAMELYON BigTIFF pyramids)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wsiseg.errors import SlideError
from wsiseg.slide.backend import read_padded


class TiffSlideBackend:
    """A :class:`~wsiseg.slide.backend.SlideBackend` over ``tiffslide.TiffSlide``.

    Args:
        path: The slide file.

    Raises:
        SlideError: tiffslide cannot open the file or parse its pyramid.
    """

    def __init__(self, path: str | Path) -> None:
        import tiffslide

        self._path = Path(path)
        try:
            self._slide = tiffslide.TiffSlide(self._path)
            self._dimensions = tuple(tuple(map(int, wh)) for wh in self._slide.level_dimensions)
            self._downsamples = tuple(float(ds) for ds in self._slide.level_downsamples)
            self._properties = dict(self._slide.properties)
        except Exception as err:
            raise SlideError(self._path, f"tiffslide cannot open it ({type(err).__name__}: {err})") from err
        _check_complete(self._slide, self._path, int(self._properties.get("tiffslide.series-index", 0)))

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return self._dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of levels."""
        return len(self._dimensions)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        return self._dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample of every level relative to level 0."""
        return self._downsamples

    @property
    def properties(self) -> Mapping[str, Any]:
        """The properties tiffslide parsed (``tiffslide.mpp-x``, ``tiff.ImageDescription``, levels, ...)."""
        return self._properties

    @property
    def mpp(self) -> float | None:
        """``tiffslide.mpp-x``, or None when tiffslide found none."""
        value = self._properties.get("tiffslide.mpp-x")
        return None if value is None else float(value)

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read a window (see :meth:`SlideBackend.read_region`); outside is white, alpha is dropped."""

        def inside(loc: tuple[int, int], _start: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
            return self._slide.read_region(loc, level, size, as_array=True, padding=False)

        ds = self._downsamples[level]
        return read_padded(inside, location_xy, ds, self._dimensions[level], size_wh)

    def close(self) -> None:
        """Close the file."""
        self._slide.close()


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
