"""The tissue region of interest of a slide: Otsu on saturation plus contours, as in the source paper (3.1).

``detect_tissue`` is pure (a thumbnail array in, a :class:`TissueROI` out); ``tissue_roi`` reads the
thumbnail from a slide object.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from wsiseg.errors import SlideError
from wsiseg.tissue.contours import clean_mask, find_contours
from wsiseg.tissue.geometry import box_coverage, integral_image, level0_to_pixels_xy, pixels_to_level0_xy
from wsiseg.tissue.params import DEFAULT_PARAMS, TissueParams, mm2_to_px, um_to_kernel_px
from wsiseg.tissue.pixels import check_rgb, exclusion_mask, hue_saturation, otsu_saturation_threshold, smooth

logger = logging.getLogger(__name__)


class SlideLike(Protocol):
    """What the tissue stage needs of a slide (``wsiseg.slide`` objects satisfy it)."""

    @property
    def mpp(self) -> float:
        """Level-0 resolution in micrometres per pixel."""
        ...

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 size (width, height) in pixels."""
        ...

    @property
    def path(self) -> str | Path:
        """Where the slide was read from."""
        ...

    def thumbnail(self, mpp: float) -> np.ndarray:
        """Return the whole slide as an (H, W, 3) uint8 RGB array at ``mpp`` micrometres per pixel."""
        ...


@dataclass(frozen=True, eq=False)
class TissueROI:
    """The tissue mask of one slide at a thumbnail resolution, with its outline in level-0 coordinates.

    Attributes:
        mask: (H, W) bool tissue mask at ``mpp`` (read-only).
        mpp: the mask's resolution in micrometres per pixel.
        slide_mpp: the slide's level-0 resolution; level-0 pixels per mask pixel = ``mpp / slide_mpp``.
        contours_xy: outer contours of the tissue pieces, each (N, 2) float64 level-0 (x, y) of the
            centres of the boundary pixels.
        holes_xy: contours of the holes left in the tissue (larger than the filled size), same form.
        otsu_threshold: Otsu's saturation threshold (0-1) on the candidate pixels.
        saturation_threshold: the threshold applied, ``max(otsu_threshold, params.min_saturation)``.
    """

    mask: np.ndarray
    mpp: float
    slide_mpp: float
    contours_xy: tuple[np.ndarray, ...]
    holes_xy: tuple[np.ndarray, ...]
    otsu_threshold: float
    saturation_threshold: float

    def __post_init__(self) -> None:
        if self.mpp <= 0 or self.slide_mpp <= 0:
            raise ValueError(f"mpp and slide_mpp must be > 0, got {self.mpp} and {self.slide_mpp}")
        mask = np.array(self.mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
        mask.setflags(write=False)
        object.__setattr__(self, "mask", mask)

    @functools.cached_property
    def _table(self) -> np.ndarray:
        """The mask's summed-area table, made on the first coverage query (prediction never asks one)."""
        return integral_image(self.mask)

    @property
    def scale(self) -> float:
        """Level-0 pixels per mask pixel."""
        return self.mpp / self.slide_mpp

    @property
    def shape_hw(self) -> tuple[int, int]:
        """The mask's (height, width)."""
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))

    @property
    def is_empty(self) -> bool:
        """Whether no tissue was found."""
        return not bool(self.mask.any())

    @property
    def area_mm2(self) -> float:
        """Tissue area in mm^2."""
        return float(np.count_nonzero(self.mask)) * (self.mpp / 1000.0) ** 2

    @property
    def tissue_fraction(self) -> float:
        """Fraction of the thumbnail that is tissue."""
        return float(np.count_nonzero(self.mask)) / self.mask.size

    def coverage(self, origin_xy: tuple[float, float], size_wh: tuple[float, float]) -> float:
        """Return the fraction of a level-0 box covered by tissue (area outside the slide counts as none).

        Args:
            origin_xy: the box's top-left corner, level-0 (x, y).
            size_wh: the box's level-0 (width, height), both > 0.
        """
        return float(self.coverage_many(np.asarray(origin_xy, dtype=np.float64)[None], size_wh)[0])

    def coverage_many(self, origins_xy: np.ndarray, size_wh: tuple[float, float] | np.ndarray) -> np.ndarray:
        """Return the tissue coverage of many level-0 boxes at once.

        Args:
            origins_xy: (N, 2) top-left corners, level-0 (x, y).
            size_wh: one (width, height) for all boxes, or (N, 2), level-0 pixels.

        Returns:
            (N,) float64 fractions in [0, 1].
        """
        origins = np.asarray(origins_xy, dtype=np.float64).reshape(-1, 2) / self.scale
        return box_coverage(self._table, origins, np.asarray(size_wh, dtype=np.float64) / self.scale)

    def contains_xy(self, points_xy: np.ndarray) -> np.ndarray:
        """Return, for each level-0 (x, y) point, whether the mask pixel holding it is tissue.

        Args:
            points_xy: (N, 2) level-0 coordinates (points outside the slide are not tissue).

        Returns:
            (N,) bool array.
        """
        pixels = level0_to_pixels_xy(points_xy, self.scale)
        cols, rows = pixels[:, 0], pixels[:, 1]
        height, width = self.shape_hw
        inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        result = np.zeros(len(pixels), dtype=bool)
        result[inside] = self.mask[rows[inside], cols[inside]]
        return result


def detect_tissue(
    thumbnail_rgb: np.ndarray,
    mpp: float,
    params: TissueParams = DEFAULT_PARAMS,
    *,
    slide_mpp: float | None = None,
) -> TissueROI:
    """Find the tissue in a slide thumbnail: Otsu on HSV saturation, exclusions, morphology, contours.

    Steps: median blur; near-black and pen-ink pixels excluded (as switched on in ``params``); Otsu's
    threshold on the saturation of the other pixels, floored at ``params.min_saturation`` so a blank slide
    gives no tissue; closing then opening; pieces smaller than ``min_area_mm2`` dropped and holes
    smaller than ``max_hole_area_mm2`` filled, through ``cv2.findContours(RETR_CCOMP)``.

    Args:
        thumbnail_rgb: (H, W, 3) uint8 RGB image of the whole slide.
        mpp: the thumbnail's resolution in micrometres per pixel.
        params: the detector settings.
        slide_mpp: the slide's level-0 resolution, to express contours in level-0 pixels; ``None`` means
            the thumbnail is level 0.

    Returns:
        The tissue ROI (possibly empty).
    """
    rgb = smooth(check_rgb(thumbnail_rgb), mpp, params)
    hue_sat = hue_saturation(rgb)
    saturation = hue_sat[1]
    excluded = exclusion_mask(rgb, mpp, params, hue_sat)
    otsu = otsu_saturation_threshold(saturation, ~excluded)
    threshold = max(otsu, params.min_saturation)
    mask = _morphology((saturation > threshold) & ~excluded, excluded, mpp, params)
    mask = clean_mask(mask, mm2_to_px(params.min_area_mm2, mpp), mm2_to_px(params.max_hole_area_mm2, mpp))
    scale = mpp / (mpp if slide_mpp is None else slide_mpp)
    outers, holes = find_contours(mask)
    return TissueROI(
        mask=mask,
        mpp=float(mpp),
        slide_mpp=float(mpp if slide_mpp is None else slide_mpp),
        contours_xy=tuple(pixels_to_level0_xy(c, scale) for c in outers),
        holes_xy=tuple(pixels_to_level0_xy(c, scale) for c in holes),
        otsu_threshold=otsu,
        saturation_threshold=threshold,
    )


def _morphology(mask: np.ndarray, excluded: np.ndarray, mpp: float, params: TissueParams) -> np.ndarray:
    """Close then open a bool mask with elliptical kernels sized in micrometres; excluded pixels stay out."""
    out = mask.astype(np.uint8)
    for size_um, operation in ((params.closing_um, cv2.MORPH_CLOSE), (params.opening_um, cv2.MORPH_OPEN)):
        side = um_to_kernel_px(size_um, mpp)
        if side > 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
            out = cv2.morphologyEx(out, operation, kernel)
            out[excluded] = 0
    return out.astype(bool)


def tissue_roi(slide: SlideLike, mpp: float | None = None, params: TissueParams = DEFAULT_PARAMS) -> TissueROI:
    """Return the tissue ROI of a slide from its thumbnail at ``mpp`` micrometres per pixel.

    A slide without tissue (blank, all background, or of one near-constant colour) gives an empty ROI and a
    logged warning, not an error.

    Args:
        slide: the slide (see :class:`SlideLike`).
        mpp: the thumbnail resolution to work at (8-16 um/px suits the default ``params``); ``None``:
            ``params.thumbnail_mpp``.
        params: the detector settings.

    Raises:
        SlideError: the slide gives an empty (zero-pixel) thumbnail.
    """
    mpp = params.thumbnail_mpp if mpp is None else mpp
    thumbnail = np.asarray(slide.thumbnail(mpp))
    if thumbnail.size == 0:
        message = f"its thumbnail at {mpp:g} um/px is empty (shape {thumbnail.shape}); no tissue ROI"
        raise SlideError(slide.path, message)
    roi = detect_tissue(thumbnail, mpp, params, slide_mpp=float(slide.mpp))
    if roi.is_empty:
        logger.warning(
            "%s: no tissue found (saturation threshold %.3f, Otsu %.3f); the tissue ROI is empty",
            slide.path,
            roi.saturation_threshold,
            roi.otsu_threshold,
        )
    return roi
