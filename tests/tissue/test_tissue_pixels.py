"""Otsu's saturation threshold on degenerate inputs: no candidates, one value, values a float32 step apart."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.filters import threshold_otsu

from wsiseg.tissue.pixels import hue_saturation, otsu_saturation_threshold

# Both have saturation 0.5, but float32 rounding makes them one float32 step apart.
NEAR_EQUAL_RGB = ((204, 102, 102), (146, 73, 73))


def _saturations(*colours: tuple[int, int, int]) -> np.ndarray:
    rgb = np.array([colours], dtype=np.uint8)  # (1, N, 3)
    return hue_saturation(rgb)[1]  # (1, N)


def test_near_equal_pixels_are_one_float32_step_apart_and_crash_plain_otsu() -> None:
    saturation = _saturations(*NEAR_EQUAL_RGB)[0]
    assert saturation.dtype == np.float32
    assert saturation[0] != saturation[1]
    assert np.nextafter(saturation[1], np.float32(1.0)) == saturation[0]
    with pytest.raises(ValueError, match="Too many bins for data range"):
        threshold_otsu(saturation, nbins=256)  # what the detector called before


def test_near_equal_saturations_give_their_maximum() -> None:
    saturation = np.repeat(_saturations(*NEAR_EQUAL_RGB), 50, axis=0)  # (50, 2)
    threshold = otsu_saturation_threshold(saturation, np.ones(saturation.shape, bool))
    assert threshold == pytest.approx(0.5, abs=1e-6)
    assert threshold == float(saturation.max())
    assert not (saturation > threshold).any()  # nothing is tissue


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 1.0),  # no candidates
        ([0.3, 0.3, 0.3], 0.3),  # one value
        ([0.3, 0.3005], 0.3005),  # near-constant (within 1/255): the larger one
    ],
)
def test_degenerate_candidates(values: list[float], expected: float) -> None:
    saturation = np.array([[*values, 0.9]], dtype=np.float64)  # the last pixel is excluded
    candidates = np.array([[True] * len(values) + [False]])
    assert otsu_saturation_threshold(saturation, candidates) == pytest.approx(expected)


def test_two_distinct_saturations_are_split_between_them() -> None:
    saturation = np.array([[0.02] * 60 + [0.6] * 40], dtype=np.float32)
    threshold = otsu_saturation_threshold(saturation, np.ones(saturation.shape, bool))
    assert 0.02 <= threshold < 0.6
