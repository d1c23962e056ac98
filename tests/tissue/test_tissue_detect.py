"""detect_tissue / tissue_roi on synthetic H&E-like thumbnails."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from wsiseg.tissue import TissueParams, detect_tissue, tissue_roi

from .tissue_synth import EOSIN, FakeSlide, Synthetic, make_synthetic


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("mpp", [8.0, 16.0])
def test_roi_matches_the_drawn_tissue(mpp: float) -> None:
    scene = make_synthetic(mpp)
    roi = detect_tissue(scene.rgb, mpp)
    assert roi.mask.shape == scene.rgb.shape[:2]
    assert _iou(roi.mask, scene.tissue) >= 0.9
    assert len(roi.contours_xy) == 3
    assert roi.area_mm2 == pytest.approx(scene.tissue.sum() * (mpp / 1000) ** 2, rel=0.05)


def test_ink_black_borders_and_specks_are_not_tissue(synthetic: Synthetic) -> None:
    mask = detect_tissue(synthetic.rgb, synthetic.mpp).mask
    for name in ("green_pen", "blue_pen", "black", "specks"):
        assert not mask[getattr(synthetic, name)].any(), name


def test_small_hole_filled_big_hole_kept(synthetic: Synthetic) -> None:
    roi = detect_tissue(synthetic.rgb, synthetic.mpp)
    assert roi.mask[synthetic.small_hole].all()
    assert roi.mask[synthetic.big_hole].mean() < 0.01
    assert len(roi.holes_xy) == 1


@pytest.mark.parametrize(("switch", "region"), [("remove_green_pen", "green_pen"), ("remove_blue_pen", "blue_pen")])
def test_pen_removal_is_switchable(synthetic: Synthetic, switch: str, region: str) -> None:
    mask = detect_tissue(synthetic.rgb, synthetic.mpp, TissueParams(**{switch: False})).mask
    assert mask[getattr(synthetic, region)].mean() > 0.9


def test_specks_come_back_without_the_area_filter(synthetic: Synthetic) -> None:
    mask = detect_tissue(synthetic.rgb, synthetic.mpp, TissueParams(min_area_mm2=0.0)).mask
    assert mask[synthetic.specks].mean() > 0.5


def test_hematoxylin_and_eosin_are_kept_with_all_exclusions_on() -> None:
    rgb = np.full((120, 240, 3), 240, dtype=np.uint8)
    rgb[20:100, 20:100] = (120, 80, 160)  # hematoxylin, hue 270
    rgb[20:100, 140:220] = EOSIN  # eosin, hue 322
    mask = detect_tissue(rgb, 8.0).mask
    assert mask[30:90, 30:90].all()
    assert mask[30:90, 150:210].all()


def test_detect_tissue_is_pure(synthetic: Synthetic) -> None:
    before = synthetic.rgb.copy()
    first = detect_tissue(synthetic.rgb, synthetic.mpp)
    second = detect_tissue(synthetic.rgb, synthetic.mpp)
    np.testing.assert_array_equal(synthetic.rgb, before)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert not first.mask.flags.writeable


@pytest.mark.parametrize("noise", [0.0, 4.0, 15.0])
def test_blank_slide_gives_an_empty_roi_and_a_warning(tmp_path, caplog, noise: float) -> None:
    rng = np.random.default_rng(3)
    image = np.clip(240 + rng.normal(0, noise, (200, 300, 3)), 0, 255).astype(np.uint8)
    slide = FakeSlide(image, 8.0, tmp_path / "blank.tif")
    with caplog.at_level(logging.WARNING, logger="wsiseg.tissue"):
        roi = tissue_roi(slide, mpp=8.0)
    assert roi.is_empty
    assert roi.area_mm2 == 0.0
    assert roi.contours_xy == ()
    assert roi.saturation_threshold >= TissueParams().min_saturation
    assert str(slide.path) in caplog.text


def test_tissue_roi_reads_the_thumbnail_at_the_requested_mpp(tmp_path, caplog) -> None:
    scene = make_synthetic(8.0)
    slide = FakeSlide(scene.rgb, 8.0, tmp_path / "slide.tif", mpp=0.25)
    with caplog.at_level(logging.WARNING):
        roi = tissue_roi(slide, mpp=16.0)
    assert roi.mpp == 16.0
    assert roi.slide_mpp == 0.25
    assert roi.mask.shape == (200, 300)
    assert not caplog.text
    assert roi.area_mm2 == pytest.approx(scene.tissue.sum() * 0.008**2, rel=0.05)


def test_contours_are_in_level0_coordinates() -> None:
    rgb = np.full((300, 400, 3), 240, dtype=np.uint8)
    rgb[100:200, 50:250] = EOSIN  # rows 100-199, columns 50-249
    mpp, slide_mpp = 8.0, 0.25
    scale = mpp / slide_mpp
    roi = detect_tissue(rgb, mpp, slide_mpp=slide_mpp)
    (contour,) = roi.contours_xy
    assert contour.dtype == np.float64 and contour.shape[1] == 2
    expected = np.array([50 * scale, 100 * scale, 250 * scale, 200 * scale])  # level-0 box edges
    found = np.array([*contour.min(axis=0), *contour.max(axis=0)])
    np.testing.assert_allclose(found, expected, atol=scale)
    np.testing.assert_allclose(contour.min(axis=0), [50.5 * scale, 100.5 * scale])
    assert roi.contains_xy(np.array([[150 * scale, 150 * scale]]))[0]


def test_bad_thumbnails_are_rejected() -> None:
    with pytest.raises(ValueError, match="RGB"):
        detect_tissue(np.zeros((10, 10), dtype=np.uint8), 8.0)
    with pytest.raises(ValueError, match="mpp"):
        detect_tissue(np.zeros((10, 10, 3), dtype=np.uint8), 0.0)


def _dark_near_constant(shape_hw: tuple[int, int] = (200, 300)) -> np.ndarray:
    """A fluorescence-like thumbnail: near-black (excluded) with two patches of nearly equal saturation."""
    rgb = np.full((*shape_hw, 3), 10, dtype=np.uint8)
    rgb[40:100, 40:120] = (146, 73, 73)  # saturation 0.4999999 in float32
    rgb[120:180, 160:260] = (204, 102, 102)  # saturation 0.49999994, one float32 step above
    return rgb


@pytest.mark.parametrize("kind", ["near_constant", "black", "white"])
def test_degenerate_thumbnails_give_an_empty_roi(kind: str) -> None:
    rgb = {"near_constant": _dark_near_constant(), "black": np.zeros((200, 300, 3), np.uint8)}.get(
        kind, np.full((200, 300, 3), 255, np.uint8)
    )
    roi = detect_tissue(rgb, 8.0)
    assert roi.is_empty and roi.contours_xy == ()
    assert roi.saturation_threshold >= TissueParams().min_saturation


@pytest.mark.parametrize("backend", ["tiffslide", "openslide"])
def test_near_constant_slide_file_gives_an_empty_roi_with_both_backends(tmp_path, caplog, backend: str) -> None:
    if backend == "openslide":
        pytest.importorskip("openslide")
    import tifffile

    from wsiseg.slide import open_slide

    path = tmp_path / "fluorescence.tif"
    resolution = {"resolution": (1e4 / 8.0, 1e4 / 8.0), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(path, _dark_near_constant(), tile=(256, 256), compression="zlib", photometric="rgb", **resolution)
    with open_slide(path, backend=backend) as slide, caplog.at_level(logging.WARNING, logger="wsiseg.tissue"):
        roi = tissue_roi(slide, mpp=8.0)
    assert roi.is_empty and roi.mask.shape == (200, 300)
    assert roi.otsu_threshold == pytest.approx(0.5, abs=1e-6)
    assert "fluorescence.tif: no tissue found" in caplog.text


def test_empty_thumbnail_is_a_slide_error_naming_the_file(tmp_path) -> None:
    from wsiseg.errors import SlideError

    class EmptySlide(FakeSlide):
        def thumbnail(self, mpp: float) -> np.ndarray:
            return np.zeros((0, 0, 3), np.uint8)

    slide = EmptySlide(np.zeros((10, 10, 3), np.uint8), 8.0, tmp_path / "empty_thumb.tif")
    with pytest.raises(SlideError, match=r"empty_thumb\.tif: its thumbnail at 8 um/px is empty"):
        tissue_roi(slide, mpp=8.0)
