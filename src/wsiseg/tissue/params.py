"""The tissue detector's settings: one frozen record, every threshold a field, sizes in micrometres."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TissueParams:
    """Settings of the Otsu + contour tissue detector (stage 1 of the pipeline).

    The defaults suit real H&E slides seen through a thumbnail of about 8-16 um/px. Sizes are physical
    (micrometres, mm^2) and converted to pixels with the thumbnail's resolution, so the same settings
    work at any thumbnail resolution. Saturations are on a 0-1 scale, hues in degrees (0-360).

    Attributes:
        thumbnail_mpp: resolution of the thumbnail the detector works on (um/px); the one ROI resolution of
            every stage (patch sampling, prediction, pictures).
        min_saturation: floor of the saturation threshold; the applied threshold is
            ``max(otsu, min_saturation)``, so a blank or near-uniform slide (where Otsu splits noise)
            gives no tissue.
        median_blur_um: side of the median filter applied to the thumbnail before any test.
        closing_um: diameter of the elliptical closing that joins nearby tissue fragments.
        opening_um: diameter of the elliptical opening that removes thin specks and threads.
        min_area_mm2: tissue pieces whose outer contour encloses less than this are dropped.
        max_hole_area_mm2: holes inside tissue smaller than this are filled; larger ones stay out.
        remove_black: exclude near-black pixels (scanner borders, black ink).
        black_max_value: a pixel is near-black when ``max(R, G, B)`` is below this (0-255).
        remove_green_pen: exclude saturated green ink.
        green_hue_deg: hue range (degrees, inclusive) of green ink.
        remove_blue_pen: exclude saturated blue ink.
        blue_hue_deg: hue range (degrees, inclusive) of blue ink; hematoxylin (purple, ~250-300) and eosin
            (pink, ~320-360) lie outside it.
        pen_min_saturation: a pixel in a pen hue range is ink only if at least this saturated.
        exclusion_dilation_um: excluded regions (black, ink) are grown by this much to take their
            blurred edges with them.
    """

    thumbnail_mpp: float = 8.0
    min_saturation: float = 0.08
    median_blur_um: float = 40.0
    closing_um: float = 64.0
    opening_um: float = 32.0
    min_area_mm2: float = 0.05
    max_hole_area_mm2: float = 0.5
    remove_black: bool = True
    black_max_value: int = 50
    remove_green_pen: bool = True
    green_hue_deg: tuple[float, float] = (70.0, 190.0)
    remove_blue_pen: bool = True
    blue_hue_deg: tuple[float, float] = (190.0, 235.0)
    pen_min_saturation: float = 0.15
    exclusion_dilation_um: float = 24.0

    def __post_init__(self) -> None:
        for name in _HUE_RANGES:  # a config gives lists; the record keeps tuples
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not self.thumbnail_mpp > 0:
            raise ValueError(f"TissueParams.thumbnail_mpp must be > 0 um/px, got {self.thumbnail_mpp}")
        for names, low, high, unit in _BOUNDS:
            for name in names:
                _check_bounds(name, getattr(self, name), low, high, unit)
        for name in _HUE_RANGES:
            _check_hue_range(name, getattr(self, name))


_HUE_RANGES = ("green_hue_deg", "blue_hue_deg")
_BOUNDS: tuple[tuple[tuple[str, ...], float, float, str], ...] = (  # (fields, low, high, unit), bounds inclusive
    (("min_saturation", "pen_min_saturation"), 0.0, 1.0, ""),
    (("median_blur_um", "closing_um", "opening_um", "exclusion_dilation_um"), 0.0, float("inf"), " micrometres"),
    (("min_area_mm2", "max_hole_area_mm2"), 0.0, float("inf"), " mm^2"),
    (("black_max_value",), 0, 256, ""),
)


def _check_bounds(name: str, value: float, low: float, high: float, unit: str) -> None:
    """Raise unless ``low <= value <= high``."""
    if not low <= value <= high:
        bounds = f">= {low:g}" if high == float("inf") else f"in [{low:g}, {high:g}]"
        raise ValueError(f"TissueParams.{name} must be {bounds}{unit}, got {value}")


def _check_hue_range(name: str, hues: tuple[float, ...]) -> None:
    """Raise unless ``hues`` is ``(low, high)`` with ``0 <= low <= high <= 360`` degrees."""
    if len(hues) != 2:
        raise ValueError(f"TissueParams.{name} must be (low, high), got {hues}")
    low, high = hues
    if not 0.0 <= low <= high <= 360.0:
        raise ValueError(f"TissueParams.{name} must be (low, high) with 0 <= low <= high <= 360, got {hues}")


DEFAULT_PARAMS = TissueParams()
"""The default settings, shared (the record is immutable)."""


def um_to_kernel_px(size_um: float, mpp: float) -> int:
    """Return the odd kernel side in pixels closest to ``size_um`` at ``mpp`` (1 means no filtering).

    Args:
        size_um: the physical size in micrometres.
        mpp: the image's resolution in micrometres per pixel.
    """
    if mpp <= 0:
        raise ValueError(f"mpp must be > 0, got {mpp}")
    side = max(1, round(size_um / mpp))
    return side if side % 2 == 1 else side + 1


def mm2_to_px(area_mm2: float, mpp: float) -> float:
    """Return the number of pixels covering ``area_mm2`` at ``mpp`` micrometres per pixel."""
    if mpp <= 0:
        raise ValueError(f"mpp must be > 0, got {mpp}")
    return area_mm2 / (mpp / 1000.0) ** 2
