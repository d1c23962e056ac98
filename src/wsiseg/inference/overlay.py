"""What a viewer needs to draw a heatmap over its slide: where it lies (placement) and how it is coloured.

Placement: the heatmap's pixel (0, 0) has its top-left corner on the slide's level-0 (0, 0) and each heatmap pixel
spans ``downsample = heatmap_mpp / slide_mpp`` level-0 pixels, so heatmap pixel (i, j) covers level-0
``[j * downsample, (j + 1) * downsample) x [i * downsample, (i + 1) * downsample)``. The heatmap has
``ceil(slide extent / heatmap_mpp)`` pixels a side (:func:`~wsiseg.inference.tiling.make_tile_grid`), so its
extent overshoots the slide's right and bottom edges by under one heatmap pixel: a viewer that places it by
its origin and pixel size draws it exactly; one that stretches it to the slide's width (ASAP) spreads the
overshoot over the slide, off by at most the overshoot at the right edge and the overshoot times
height / width at the bottom.

Colours: OpenCV's ``COLORMAP_JET`` (the overlay PNG's) of the 8-bit probability ``round(255 p)``; alpha 0 below
:data:`DISPLAY_FLOOR` (the pixel is then (0, 0, 0, 0)), rising linearly to 255 at :data:`OPAQUE_AT`, so tissue
shows through where nothing was found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from wsiseg.inference.tiling import TileGrid

#: Probabilities below this are transparent in the colour TIFF and the overlay PNG.
DISPLAY_FLOOR = 0.1
#: The colour TIFF's alpha reaches 255 at this probability (linear from :data:`DISPLAY_FLOOR`).
OPAQUE_AT = 0.5
#: The colour map's name (OpenCV's ``COLORMAP_JET``, as in the overlay PNG).
COLOUR_MAP = "jet"
#: The ImageDescription's marker: ``{"wsiseg": "heatmap", ...}``.
DESCRIPTION_MARK = "heatmap"
Content = Literal["probability", "colour"]

_VALUES = {
    "probability": "uint8 = round(255 * p)",
    "colour": f"RGBA = OpenCV COLORMAP_JET of round(255 * p); alpha 0 below p = {DISPLAY_FLOOR}, linear to 255 at "
    f"p = {OPAQUE_AT}",
}


@dataclass(frozen=True)
class Placement:
    """Where a heatmap lies on its slide.

    Attributes:
        slide: the slide's file name.
        slide_wh: the slide's level-0 (width, height), or ``None`` where unknown.
        slide_mpp: the slide's level-0 um/px.
        heatmap_wh: the heatmap's (width, height).
        heatmap_mpp: the heatmap's um/px.
        origin_xy: the heatmap's top-left corner in level-0 pixels (the slide's top-left corner: (0, 0)).
    """

    slide: str
    slide_wh: tuple[int, int] | None
    slide_mpp: float
    heatmap_wh: tuple[int, int]
    heatmap_mpp: float
    origin_xy: tuple[float, float] = (0.0, 0.0)

    @property
    def downsample(self) -> float:
        """Level-0 pixels per heatmap pixel."""
        return self.heatmap_mpp / self.slide_mpp

    @property
    def extent_wh(self) -> tuple[float, float]:
        """The level-0 (width, height) the heatmap covers from its origin (at least the slide's)."""
        return self.heatmap_wh[0] * self.downsample, self.heatmap_wh[1] * self.downsample

    def record(self) -> dict[str, Any]:
        """Plain values for JSON: the ``placement`` of a slide's ``.json`` and of its TIFFs' ImageDescription."""
        return {
            "slide": self.slide, "slide_wh": list(self.slide_wh) if self.slide_wh else None,
            "slide_mpp": self.slide_mpp, "heatmap_wh": list(self.heatmap_wh), "heatmap_mpp": self.heatmap_mpp,
            "origin_level0_xy": list(self.origin_xy), "downsample": self.downsample,
            "extent_level0_wh": list(self.extent_wh),
        }  # fmt: skip


def heatmap_placement(grid: TileGrid, slide: str) -> Placement:
    """The placement of a heatmap on ``grid`` over the slide file named ``slide`` (origin: its top-left corner)."""
    h, w = grid.heatmap_hw
    return Placement(slide, grid.slide_wh, grid.slide_mpp, (w, h), grid.heatmap_mpp)


def tiff_description(placement: Placement, content: Content) -> str:
    """A heatmap TIFF's ImageDescription: one line of JSON, its placement and how its values encode ``p``.

    ``{"wsiseg": "heatmap", "version": 1, "content": "probability" | "colour", "values": "...", ...}``
    followed by :meth:`Placement.record`'s keys; the colour TIFF adds ``colour_map``, ``display_floor`` and
    ``opaque_at``.
    """
    head: dict[str, Any] = {"wsiseg": DESCRIPTION_MARK, "version": 1, "content": content, "values": _VALUES[content]}
    if content == "colour":
        head |= {"colour_map": COLOUR_MAP, "display_floor": DISPLAY_FLOOR, "opaque_at": OPAQUE_AT}
    return json.dumps(head | placement.record())


def read_description(text: str) -> dict[str, Any]:
    """The record of a heatmap TIFF's ImageDescription (:func:`tiff_description`).

    Raises:
        ValueError: not a wsiseg heatmap description.
    """
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not a wsiseg heatmap description: {text[:80]!r}") from err
    if not isinstance(record, dict) or record.get("wsiseg") != DESCRIPTION_MARK:
        raise ValueError(f"not a wsiseg heatmap description: {text[:80]!r}")
    return record


def display_alpha(probability: np.ndarray) -> np.ndarray:
    """Opacity in [0, 1]: 0 below :data:`DISPLAY_FLOOR`, linear to 1 at :data:`OPAQUE_AT` and above."""
    return np.clip((np.asarray(probability, np.float32) - DISPLAY_FLOOR) / (OPAQUE_AT - DISPLAY_FLOOR), 0, 1)


def jet_rgb(values: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB of OpenCV's ``COLORMAP_JET`` for uint8 ``values``."""
    values = np.asarray(values, np.uint8)
    return cv2.applyColorMap(values.reshape(-1, 1), cv2.COLORMAP_JET)[:, 0, ::-1].reshape(*values.shape, 3)


def colour_table() -> np.ndarray:
    """(256, 4) uint8 RGBA of each 8-bit probability ``v`` (``p = v / 255``): jet colour, display alpha.

    Transparent entries (``p`` below :data:`DISPLAY_FLOOR`) are (0, 0, 0, 0), as premultiplied readers
    (OpenSlide) return them anyway: the low probabilities of tissue then compress like empty glass (measured
    on a synthetic 5941 x 13437 px heatmap with p < 0.05 over its tissue: 0.7 MB in 2.9 s, against 43 MB in
    7.6 s with the colour map's blues under alpha 0).
    """
    values = np.arange(256)
    alpha = np.round(255 * display_alpha(values / 255)).astype(np.uint8)
    table = np.concatenate([jet_rgb(values), alpha[:, None]], axis=1)
    table[alpha == 0] = 0
    return table
