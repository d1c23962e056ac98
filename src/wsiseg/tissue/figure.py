"""The tissue ROI drawn over its thumbnail (the source paper's Figure 2), saved as a PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from wsiseg.atomic import write_bytes_atomic
from wsiseg.tissue.contours import find_contours
from wsiseg.tissue.pixels import check_rgb
from wsiseg.tissue.roi import TissueROI

OUTLINE_RGB = (0, 200, 0)
"""Colour of the tissue outlines."""
HOLE_RGB = (255, 0, 255)
"""Colour of the outlines of the holes left in the tissue."""


def render_roi_figure(thumbnail_rgb: np.ndarray, roi: TissueROI) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB copy of the thumbnail with the ROI outlines and a caption drawn on it.

    Args:
        thumbnail_rgb: the (H, W, 3) thumbnail the ROI was detected on (same shape as ``roi.mask``).
        roi: the tissue ROI.
    """
    image = check_rgb(thumbnail_rgb).copy()
    if image.shape[:2] != roi.shape_hw:
        raise ValueError(f"thumbnail shape {image.shape[:2]} differs from the ROI mask's {roi.shape_hw}")
    outers, holes = find_contours(roi.mask)
    thickness = max(2, round(min(roi.shape_hw) / 150))
    cv2.drawContours(image, [c[:, None, :] for c in outers], -1, OUTLINE_RGB, thickness)
    cv2.drawContours(image, [c[:, None, :] for c in holes], -1, HOLE_RGB, max(1, thickness // 2))
    _caption(image, f"tissue {roi.area_mm2:.2f} mm2, Otsu {roi.otsu_threshold:.3f}")
    return image


def _caption(image: np.ndarray, text: str) -> None:
    """Write ``text`` in black on a white box in the image's top-left corner, in place."""
    scale = max(0.3, image.shape[1] / 1200)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    margin = max(2, height // 3)
    cv2.rectangle(image, (0, 0), (width + 2 * margin, height + baseline + 2 * margin), (255, 255, 255), -1)
    cv2.putText(image, text, (margin, margin + height), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def save_roi_figure(path: str | Path, thumbnail_rgb: np.ndarray, roi: TissueROI) -> Path:
    """Draw the ROI over its thumbnail and write it as a PNG, atomically (temporary file, then rename).

    Tissue outlines are thick green (:data:`OUTLINE_RGB`), hole outlines magenta (:data:`HOLE_RGB`); a
    caption gives the tissue area in mm^2 and the Otsu threshold. The PNG has the thumbnail's shape.

    Args:
        path: where to write the PNG (parent folders are created).
        thumbnail_rgb: the (H, W, 3) thumbnail the ROI was detected on.
        roi: the tissue ROI.

    Returns:
        The path written.
    """
    path = Path(path)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(render_roi_figure(thumbnail_rgb, roi), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, encoded.tobytes())
    return path
