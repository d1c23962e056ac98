"""The optional OpenSlide backend (``pip install wsiseg[openslide]``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wsiseg.errors import SlideError
from wsiseg.slide.backend import BACKGROUND


class OpenSlideBackend:
    """A :class:`~wsiseg.slide.backend.SlideBackend` over ``openslide.OpenSlide``.

    OpenSlide maps a level-0 location to a level on its own (sub-pixel); reads at levels > 0 can sit up
    to one level pixel away from the ``floor(location / downsample)`` convention of the other backends.

    Args:
        path: The slide file.

    Raises:
        SlideError: openslide-python is not installed, or OpenSlide cannot open the file.
    """

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
        try:
            self._slide = openslide.OpenSlide(str(self._path))
        except Exception as err:
            raise SlideError(self._path, f"OpenSlide cannot open it ({type(err).__name__}: {err})") from err

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return tuple(self._slide.dimensions)

    @property
    def level_count(self) -> int:
        """Number of levels."""
        return int(self._slide.level_count)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        """(width, height) of every level."""
        return tuple(tuple(wh) for wh in self._slide.level_dimensions)

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        """Downsample of every level relative to level 0."""
        return tuple(float(ds) for ds in self._slide.level_downsamples)

    @property
    def properties(self) -> Mapping[str, Any]:
        """OpenSlide's properties (``openslide.mpp-x``, vendor keys, ...)."""
        return dict(self._slide.properties)

    @property
    def mpp(self) -> float | None:
        """``openslide.mpp-x``, or None."""
        value = self._slide.properties.get("openslide.mpp-x")
        return None if value is None else float(value)

    def read_region(self, location_xy: tuple[int, int], level: int, size_wh: tuple[int, int]) -> np.ndarray:
        """Read a window; OpenSlide's transparent outside becomes white, alpha is composited away."""
        image = self._slide.read_region((int(location_xy[0]), int(location_xy[1])), level, tuple(size_wh))
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)  # (H, W, 4)
        alpha = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
        return np.round(rgb).astype(np.uint8)

    def close(self) -> None:
        """Close the file."""
        self._slide.close()
