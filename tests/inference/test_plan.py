"""Planning a slide's prediction when its thumbnail defeats Otsu (near-constant colour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from wsiseg.errors import SlideError
from wsiseg.inference import PredictSettings
from wsiseg.inference.plan import plan_or_error, plan_task


def _near_constant_slide(path: Path) -> Path:
    """A 300 x 200 px slide at 8 um/px: near-black, two patches of saturations one float32 step apart."""
    rgb = np.full((200, 300, 3), 10, dtype=np.uint8)
    rgb[40:100, 40:120] = (146, 73, 73)
    rgb[120:180, 160:260] = (204, 102, 102)
    resolution = {"resolution": (1e4 / 8.0, 1e4 / 8.0), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(path, rgb, tile=(256, 256), compression="zlib", photometric="rgb", **resolution)
    return path


@pytest.mark.parametrize("backend", ["tiffslide", "openslide"])
def test_near_constant_slide_is_refused_like_a_blank_one(tmp_path: Path, backend: str) -> None:
    if backend == "openslide":
        pytest.importorskip("openslide")
    path = _near_constant_slide(tmp_path / "dark.tif")
    settings = PredictSettings(model_mpp=4.0, tile=32, heatmap_mpp=4.0, backend=backend)
    with pytest.raises(SlideError, match=r"dark\.tif: no tissue found by the tissue ROI"):
        plan_task("dark", path, settings)
    assert plan_or_error("dark", path, settings).startswith("SlideError: ")
