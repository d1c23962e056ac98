"""save_roi_figure: the paper's Figure 2 as a PNG."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wsiseg.tissue import detect_tissue, save_roi_figure
from wsiseg.tissue.figure import HOLE_RGB, OUTLINE_RGB

from .tissue_synth import Synthetic


def _count(image_rgb: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(image_rgb == np.array(colour, dtype=np.uint8), axis=2).sum())


def test_save_roi_figure_writes_the_outlined_thumbnail(tmp_path, synthetic: Synthetic) -> None:
    roi = detect_tissue(synthetic.rgb, synthetic.mpp)
    target = tmp_path / "figures" / "roi.png"
    written = save_roi_figure(target, synthetic.rgb, roi)
    assert written == target
    image = cv2.imread(str(target), cv2.IMREAD_COLOR)[..., ::-1]
    assert image.shape == synthetic.rgb.shape
    assert _count(image, OUTLINE_RGB) > 500
    assert _count(image, HOLE_RGB) > 50
    assert sorted(p.name for p in target.parent.iterdir()) == ["roi.png"]  # no temporary file left


def test_save_roi_figure_on_an_empty_roi_and_a_mismatched_thumbnail(tmp_path) -> None:
    blank = np.full((60, 80, 3), 240, dtype=np.uint8)
    roi = detect_tissue(blank, 8.0)
    image = cv2.imread(str(save_roi_figure(tmp_path / "blank.png", blank, roi)))
    assert image.shape == (60, 80, 3)
    assert _count(image[..., ::-1], OUTLINE_RGB) == 0
    with pytest.raises(ValueError, match="shape"):
        save_roi_figure(tmp_path / "bad.png", blank[:30], roi)
    assert not (tmp_path / "bad.png").exists()
