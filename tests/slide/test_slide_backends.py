"""Both backends on damaged files: a corrupt JPEG tile, a compression nothing can decode, a closed handle."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from wsiseg.slide import SlideError, open_slide, resolve_backend


@pytest.fixture(params=["tiffslide", "openslide"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "openslide":
        pytest.importorskip("openslide")
    return request.param


@pytest.fixture
def corrupt_tile_slide(tmp_path: Path, write_pyramid, random_image) -> Path:
    """A 1024 x 768 JPEG pyramid whose second level-0 tile (x 256-511, y 0-255) is zeroed out."""
    path = write_pyramid(tmp_path / "corrupt_tile.tif", random_image((768, 1024)))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        offset, count = int(page.dataoffsets[1]), int(page.databytecounts[1])
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * count)
    return path


def _with_compression(path: Path, code: int) -> Path:
    """Overwrite the Compression tag of every page (the tile bytes stay zlib)."""
    with tifffile.TiffFile(path, mode="r+") as tif:
        for page in tif.pages:
            page.tags["Compression"].overwrite(code)
    return path


def test_both_backends_read_the_same_pixels(noise_slide: tuple[Path, np.ndarray], backend: str) -> None:
    path, image = noise_slide
    with open_slide(path, backend=backend) as slide:
        assert slide.dimensions == (700, 600) and slide.level_downsamples == (1.0, 2.0, 4.0)
        assert (slide.mpp, slide.mpp_source) == (pytest.approx(0.25), "backend")
        out = slide.read_region((650, -20), (100, 60), mpp=0.25)
        np.testing.assert_array_equal(out[20:, :50], image[:40, 650:])
        assert (out[:20] == 255).all() and (out[:, 50:] == 255).all()  # outside the slide: white


def test_corrupt_tile_read_twice_is_a_slide_error_both_times(corrupt_tile_slide: Path, backend: str) -> None:
    with open_slide(corrupt_tile_slide, backend=backend) as slide:
        assert slide.read_region((0, 0), (64, 64), mpp=0.243).std() > 30  # a good tile: noise
        for _ in range(2):
            with pytest.raises(SlideError, match=r"corrupt_tile\.tif: .*Not a JPEG file") as info:
                slide.read_region((300, 10), (64, 64), mpp=0.243)
            assert info.value.path == corrupt_tile_slide
        # the level layout and metadata still answer, and thumbnails fail with the file's name, not a bare error
        assert slide.dimensions == (1024, 768) and slide.level_count == 3
        assert slide.properties and slide.mpp == pytest.approx(0.243)
        with pytest.raises(SlideError, match=r"corrupt_tile\.tif: "):
            slide.thumbnail(0.243)


def test_openslide_handle_is_dead_after_an_error_and_every_read_says_so(corrupt_tile_slide: Path) -> None:
    pytest.importorskip("openslide")
    with open_slide(corrupt_tile_slide, backend="openslide") as slide:
        with pytest.raises(SlideError, match="Not a JPEG file"):
            slide.read_region((300, 10), (64, 64), mpp=0.243)
        for read in (
            lambda: slide.read_region((0, 0), (64, 64), mpp=0.243),  # a good tile
            lambda: slide.thumbnail(8.0),
            lambda: list(slide.read_tiles(np.array([[0, 0]]), (32, 32), mpp=0.243)),
        ):
            with pytest.raises(SlideError, match=r"corrupt_tile\.tif: .*unusable since an earlier error.*Not a JPEG"):
                read()


def test_tiffslide_reads_good_tiles_after_a_corrupt_one(corrupt_tile_slide: Path) -> None:
    with open_slide(corrupt_tile_slide) as slide:
        before = slide.read_region((0, 0), (64, 64), mpp=0.243)
        with pytest.raises(SlideError):
            slide.read_region((300, 10), (64, 64), mpp=0.243)
        np.testing.assert_array_equal(slide.read_region((0, 0), (64, 64), mpp=0.243), before)


def test_backends_raise_slide_error_themselves(corrupt_tile_slide: Path, backend: str) -> None:
    from wsiseg.slide.openslide_backend import OpenSlideBackend
    from wsiseg.slide.tiffslide_backend import TiffSlideBackend

    reader = {"tiffslide": TiffSlideBackend, "openslide": OpenSlideBackend}[backend](corrupt_tile_slide)
    with pytest.raises(SlideError, match=r"corrupt_tile\.tif: .*cannot read \(64, 64\) pixels at level 0, \(300, 10\)"):
        reader.read_region((300, 10), 0, (64, 64))
    reader.close()
    reader.close()  # a second close does nothing
    with pytest.raises(SlideError, match=r"corrupt_tile\.tif: "):
        reader.read_region((0, 0), 0, (8, 8))  # reading a closed slide


@pytest.mark.parametrize(
    ("code", "named"),
    [
        pytest.param(34999, "34999 (not a registered TIFF compression)", id="unregistered"),
        pytest.param(34676, "34676 (SGILOG)", id="sgilog"),
    ],
)
@pytest.mark.parametrize(
    ("mpp", "unit"), [pytest.param(25400 / 72, "INCH", id="72dpi"), pytest.param(0.243, "CENTIMETER", id="0.243um")]
)
def test_undecodable_compression_is_refused_at_open_naming_it(
    tmp_path: Path, write_pyramid, random_image, backend: str, code: int, named: str, mpp: float, unit: str
) -> None:
    """A 72 dpi tag (352.8 um/px) used to be reported as an implausible spacing; 0.243 um/px opened fine."""
    path = write_pyramid(tmp_path / "codec.tif", random_image((768, 1024)), mpp=mpp, unit=unit, compression="zlib")
    _with_compression(path, code)
    with pytest.raises(SlideError, match=r"codec\.tif: ") as info:
        open_slide(path, backend=backend)
    message = str(info.value)
    assert "pixel spacing" not in message
    if backend == "tiffslide":
        assert f"level 0 is stored with compression {named}, which tifffile and imagecodecs cannot decode" in message
    else:
        assert str(code) in message or "SGILog" in message


def test_undecodable_coarsest_tile_is_refused_at_open(
    tmp_path: Path, write_pyramid, random_image, backend: str
) -> None:
    """Like OpenSlide's ``unreadable.svs``: the only tile of the only level is a corrupt JPEG."""
    path = write_pyramid(tmp_path / "unreadable.tif", random_image((256, 256)), levels=1)
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages.first.dataoffsets[0])
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * 16)
    expected = "cannot decode the pixels of level 0 (compression 7 (JPEG)" if backend == "tiffslide" else "decode"
    with pytest.raises(SlideError, match=r"unreadable\.tif: .*Not a JPEG file") as info:
        open_slide(path, backend=backend)
    assert expected in str(info.value)


def test_auto_is_tiffslide_for_tiffs_and_openslide_for_what_only_it_reads(jpeg_slide: Path, tmp_path: Path) -> None:
    assert resolve_backend(jpeg_slide) == "tiffslide"  # the faster reader of prediction's block reads
    with open_slide(jpeg_slide, backend="auto") as slide:
        assert type(slide._backend).__name__ == "TiffSlideBackend"
    assert resolve_backend(jpeg_slide, "openslide") == "openslide"
    mirax = tmp_path / "slide.MRXS"
    pytest.importorskip("openslide")
    assert resolve_backend(mirax) == "openslide"


def test_auto_without_openslide_and_a_misspelt_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openslide", None)  # import openslide raises ImportError
    assert resolve_backend(tmp_path / "slide.mrxs") == "tiffslide"  # which then names what it cannot read
    with pytest.raises(ValueError, match="'auto', 'tiffslide' or 'openslide', got 'openslid'"):
        resolve_backend(tmp_path / "slide.tif", "openslid")


@pytest.mark.parametrize(("mpp", "origin"), [(0.243, (37, 11)), (0.6, (101, 203)), (1.0, (0, 0)), (1.7, (333, 5))])
def test_both_backends_give_the_same_jpeg_pixels_at_prediction_resolutions(
    tmp_path: Path, write_pyramid, mpp: float, origin: tuple[int, int]
) -> None:
    """The tolerance ``auto`` relies on: JPEG pyramid, reads from levels 0-2 with resampling, identical pixels."""
    pytest.importorskip("openslide")
    yy, xx = np.mgrid[:1536, :2048]
    smooth = np.stack([128 + 60 * np.sin(xx / 37.0), 128 + 60 * np.cos(yy / 23.0), (xx + yy) % 256], -1)
    path = write_pyramid(tmp_path / "smooth.tif", smooth.astype(np.uint8), mpp=0.243, levels=3)
    reads = {}
    for backend in ("tiffslide", "openslide"):
        with open_slide(path, backend=backend) as slide:
            reads[backend] = slide.read_region(origin, (256, 192), mpp=mpp).astype(int)
    np.testing.assert_array_equal(reads["tiffslide"], reads["openslide"])
