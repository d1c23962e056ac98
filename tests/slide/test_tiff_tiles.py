"""Direct tile reads (wsiseg.slide.tiff_tiles) give tiffslide's pixels exactly, for every layout they take on."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from wsiseg.slide import open_slide
from wsiseg.slide.tiffslide_backend import TiffSlideBackend

# (name, tifffile.write keyword arguments, samples): the layouts of scanners' and converters' pyramids
LAYOUTS = [
    ("jpeg-rgb", {"compression": "jpeg", "photometric": "rgb"}, 3),  # CAMELYON (ASAP's converter)
    ("jpeg-ycbcr", {"compression": "jpeg", "photometric": "ycbcr"}, 3),  # Aperio SVS: YCbCr 2x2, JPEG tables
    ("deflate-rgb", {"compression": "zlib", "photometric": "rgb", "predictor": True}, 3),
    ("lzw-rgba", {"compression": "lzw", "photometric": "rgb", "extrasamples": ["unassalpha"]}, 4),
    ("raw-grey", {"compression": None, "photometric": "minisblack"}, 1),
]


def write_layout(path: Path, kwargs: dict, samples: int, tile: int = 240, shape_hw=(1010, 1333)) -> Path:
    """A 3-level pyramid of smooth noise whose sides are not multiples of the tile (partial edge tiles)."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (shape_hw[0] // 8, shape_hw[1] // 8, max(samples, 3)), dtype=np.uint8)
    image = cv2.resize(small, shape_hw[::-1], interpolation=cv2.INTER_CUBIC)[..., :samples]
    image = image[..., 0] if samples == 1 else image
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for level in range(3):
            tw.write(image, tile=(tile, tile), subfiletype=0 if level == 0 else 1, metadata=None,
                     resolution=(1e4 / 0.5, 1e4 / 0.5) if level == 0 else None,
                     resolutionunit="CENTIMETER" if level == 0 else None, **kwargs)  # fmt: skip
            image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return path


def windows(level_wh: tuple[int, int], rng: np.random.Generator, n: int = 25) -> list[tuple[int, int, int, int]]:
    """Random windows (x, y, w, h) inside the level, plus the corners and the whole level."""
    w, h = level_wh
    out = [(0, 0, w, h), (w - 1, h - 1, 1, 1), (0, h - 7, 9, 7), (w - 300 if w > 300 else 0, 0, min(300, w), 5)]
    for _ in range(n):
        ww, hh = int(rng.integers(1, min(w, 600))), int(rng.integers(1, min(h, 600)))
        out.append((int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - hh + 1)), ww, hh))
    return out


@pytest.mark.parametrize(("name", "kwargs", "samples"), LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_direct_reads_equal_tiffslides_at_every_level(tmp_path, name, kwargs, samples):
    path = write_layout(tmp_path / f"{name}.tif", kwargs, samples)
    direct, through = TiffSlideBackend(path), TiffSlideBackend(path, direct=False)
    try:
        assert all(t is not None for t in direct._tiles) and through._tiles == ()  # every level read directly
        rng = np.random.default_rng(0)
        for level, (w, h) in enumerate(direct.level_dimensions):
            ds = direct.level_downsamples[level]
            for x, y, ww, hh in windows((w, h), rng):
                location = (int(np.ceil(x * ds)), int(np.ceil(y * ds)))  # a level-0 location mapping to (x, y)
                if int(location[0] / ds) != x or int(location[1] / ds) != y:
                    continue  # float rounding of the downsample: not a window both read alike
                a = direct.read_region(location, level, (ww, hh))
                b = through.read_region(location, level, (ww, hh))
                assert a.shape == (hh, ww, 3) and np.array_equal(a, b), (name, level, x, y, ww, hh)
        # windows sticking out of the slide: white outside, the same pixels inside
        out_a = direct.read_region((-100, -50), 0, (400, 300))
        assert np.array_equal(out_a, through.read_region((-100, -50), 0, (400, 300))) and out_a[:50].min() == 255
    finally:
        direct.close()
        through.close()


def test_threads_read_the_same_pixels_as_one_thread(tmp_path):
    path = write_layout(tmp_path / "s.tif", LAYOUTS[0][1], 3, tile=256, shape_hw=(2048, 2048))
    backend = TiffSlideBackend(path)
    boxes = [((x, y), (300, 300)) for x in range(0, 1700, 170) for y in range(0, 1700, 230)]
    try:
        serial = [backend.read_region(loc, 0, size) for loc, size in boxes]
        with ThreadPoolExecutor(4) as pool:
            parallel = list(pool.map(lambda box: backend.read_region(box[0], 0, box[1]), boxes * 3))
        assert all(np.array_equal(a, b) for a, b in zip(serial * 3, parallel, strict=True))
    finally:
        backend.close()


def test_layouts_it_does_not_take_are_left_to_tiffslide(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (600, 700, 3), dtype=np.uint8)
    striped = tmp_path / "striped.tif"
    tifffile.imwrite(striped, image, rowsperstrip=64, compression="zlib", photometric="rgb",
                     resolution=(2e4, 2e4), resolutionunit="CENTIMETER", metadata=None)  # fmt: skip
    backend = TiffSlideBackend(striped)
    try:
        assert all(t is None for t in backend._tiles) and backend._fd is None
        assert np.array_equal(backend.read_region((10, 20), 0, (300, 200)), image[20:220, 10:310])
    finally:
        backend.close()


def test_the_file_is_released_on_close_and_slides_read_through_open_slide_use_it(tmp_path):
    path = write_layout(tmp_path / "s.tif", LAYOUTS[0][1], 3)
    with open_slide(path) as slide:
        backend = slide._backend
        assert backend._tiles[0] is not None and backend._fd is not None
        region = slide.read_region((0, 0), (64, 64), mpp=1.0)  # resampled from level 1 (1 um/px)
        assert region.shape == (64, 64, 3)
    assert backend._fd is None
