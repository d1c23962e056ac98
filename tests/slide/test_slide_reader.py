from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from wsiseg.slide import ArrayBackend, Slide, SlideBackend, SlideError, open_slide, tile_grid
from wsiseg.slide.tiffslide_backend import TiffSlideBackend


def test_properties_and_repr(jpeg_slide: Path) -> None:
    with open_slide(jpeg_slide) as slide:
        assert isinstance(slide._backend, SlideBackend)
        assert slide.path == jpeg_slide
        assert slide.dimensions == (1024, 768)
        assert slide.level_count == 3
        assert slide.level_dimensions == ((1024, 768), (512, 384), (256, 192))
        assert slide.level_downsamples == (1.0, 2.0, 4.0)
        assert slide.level_mpp(2) == pytest.approx(0.972)
        assert "jpeg.tif" in repr(slide) and "1024, 768" in repr(slide) and "0.243" in repr(slide)
        tile = slide.read_region((100, 200), (64, 32), mpp=0.5)
        assert tile.shape == (32, 64, 3) and tile.dtype == np.uint8


def test_native_read_is_exact(noise_slide: tuple[Path, np.ndarray]) -> None:
    path, image = noise_slide
    with open_slide(path) as slide:
        np.testing.assert_array_equal(slide.read_region((33, 17), (200, 100), mpp=0.25), image[17:117, 33:233])


def test_level_read_without_resampling(noise_slide: tuple[Path, np.ndarray]) -> None:
    path, image = noise_slide
    with open_slide(path) as slide:
        level1 = slide._backend.read_region((0, 0), 1, slide.level_dimensions[1])
        np.testing.assert_array_equal(slide.read_region((40, 20), (50, 30), mpp=0.5), level1[10:40, 20:70])


def test_region_partly_outside_is_white(noise_slide: tuple[Path, np.ndarray]) -> None:
    path, image = noise_slide
    with open_slide(path) as slide:
        out = slide.read_region((-100, -50), (300, 200), mpp=0.25)
        np.testing.assert_array_equal(out[50:, 100:], image[:150, :200])
        assert (out[:50] == 255).all() and (out[:, :100] == 255).all()
        corner = slide.read_region((650, 550), (100, 100), mpp=0.25)
        np.testing.assert_array_equal(corner[:50, :50], image[550:, 650:])
        assert (corner[50:] == 255).all() and (corner[:, 50:] == 255).all()
        assert (slide.read_region((5000, 5000), (10, 10), mpp=0.25) == 255).all()
        coarse = slide.read_region((-200, 0), (100, 50), mpp=1.0)  # level 2 resampled: 50 px outside
        assert (coarse[:, :49] == 255).all() and (coarse[:, 51:] < 250).any(axis=2).mean() > 0.9


def test_read_tiles_identical_at_native_mpp(noise_slide: tuple[Path, np.ndarray]) -> None:
    path, _ = noise_slide
    rng = np.random.default_rng(0)
    origins = np.concatenate([rng.integers(-80, 720, size=(30, 2)), tile_grid((700, 600), (64, 64), (50, 50))])
    with open_slide(path) as slide:
        seen = []
        for index, tile in slide.read_tiles(origins, (64, 48), mpp=0.25):
            np.testing.assert_array_equal(tile, slide.read_region(origins[index], (64, 48), mpp=0.25))
            seen.append(index)
        assert sorted(seen) == list(range(len(origins)))
        assert list(slide.read_tiles(np.zeros((0, 2)), (64, 48), mpp=0.25)) == []


def test_array_backend(noise_slide: tuple[Path, np.ndarray]) -> None:
    path, image = noise_slide
    with open_slide(path) as from_file:
        levels = [from_file._backend.read_region((0, 0), i, wh) for i, wh in enumerate(from_file.level_dimensions)]
        backend = ArrayBackend(levels, 0.25)
        assert isinstance(backend, SlideBackend)
        assert backend.dimensions == (700, 600)
        assert backend.level_dimensions == from_file.level_dimensions
        assert backend.level_downsamples == pytest.approx(from_file.level_downsamples)
        padded = backend.read_region((-4, 6), 1, (10, 10))  # level 1: starts at (-2, 3)
        assert (padded[:, :2] == 255).all()
        np.testing.assert_array_equal(padded[:, 2:], levels[1][3:13, :8])
        memory = Slide.from_arrays(levels, 0.25)
        assert (memory.mpp_source, str(memory.path)) == ("backend", "<memory>")
        for mpp in (0.25, 0.6, 1.3):
            np.testing.assert_array_equal(
                memory.read_region((-30, 41), (70, 50), mpp), from_file.read_region((-30, 41), (70, 50), mpp)
            )


def test_array_backend_grayscale_and_alpha() -> None:
    gray = ArrayBackend([np.full((4, 6), 7, np.uint8)], 1.0).read_region((0, 0), 0, (6, 4))
    rgba = ArrayBackend([np.full((4, 6, 4), 9, np.uint8)], 1.0).read_region((0, 0), 0, (6, 4))
    assert gray.shape == rgba.shape == (4, 6, 3)
    assert (gray == 7).all() and (rgba == 9).all()


def test_bad_request_arguments(jpeg_slide: Path) -> None:
    with open_slide(jpeg_slide) as slide, pytest.raises(ValueError, match="mpp"):
        slide.read_region((0, 0), (0, 10), mpp=1.0)
    with pytest.raises(ValueError, match="backend"):
        open_slide(jpeg_slide, backend="pillow")  # type: ignore[arg-type]


def test_close_closes_backend(jpeg_slide: Path) -> None:
    with open_slide(jpeg_slide) as slide:
        backend = slide._backend
    assert backend._slide._tifffile.filehandle.closed


def _png_as_tif(path: Path) -> Path:
    import cv2

    cv2.imwrite(str(path.with_suffix(".png")), np.zeros((20, 20, 3), np.uint8))
    path.with_suffix(".png").rename(path)
    return path


def _truncated(path: Path, write_pyramid, random_image) -> Path:
    write_pyramid(path, random_image((1024, 1024)), levels=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "png", "truncated"])
def test_bad_inputs_raise_slide_error(tmp_path: Path, kind: str, write_pyramid, random_image) -> None:
    path = tmp_path / f"bad_{kind}.tif"
    if kind == "empty":
        path.touch()
    elif kind == "directory":
        path.mkdir()
    elif kind == "png":
        _png_as_tif(path)
    elif kind == "truncated":
        _truncated(path, write_pyramid, random_image)
    with pytest.raises(SlideError, match=f"bad_{kind}") as info:
        slide = open_slide(path)  # opening or, at the latest, reading must fail
        slide.read_region((0, 0), (1024, 1024), mpp=slide.mpp)
    assert info.value.path == path


def test_failed_backend_read_becomes_slide_error(tmp_path: Path, jpeg_slide: Path) -> None:
    with open_slide(jpeg_slide) as slide:
        slide._backend._slide.close()  # any library failure inside a read: tiffslide's, or a direct tile read's
        os.close(slide._backend._fd)
        with pytest.raises(SlideError, match=r"jpeg\.tif.*cannot read"):
            slide.read_region((0, 0), (10, 10), mpp=0.243)


def test_tiffslide_backend_directly(jpeg_slide: Path) -> None:
    backend = TiffSlideBackend(jpeg_slide)
    assert backend.mpp == pytest.approx(0.243)
    assert backend.read_region((1000, 760), 0, (50, 20))[:, 30:].min() == 255
    backend.close()


def test_openslide_missing_says_how_to_install(jpeg_slide: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "openslide", None)  # import openslide -> ImportError
    with pytest.raises(SlideError, match=r"jpeg\.tif.*pip install wsiseg\[openslide\]"):
        open_slide(jpeg_slide, backend="openslide")
