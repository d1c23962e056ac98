from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from wsiseg.slide import ArrayBackend, Slide, SlideError, open_slide, resolve_mpp
from wsiseg.slide.mpp import mpp_from_philips_description, mpp_from_resolution, read_tiff_metadata

SMALL = (300, 400)


def test_backend_source(jpeg_slide: Path) -> None:
    with open_slide(jpeg_slide) as slide:
        assert slide.mpp == pytest.approx(0.243)
        assert slide.mpp_source == "backend"
        assert slide.properties["tiffslide.mpp-x"] == pytest.approx(0.243)


def test_centimetre_tags_source(jpeg_slide: Path) -> None:
    assert resolve_mpp(jpeg_slide, None, None) == (pytest.approx(0.243), "tiff-tags")
    slide = Slide(ArrayBackend([np.zeros((8, 8, 3), np.uint8)], None), jpeg_slide)  # library reports none
    assert (slide.mpp, slide.mpp_source) == (pytest.approx(0.243), "tiff-tags")


def test_inch_tags_source(tmp_path: Path, write_pyramid, random_image) -> None:
    path = write_pyramid(tmp_path / "inch.tif", random_image(SMALL), mpp=0.25, unit="INCH")
    meta = read_tiff_metadata(path)
    assert meta.resolution_unit == 2
    assert mpp_from_resolution(meta.x_resolution, meta.resolution_unit) == pytest.approx(0.25)
    assert resolve_mpp(path, None, None) == (pytest.approx(0.25), "tiff-tags")


def test_resolution_tag_function() -> None:
    assert mpp_from_resolution(25400 / 0.5, 2) == pytest.approx(0.5)
    assert mpp_from_resolution(25400 / 0.5, "INCH") == pytest.approx(0.5)
    assert mpp_from_resolution(1e4 / 0.243, 3) == pytest.approx(0.243)
    assert mpp_from_resolution(1e4 / 0.243, "CENTIMETER") == pytest.approx(0.243)
    assert mpp_from_resolution(72.0, 1) is None  # ResolutionUnit NONE: meaningless
    assert mpp_from_resolution(None, 3) is None
    assert mpp_from_resolution(0.0, 3) is None


def test_philips_description_source(tmp_path: Path, write_pyramid, random_image, philips_xml) -> None:
    path = tmp_path / "philips.tif"
    write_pyramid(path, random_image(SMALL), mpp=None, description=philips_xml(0.226))
    with open_slide(path) as slide:
        assert slide.properties.get("tiffslide.mpp-x") is None  # tiffslide finds nothing
        assert slide.mpp == pytest.approx(0.226)
        assert slide.mpp_source == "philips-description"


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "Aperio Image Library",
        "<DataObject><Attribute Name='DICOM_PIXEL_SPACING'>&quot;abc&quot;</Attribute></DataObject>",
        "<DataObject><Attribute Name='DICOM_PIXEL_SPACING'></Attribute></DataObject>",
        "<DataObject DICOM_PIXEL_SPACING <<< not xml",
        "<DataObject><Attribute Name='OTHER'>DICOM_PIXEL_SPACING</Attribute></DataObject>",
        '<!DOCTYPE x [<!ENTITY a "DICOM_PIXEL_SPACING">]><x>&a;</x>',  # entities refused by defusedxml
    ],
)
def test_philips_description_garbage_is_skipped(description: str | None) -> None:
    assert mpp_from_philips_description(description) is None


def test_philips_description_takes_column_spacing() -> None:
    xml = (
        "<DataObject><Attribute Name='DICOM_PIXEL_SPACING'>&quot;0.0005&quot; &quot;0.00025&quot;"
        "</Attribute><Attribute Name='DICOM_PIXEL_SPACING'>&quot;9&quot;</Attribute></DataObject>"
    )
    assert mpp_from_philips_description(xml) == pytest.approx(0.25)
    assert mpp_from_philips_description(xml.encode()) == pytest.approx(0.25)


def test_argument_source(tmp_path: Path, write_pyramid, random_image) -> None:
    path = write_pyramid(tmp_path / "bare.tif", random_image(SMALL), mpp=None)
    with open_slide(path, mpp=0.25) as slide:
        assert (slide.mpp, slide.mpp_source) == (0.25, "argument")


def test_argument_wins_and_warns_on_disagreement(jpeg_slide: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wsiseg.slide.mpp"), open_slide(jpeg_slide, mpp=0.3) as slide:
        assert (slide.mpp, slide.mpp_source) == (0.3, "argument")
    assert "disagrees" in caplog.text and "jpeg.tif" in caplog.text and "0.243" in caplog.text


def test_argument_agreeing_within_two_percent_is_silent(jpeg_slide: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), open_slide(jpeg_slide, mpp=0.245) as slide:
        assert slide.mpp_source == "argument"
    assert "disagrees" not in caplog.text


def test_missing_mpp_says_how_to_give_it(tmp_path: Path, write_pyramid, random_image) -> None:
    path = write_pyramid(tmp_path / "no_spacing.tif", random_image(SMALL), mpp=None)
    with pytest.raises(SlideError) as info:
        open_slide(path)
    message = str(info.value)
    assert "no_spacing.tif" in message
    assert "mpp=" in message and "inference.slide_mpp=" in message and "resolution tags" in message


def test_missing_mpp_in_memory() -> None:
    with pytest.raises(SlideError, match="<memory>.*mpp="):
        Slide.from_arrays([np.zeros((4, 4, 3), np.uint8)], None)


def test_implausible_mpp_rejected(tmp_path: Path, write_pyramid, random_image) -> None:
    path = write_pyramid(tmp_path / "dpi72.tif", random_image(SMALL), mpp=25400 / 72, unit="INCH")
    with pytest.raises(SlideError, match=r"dpi72\.tif.*plausible.*mpp="):
        open_slide(path)
    with open_slide(path, mpp=0.25) as slide:  # a hand-given mpp rescues it
        assert slide.mpp == 0.25
    with pytest.raises(SlideError, match="plausible"):
        open_slide(path, mpp=0.01)
