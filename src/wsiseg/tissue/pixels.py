"""Per-pixel tests on a thumbnail: saturation and its Otsu threshold, near-black pixels, pen ink."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.filters import threshold_otsu

from wsiseg.tissue.params import TissueParams, um_to_kernel_px

CONSTANT_SPAN = 1.0 / 255.0
"""Candidate saturations spanning less than this (one 8-bit step at full brightness) count as one value."""


def check_rgb(thumbnail_rgb: np.ndarray) -> np.ndarray:
    """Return the thumbnail as a contiguous (H, W, 3) uint8 array, or raise ``ValueError``.

    Args:
        thumbnail_rgb: an (H, W, 3) RGB image; uint8, or floats in 0-255.
    """
    image = np.asarray(thumbnail_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
        raise ValueError(f"thumbnail must be a non-empty (H, W, 3) RGB array, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def smooth(thumbnail_rgb: np.ndarray, mpp: float, params: TissueParams) -> np.ndarray:
    """Median-filter each channel of a uint8 RGB thumbnail with a kernel of ``params.median_blur_um``."""
    side = um_to_kernel_px(params.median_blur_um, mpp)
    return thumbnail_rgb if side <= 1 else cv2.medianBlur(thumbnail_rgb, side)


def hue_saturation(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the HSV hue (degrees, 0-360) and saturation (0-1) of a uint8 RGB image, each (H, W) float32."""
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # (H, W, 3)
    return hsv[..., 0], hsv[..., 1]


def exclusion_mask(
    rgb: np.ndarray, mpp: float, params: TissueParams, hue_sat: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Return the (H, W) bool mask of pixels that are never tissue: near-black and pen ink, as switched on.

    Args:
        rgb: the (smoothed) (H, W, 3) uint8 RGB thumbnail.
        mpp: its resolution in micrometres per pixel (sizes the dilation of the excluded regions).
        params: the detector settings.
        hue_sat: :func:`hue_saturation` of ``rgb`` when the caller has it already (computed here otherwise).
    """
    hue, sat = hue_saturation(rgb) if hue_sat is None else hue_sat
    excluded = np.zeros(rgb.shape[:2], dtype=bool)
    if params.remove_black:
        red, green, blue = cv2.split(rgb)
        excluded |= cv2.max(cv2.max(red, green), blue) < params.black_max_value  # the channels' maximum
    inked = sat >= params.pen_min_saturation
    for switched_on, (low, high) in (
        (params.remove_green_pen, params.green_hue_deg),
        (params.remove_blue_pen, params.blue_hue_deg),
    ):
        if switched_on:
            excluded |= inked & (hue >= low) & (hue <= high)
    return _dilate(excluded, um_to_kernel_px(params.exclusion_dilation_um, mpp))


def _dilate(mask: np.ndarray, side: int) -> np.ndarray:
    if side <= 1 or not mask.any():
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def otsu_saturation_threshold(saturation: np.ndarray, candidates: np.ndarray) -> float:
    """Return Otsu's threshold of the saturations of the candidate pixels.

    Without two distinct saturations there is nothing to split, and the result keeps every candidate out
    of the tissue (``saturation > threshold`` is false for all of them): 1.0 when there are no candidates,
    their largest saturation when they span less than :data:`CONSTANT_SPAN`. The span test also keeps
    scikit-image from failing with "Too many bins for data range" on values a float32 step or two apart
    (e.g. the saturations 0.49999994 and 0.4999999 of the RGB pixels (204, 102, 102) and (146, 73, 73)).

    Args:
        saturation: (H, W) saturations, 0-1.
        candidates: (H, W) bool, the pixels that may be tissue (not excluded).
    """
    values = saturation[candidates].astype(np.float64)
    if values.size == 0:
        return 1.0
    low, high = float(values.min()), float(values.max())
    if high - low < CONSTANT_SPAN:
        return high
    return float(threshold_otsu(values, nbins=256))
