"""The optional OpenSlide backend (``pip install wsiseg[openslide]``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from wsiseg.errors import SlideError
from wsiseg.slide.backend import BACKGROUND, PyramidBackend


class OpenSlideBackend(PyramidBackend):
    """A :class:`~wsiseg.slide.backend.SlideBackend` over ``openslide.OpenSlide``.

    OpenSlide maps a level-0 location to a level on its own (sub-pixel); reads at levels > 0 can sit up
    to one level pixel away from the ``floor(location / downsample)`` convention of the other backends.

    Every OpenSlide failure becomes a :class:`SlideError` naming the file. After its first error an OpenSlide
    handle is unusable (every later call repeats that error), so the level layout and properties are read
    once at open, and every read after a failed one raises a SlideError that quotes the first error.
    ``properties`` are OpenSlide's (``openslide.mpp-x``, vendor keys, ...); ``mpp`` is ``openslide.mpp-x``,
    or None.

    Args:
        path: The slide file.

    Raises:
        SlideError: openslide-python is not installed, or OpenSlide cannot open the file or decode its pixels.
    """

    _mpp_key = "openslide.mpp-x"

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        try:
            import openslide
        except ImportError as err:
            raise SlideError(
                self._path,
                "the openslide backend needs OpenSlide: pip install wsiseg[openslide] "
                f"(or use backend='tiffslide'); ({type(err).__name__}: {err})",
            ) from err
        self._fatal: type[BaseException] = openslide.OpenSlideError
        self._failure: str | None = None
        self._closed = False
        try:
            self._slide = openslide.OpenSlide(str(self._path))
        except Exception as err:
            raise SlideError(self._path, f"OpenSlide cannot open it ({type(err).__name__}: {err})") from err
        try:
            self._read_layout()
            self._check_decodable()
        except BaseException:
            self.close()
            raise

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read a window; OpenSlide's transparent outside becomes white, alpha is composited away.

        Raises:
            SlideError: OpenSlide fails on this read, or failed on an earlier one (its handle is then dead).
        """
        location, size = (int(location_xy[0]), int(location_xy[1])), (int(size_wh[0]), int(size_wh[1]))
        what = f"read {size} pixels at level {level}, {location}"
        if self._failure is not None:
            raise SlideError(
                self._path,
                f"OpenSlide cannot {what}: its handle is unusable since an earlier error ({self._failure}); "
                "reopen the slide",
            )
        image = self._call(what, self._slide.read_region, location, level, size)
        rgba = np.asarray(image.convert("RGBA"))  # (H, W, 4) uint8, not premultiplied
        rgb, alpha = rgba[..., :3].copy(), rgba[..., 3]
        partial = alpha < 255  # outside the slide, or a scanner's transparent edge; usually nowhere
        if partial.any():
            a = alpha[partial][:, None] / 255.0
            rgb[partial] = np.round(rgb[partial] * a + BACKGROUND * (1.0 - a)).astype(np.uint8)
        return rgb

    def close(self) -> None:
        """Close the file (a second call does nothing)."""
        if not self._closed:
            self._closed = True
            self._call("close it", self._slide.close)

    def _read_layout(self) -> None:
        """Read the level sizes, downsamples and properties once, while the handle is healthy."""
        self._dimensions = self._call(
            "read its level sizes", lambda: tuple((int(w), int(h)) for w, h in self._slide.level_dimensions)
        )
        self._downsamples = self._call(
            "read its level downsamples", lambda: tuple(float(ds) for ds in self._slide.level_downsamples)
        )
        self._properties: dict[str, Any] = self._call("read its properties", lambda: dict(self._slide.properties))
        if not self._dimensions:
            raise SlideError(self._path, "OpenSlide finds no pyramid level in it")

    def _check_decodable(self) -> None:
        """Decode one pixel of the coarsest level, so undecodable tiles fail at open, before the mpp check."""
        level = len(self._dimensions) - 1
        self._call(f"decode its pixels (one pixel of level {level})", self._slide.read_region, (0, 0), level, (1, 1))

    def _call(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        """Call OpenSlide; any error becomes a SlideError saying what failed (an OpenSlideError kills the handle)."""
        try:
            return function(*args)
        except Exception as err:
            if isinstance(err, self._fatal) and self._failure is None:
                self._failure = f"{type(err).__name__}: {err}"
            raise SlideError(self._path, f"OpenSlide cannot {what} ({type(err).__name__}: {err})") from err
