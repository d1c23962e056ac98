"""Stage 1, slides: open whole-slide images and read them at exact physical resolutions.

>>> with open_slide("patient_004_node_4.tif") as slide:  # doctest: +SKIP
...     tile = slide.read_region((20_000, 30_000), (512, 512), mpp=1.0)  # (512, 512, 3) uint8 RGB
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from wsiseg.errors import SlideError
from wsiseg.slide.array_backend import ArrayBackend
from wsiseg.slide.backend import SlideBackend
from wsiseg.slide.geometry import ReadWindow, group_tiles, level_for_mpp, read_window, tile_grid
from wsiseg.slide.mpp import MppSource, resolve_mpp
from wsiseg.slide.reader import Slide

BackendName = Literal["tiffslide", "openslide"]


def open_slide(path: str | Path, mpp: float | None = None, backend: BackendName = "tiffslide") -> Slide:
    """Open a slide file.

    Args:
        path: The slide (a tiled pyramid TIFF such as the CAMELYON files).
        mpp: Micrometres per level-0 pixel, given by hand; wins over the file's metadata (a warning is logged
            when they disagree by more than 2%). None: read it from the file.
        backend: ``"tiffslide"`` (default) or ``"openslide"`` (needs ``pip install wsiseg[openslide]``).

    Returns:
        The opened :class:`Slide`; use it as a context manager or call ``close()``.

    Raises:
        SlideError: The file is missing, empty, a directory, not a readable slide, its pixels cannot be
            decoded (checked before the mpp; the message names the compression), or it has no usable mpp.
    """
    path = Path(path)
    _check_file(path)
    if backend == "tiffslide":
        from wsiseg.slide.tiffslide_backend import TiffSlideBackend as backend_cls
    elif backend == "openslide":
        from wsiseg.slide.openslide_backend import OpenSlideBackend as backend_cls
    else:
        raise ValueError(f"backend must be 'tiffslide' or 'openslide', got {backend!r}")
    opened = backend_cls(path)
    try:
        return Slide(opened, path, mpp=mpp)
    except BaseException:
        opened.close()
        raise


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise SlideError(path, "is a directory, not a slide file")
    if not path.exists():
        raise SlideError(path, "no such file")
    if path.stat().st_size == 0:
        raise SlideError(path, "the file is empty (0 bytes)")


__all__ = [
    "ArrayBackend",
    "MppSource",
    "ReadWindow",
    "Slide",
    "SlideBackend",
    "SlideError",
    "group_tiles",
    "level_for_mpp",
    "open_slide",
    "read_window",
    "resolve_mpp",
    "tile_grid",
]
