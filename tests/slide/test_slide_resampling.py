"""Reads at exact um/px against an analytic pattern rendered directly at the target resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wsiseg.slide import open_slide

SIZE_UM = (360.0, 320.0)  # slide width, height in micrometres
DISKS_UM = [(80.0, 90.0), (230.0, 150.0), (160.0, 250.0)]  # (x, y) centres
RADIUS_UM = 20.0
EDGE_UM = 8.0  # width of the disks' soft edge


def render(shape_hw: tuple[int, int], mpp: float, origin_um: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Point-sample the pattern at pixel centres: stripes in R (x) and G (y), dark soft disks in B."""
    x_um = origin_um[0] + (np.arange(shape_hw[1]) + 0.5) * mpp
    y_um = origin_um[1] + (np.arange(shape_hw[0]) + 0.5) * mpp
    xx, yy = np.meshgrid(x_um, y_um)  # (H, W) each
    red = 128 + 100 * np.sin(xx / 40.0)
    green = 128 + 100 * np.cos(yy / 55.0)
    distance = np.min([np.hypot(xx - cx, yy - cy) for cx, cy in DISKS_UM], axis=0)
    blue = 40 + 180 * np.clip((distance - RADIUS_UM) / EDGE_UM + 0.5, 0.0, 1.0)
    return np.round(np.stack([red, green, blue], axis=-1)).astype(np.uint8)


@pytest.fixture(scope="module")
def scanners(tmp_path_factory: pytest.TempPathFactory, write_pyramid) -> dict[float, Path]:
    """The same tissue 'scanned' at 0.226 (Hamamatsu-like) and 0.243 (3DHistech-like) um/px, lossless."""
    folder = tmp_path_factory.mktemp("scanners")
    paths = {}
    for mpp in (0.226, 0.243):
        shape_hw = (round(SIZE_UM[1] / mpp), round(SIZE_UM[0] / mpp))
        paths[mpp] = write_pyramid(folder / f"scan_{mpp}.tif", render(shape_hw, mpp), mpp, 4, "zlib")
    return paths


def centroid_xy(image: np.ndarray, centre_xy: tuple[float, float], half: int = 35) -> tuple[float, float]:
    """Centroid of the darkness of the blue channel in a window around a disk."""
    x0, y0 = round(centre_xy[0]) - half, round(centre_xy[1]) - half
    window = 220.0 - image[y0 : y0 + 2 * half, x0 : x0 + 2 * half, 2].astype(np.float64)
    rows, cols = np.mgrid[0 : window.shape[0], 0 : window.shape[1]]
    return x0 + (window * cols).sum() / window.sum(), y0 + (window * rows).sum() / window.sum()


@pytest.mark.parametrize("scanner_mpp", [0.226, 0.243])
def test_read_at_one_um_matches_ground_truth(scanners: dict[float, Path], scanner_mpp: float) -> None:
    with open_slide(scanners[scanner_mpp]) as slide:
        assert slide.best_level(1.0) == 2  # 0.904 / 0.972 um/px, then shrunk to exactly 1.0
        out = slide.read_region((0, 0), (340, 300), mpp=1.0)
    truth = render((300, 340), 1.0)
    assert out.shape == (300, 340, 3)
    assert np.abs(out.astype(int) - truth).mean() < 1.5
    for cx, cy in DISKS_UM:  # pixel j covers [j, j + 1) um: a centre at c um is at index c - 0.5
        found = centroid_xy(out, (cx - 0.5, cy - 0.5))
        assert found == pytest.approx((cx - 0.5, cy - 0.5), abs=1.0)


@pytest.mark.parametrize("scanner_mpp", [0.226, 0.243])
@pytest.mark.parametrize("target_mpp", [0.5, 0.3, 2.0])
def test_offset_reads_match_ground_truth(scanners: dict[float, Path], scanner_mpp: float, target_mpp: float) -> None:
    origin_xy = (round(37.0 / scanner_mpp), round(51.0 / scanner_mpp))
    origin_um = (origin_xy[0] * scanner_mpp, origin_xy[1] * scanner_mpp)
    size_wh = (round(250 / target_mpp), round(200 / target_mpp))
    with open_slide(scanners[scanner_mpp]) as slide:
        out = slide.read_region(origin_xy, size_wh, mpp=target_mpp)
    truth = render(size_wh[::-1], target_mpp, origin_um)
    assert np.abs(out.astype(int) - truth).mean() < 1.5


def test_two_scanners_agree_at_the_same_physical_scale(scanners: dict[float, Path]) -> None:
    reads = []
    for mpp in (0.226, 0.243):
        with open_slide(scanners[mpp]) as slide:
            reads.append(slide.read_region((0, 0), (340, 300), mpp=1.0).astype(int))
    assert np.abs(reads[0] - reads[1]).mean() < 1.5


def test_thumbnail_shape_and_content(scanners: dict[float, Path]) -> None:
    with open_slide(scanners[0.226]) as slide:
        width, height = slide.dimensions
        for mpp in (8.0, 2.5, 1.0):
            thumb = slide.thumbnail(mpp)
            assert thumb.shape == (round(height * 0.226 / mpp), round(width * 0.226 / mpp), 3)
            assert thumb.dtype == np.uint8
        thumb = slide.thumbnail(2.5)
    truth = render(thumb.shape[:2], 2.5)
    assert np.abs(thumb.astype(int) - truth).mean() < 3.0


def test_read_tiles_match_read_region_resampled(scanners: dict[float, Path]) -> None:
    rng = np.random.default_rng(3)
    with open_slide(scanners[0.226]) as slide:
        origins = rng.integers(0, 1150, size=(40, 2))  # inside: the slide's border is a hard edge
        tiles = dict(slide.read_tiles(origins, (48, 40), mpp=1.0, block_tiles=3))
        assert sorted(tiles) == list(range(40))
        for index, origin in enumerate(origins):
            single = slide.read_region(origin, (48, 40), mpp=1.0).astype(int)
            assert tiles[index].shape == (40, 48, 3)
            # the block and the single read may sample up to one output px apart: steepest edge is 22.5 / px
            assert np.abs(tiles[index] - single).max() <= 32
            assert np.abs(tiles[index] - single).mean() < 2.0
