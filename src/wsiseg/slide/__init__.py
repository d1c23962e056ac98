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

BackendName = Literal["auto", "tiffslide", "openslide"]
#: What ``auto`` chooses between; tiffslide is pure Python and always installed, OpenSlide optional.
Reader = Literal["tiffslide", "openslide"]


#: Formats only OpenSlide reads (not TIFF containers); ``auto`` opens them with OpenSlide.
OPENSLIDE_ONLY = (".mrxs", ".vms", ".vmu")


def resolve_backend(path: str | Path, backend: BackendName = "auto") -> Reader:
    """The reader a slide is opened with (``auto``: tiffslide, or OpenSlide for the formats only it reads).

    Prediction reads blocks of tiles (``inference.block_tiles``); for those tiffslide is the faster reader
    (``benchmarks/bench_peers.py`` measures both, see the README), while OpenSlide wins only one tile per read.
    So ``auto`` is tiffslide for TIFF containers (CAMELYON's TIFFs, SVS, NDPI, ...) and OpenSlide, where
    installed, for ``OPENSLIDE_ONLY`` formats. On pyramid TIFFs both return the same pixels
    (``tests/slide/test_slide_backends.py``).

    Raises:
        ValueError: ``backend`` is none of ``auto``, ``tiffslide``, ``openslide``.
    """
    if backend not in ("auto", "tiffslide", "openslide"):
        raise ValueError(f"backend must be 'auto', 'tiffslide' or 'openslide', got {backend!r}")
    if backend != "auto":
        return backend
    if Path(path).suffix.lower() not in OPENSLIDE_ONLY:
        return "tiffslide"
    try:
        import openslide  # noqa: F401
    except ImportError:  # tiffslide then says it cannot read the file
        return "tiffslide"
    return "openslide"


def open_slide(path: str | Path, mpp: float | None = None, backend: BackendName = "tiffslide") -> Slide:
    """Open a slide file.

    Args:
        path: The slide (a tiled pyramid TIFF such as the CAMELYON files).
        mpp: Micrometres per level-0 pixel, given by hand; wins over the file's metadata (a warning is logged
            when they disagree by more than 2%). None: read it from the file.
        backend: ``"tiffslide"`` (default), ``"openslide"`` (needs ``pip install wsiseg[openslide]``) or
            ``"auto"`` (tiffslide, or OpenSlide for the formats only it reads: :func:`resolve_backend`).

    Returns:
        The opened :class:`Slide`; use it as a context manager or call ``close()``.

    Raises:
        SlideError: The file is missing, empty, a directory, not a readable slide, its pixels cannot be
            decoded (checked before the mpp; the message names the compression), or it has no usable mpp.
    """
    path = Path(path)
    reader = resolve_backend(path, backend)
    _check_file(path)
    if reader == "tiffslide":
        from wsiseg.slide.tiffslide_backend import TiffSlideBackend as backend_cls
    else:
        from wsiseg.slide.openslide_backend import OpenSlideBackend as backend_cls
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
    "OPENSLIDE_ONLY",
    "MppSource",
    "Reader",
    "ReadWindow",
    "Slide",
    "SlideBackend",
    "SlideError",
    "group_tiles",
    "level_for_mpp",
    "open_slide",
    "read_window",
    "resolve_backend",
    "resolve_mpp",
    "tile_grid",
]
