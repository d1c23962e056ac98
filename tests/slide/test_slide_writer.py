"""Pyramid TIFFs written strip by strip: grey, and grey through a colour table (RGBA, lossless)."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff

GREY = TiffOptions(grey=True, tile=256, min_level_size=256, strip_tiles=1)


def _levels(path: Path) -> list[np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        return [page.asarray() for page in tif.pages]


def _pages(path: Path) -> list[dict]:
    with tifffile.TiffFile(path) as tif:
        return [
            {"compression": page.compression.name, "photometric": page.photometric.name,
             "extrasamples": tuple(int(e) for e in page.extrasamples), "description": page.description,
             "subfiletype": page.subfiletype}
            for page in tif.pages
        ]  # fmt: skip


@pytest.fixture
def grey_image() -> np.ndarray:
    """(600, 700) uint8 with every value, smooth enough that reduced levels keep a range."""
    y, x = np.mgrid[0:600, 0:700]
    return ((x + 3 * y) % 256).astype(np.uint8)


def _strips(image: np.ndarray, calls: list[tuple[int, int]]):
    def render(y0: int, h: int) -> np.ndarray:
        calls.append((y0, h))
        return image[y0 : y0 + h]

    return render


@pytest.mark.parametrize("columns", [4, 3])
def test_colour_table_pyramid_is_the_table_of_the_grey_pyramid(tmp_path, grey_image, columns):
    """Every level of the coloured pyramid is ``lut[grey level]``: colours are not averaged across levels."""
    lut = np.random.default_rng(0).integers(0, 256, (256, columns), dtype=np.uint8)
    calls: list[tuple[int, int]] = []
    grey = write_pyramid_tiff(tmp_path / "grey.tif", grey_image.shape, _strips(grey_image, []), 4.0, GREY)
    colour = write_pyramid_tiff(tmp_path / "colour.tif", grey_image.shape, _strips(grey_image, calls), 4.0, GREY,
                                lut=lut, description='{"a": 1}')  # fmt: skip
    assert calls == [(0, 256), (256, 256), (512, 88)]  # level 0 rendered strip by strip, once
    grey_levels, colour_levels = _levels(grey), _levels(colour)
    assert [g.shape for g in grey_levels] == [(600, 700), (300, 350)]
    np.testing.assert_array_equal(grey_levels[0], grey_image)
    for g, c in zip(grey_levels, colour_levels, strict=True):
        assert c.shape == (*g.shape, columns)
        np.testing.assert_array_equal(c, lut[g])
    pages = _pages(colour)
    assert [p["compression"] for p in pages] == ["ADOBE_DEFLATE"] * 2  # lossless, also for 3 columns
    assert {p["photometric"] for p in pages} == {"RGB"}
    assert {p["extrasamples"] for p in pages} == {(2,) if columns == 4 else ()}  # 2: unassociated alpha
    assert [p["description"] for p in pages] == ['{"a": 1}', ""] and [p["subfiletype"] for p in pages] == [0, 1]


def test_grey_pyramid_reduces_by_area(tmp_path, grey_image):
    path = write_pyramid_tiff(tmp_path / "grey.tif", grey_image.shape, _strips(grey_image, []), 4.0, GREY)
    level1 = _levels(path)[1].astype(float)
    means = grey_image.reshape(300, 2, 350, 2).mean(axis=(1, 3))
    assert np.abs(level1 - means).max() <= 0.5 + 1e-9  # the 2 x 2 mean, rounded
    pages = _pages(path)
    assert pages[0]["photometric"] == "MINISBLACK" and pages[0]["compression"] == "ADOBE_DEFLATE"


def test_bad_tables_and_descriptions_are_refused(tmp_path, grey_image):
    render = _strips(grey_image, [])
    with pytest.raises(ValueError, match=r"\(256, 3\) or \(256, 4\) uint8"):
        write_pyramid_tiff(tmp_path / "x.tif", grey_image.shape, render, 4.0, GREY, lut=np.zeros((255, 4), np.uint8))
    with pytest.raises(ValueError, match="philips"):
        write_pyramid_tiff(tmp_path / "x.tif", grey_image.shape, render, 4.0, TiffOptions(mpp_storage="philips"),
                           description="x")  # fmt: skip
    assert not list(tmp_path.iterdir())
