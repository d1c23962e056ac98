"""The heatmap TIFFs open in tiffslide and OpenSlide with the heatmap's spacing, extent, values and placement."""

import json
import math
from pathlib import Path

import numpy as np
import openslide
import pytest
import tiffslide

from tests.inference.test_stitching import predict
from wsiseg.inference import (
    PredictSettings,
    SlidePrediction,
    colour_table,
    find_slides,
    is_complete,
    make_tile_grid,
    output_paths,
    read_description,
    write_outputs,
)
from wsiseg.inference.claims import stale_files
from wsiseg.inference.outputs import SUFFIXES, add_heatmap_tiffs
from wsiseg.slide import open_slide

SLIDE_WH, SLIDE_MPP, HEATMAP_MPP = (5597, 4795), 0.5, 4.0  # -> 700 x 600 heatmap px (5600 x 4800 level-0 px)
META = {"checkpoint_digest": "ckpt", "config_digest": "cfg"}


def known_heatmap() -> tuple[np.ndarray, np.ndarray]:
    """(600, 700) probabilities ``v / 255`` for every 8-bit value v, and those values (the grey TIFF's pixels)."""
    y, x = np.mgrid[0:600, 0:700]
    values = ((x + 3 * y) % 256).astype(np.uint8)
    return values / 255, values


@pytest.fixture
def written(tmp_path) -> tuple[dict[str, Path], np.ndarray]:
    """A known heatmap's outputs, both TIFFs included, and its 8-bit values."""
    probability, values = known_heatmap()
    grid = make_tile_grid(SLIDE_WH, SLIDE_MPP, 2.0, 64, HEATMAP_MPP, 0.0)
    prediction = SlidePrediction("slide_a", Path("/data/slides/slide_a.tif"), grid, probability, probability > 0.5)
    return write_outputs(tmp_path, prediction, META, tiff=True, png=False, tiff_colour=True), values


def _tiffslide(path: Path, level: int) -> tuple[dict, np.ndarray, tuple]:
    with tiffslide.TiffSlide(path) as slide:
        w, h = slide.level_dimensions[level]
        pixels = slide.read_region((0, 0), level, (w, h), as_array=True)
        return dict(slide.properties), pixels, slide.level_dimensions


def _openslide(path: Path, level: int) -> tuple[dict, np.ndarray, tuple]:
    with openslide.OpenSlide(path) as slide:
        pixels = np.asarray(slide.read_region((0, 0), level, slide.level_dimensions[level]))  # RGBA
        return dict(slide.properties), pixels, slide.level_dimensions


def _check_placement(description: str, content: str) -> None:
    record = read_description(description)
    assert record["content"] == content and record["slide"] == "slide_a.tif"
    assert record["slide_wh"] == [5597, 4795] and record["slide_mpp"] == SLIDE_MPP
    assert record["heatmap_wh"] == [700, 600] and record["heatmap_mpp"] == HEATMAP_MPP
    assert record["origin_level0_xy"] == [0.0, 0.0] and record["downsample"] == 8.0
    assert record["extent_level0_wh"] == [5600.0, 4800.0]  # covers the slide, 3 and 5 level-0 px over


def test_grey_tiff_in_tiffslide_and_openslide(written):
    paths, values = written
    props, pixels, dims = _tiffslide(paths["tiff"], 0)
    assert dims == ((700, 600), (350, 300))  # ceil(5597 * 0.5 / 4), ceil(4795 * 0.5 / 4); one reduced level
    assert props["tiffslide.mpp-x"] == pytest.approx(4.0) and props["tiffslide.mpp-y"] == pytest.approx(4.0)
    np.testing.assert_array_equal(pixels[..., 0], values)  # round(255 p), exactly
    _check_placement(props["tiff.ImageDescription"], "probability")
    props, pixels, dims = _openslide(paths["tiff"], 0)
    assert dims == ((700, 600), (350, 300)) and props["openslide.level[1].downsample"] == "2"
    assert float(props["openslide.mpp-x"]) == pytest.approx(4.0) and float(props["openslide.mpp-y"]) == 4.0
    np.testing.assert_array_equal(pixels[..., 0], values)
    assert (pixels[..., 3] == 255).all()
    _check_placement(props["openslide.comment"], "probability")
    level1 = _openslide(paths["tiff"], 1)[1][..., 0].astype(float)
    assert np.abs(level1 - values.reshape(300, 2, 350, 2).mean(axis=(1, 3))).max() <= 0.5 + 1e-9


def test_colour_tiff_in_tiffslide_and_openslide(written):
    paths, values = written
    table = colour_table()
    props, pixels, dims = _tiffslide(paths["tiff_colour"], 0)
    assert dims == ((700, 600), (350, 300)) and props["tiffslide.mpp-x"] == pytest.approx(4.0)
    assert pixels.shape == (600, 700, 4)
    np.testing.assert_array_equal(pixels, table[values])
    at = {v: tuple(pixels[np.nonzero(values == v)[0][0], np.nonzero(values == v)[1][0]]) for v in (0, 25, 64, 255)}
    assert at[0] == at[25] == (0, 0, 0, 0)  # p = 0.098: below the display floor, transparent
    assert at[64][3] == 96 and at[255] == (128, 0, 0, 255)  # p = 0.251: (0.251 - 0.1) / 0.4 * 255; p = 1: opaque
    _check_placement(props["tiff.ImageDescription"], "colour")
    grey_level1 = _tiffslide(paths["tiff"], 1)[1][..., 0]
    np.testing.assert_array_equal(_tiffslide(paths["tiff_colour"], 1)[1], table[grey_level1])  # level 1 too
    props, pixels, dims = _openslide(paths["tiff_colour"], 0)
    assert dims == ((700, 600), (350, 300)) and float(props["openslide.mpp-x"]) == pytest.approx(4.0)
    np.testing.assert_array_equal(pixels[..., 3], table[values, 3])  # alpha exactly
    opaque = table[values, 3] >= 128  # OpenSlide premultiplies alpha and un-premultiplies: RGB to +-1 there
    assert np.abs(pixels[..., :3].astype(int) - table[values, :3])[opaque].max() <= 1
    _check_placement(props["openslide.comment"], "colour")


def test_json_records_both_tiffs_and_the_placement(written):
    paths, _ = written
    meta = json.loads(paths["meta"].read_text())
    assert meta["files"] == {"heatmap": "slide_a.heatmap.npy", "tissue": "slide_a.tissue.npy",
                             "tiff": "slide_a.heatmap.tif", "tiff_colour": "slide_a.heatmap.rgba.tif"}  # fmt: skip
    description = read_description(_tiffslide(paths["tiff"], 0)[0]["tiff.ImageDescription"])
    assert meta["placement"] == {k: description[k] for k in meta["placement"]}
    assert meta["placement"]["slide_wh"] == [5597, 4795]
    assert meta["grid"]["slide_wh"] == [5597, 4795] and meta["origin_xy"] == [0.0, 0.0]


def test_a_missing_colour_tiff_makes_the_slide_incomplete_only_where_it_was_written(written, tmp_path):
    paths, _ = written
    assert is_complete(tmp_path, "slide_a", "ckpt", "cfg")
    paths["tiff_colour"].unlink()
    assert not is_complete(tmp_path, "slide_a", "ckpt", "cfg")
    probability, _ = known_heatmap()
    grid = make_tile_grid(SLIDE_WH, SLIDE_MPP, 2.0, 64, HEATMAP_MPP, 0.0)
    prediction = SlidePrediction("slide_b", Path("slide_b.tif"), grid, probability, probability > 0.5)
    paths_b = write_outputs(tmp_path, prediction, META, tiff=True, png=False)  # the colour TIFF is opt-in
    assert not paths_b["tiff_colour"].exists() and "tiff_colour" not in json.loads(paths_b["meta"].read_text())["files"]
    assert is_complete(tmp_path, "slide_b", "ckpt", "cfg")


def test_tiffs_asked_for_later_come_from_the_stored_heatmap(written, tmp_path):
    """A finished slide without TIFFs gains them, equal to those written with the slide; the .json lists them."""
    paths, values = written
    probability, _ = known_heatmap()
    grid = make_tile_grid(SLIDE_WH, SLIDE_MPP, 2.0, 64, HEATMAP_MPP, 0.0)
    prediction = SlidePrediction("slide_a", Path("/data/slides/slide_a.tif"), grid, probability, probability > 0.5)
    later = tmp_path / "later"
    paths_b = write_outputs(later, prediction, META, tiff=False, png=False)
    heatmap_written = paths_b["heatmap"].stat().st_mtime_ns
    assert add_heatmap_tiffs(later, "slide_a", grey=False, colour=False) == []
    assert add_heatmap_tiffs(later, "slide_a", grey=True, colour=True) == ["tiff", "tiff_colour"]
    record = json.loads(paths_b["meta"].read_text())
    assert record["files"]["tiff"] == "slide_a.heatmap.tif"
    assert record["files"]["tiff_colour"] == "slide_a.heatmap.rgba.tif"
    assert record == json.loads(paths["meta"].read_text())  # as if written with the slide
    for kind in ("tiff", "tiff_colour"):
        for level in (0, 1):
            first, again = _tiffslide(paths[kind], level), _tiffslide(paths_b[kind], level)
            np.testing.assert_array_equal(again[1], first[1])
            assert again[0]["tiff.ImageDescription"] == first[0]["tiff.ImageDescription"]
            assert again[2] == first[2]
    assert paths_b["heatmap"].stat().st_mtime_ns == heatmap_written  # not rewritten
    assert add_heatmap_tiffs(later, "slide_a", grey=True, colour=True) == []  # nothing more to add
    assert is_complete(later, "slide_a", "ckpt", "cfg")


def test_unfinished_writes_of_every_output_are_stale(tmp_path):
    for suffix in SUFFIXES.values():
        (tmp_path / f".slide_a{suffix}.x1y2.part").touch()
        (tmp_path / f".slide_ab{suffix}.x1y2.part").touch()  # another slide's
    found = sorted(p.name for p in stale_files(tmp_path, "slide_a"))
    assert found == sorted(f".slide_a{suffix}.x1y2.part" for suffix in SUFFIXES.values())
    assert ".slide_a.heatmap.rgba.tif.x1y2.part" in found
    assert set(output_paths(tmp_path, "slide_a")) == set(SUFFIXES)


def test_predicted_tiffs_cover_the_slide_at_the_heatmap_spacing(tiny_cohort, colour_model, tmp_path):
    """Through predict.py's writer: level-0 size = ceil(slide extent / heatmap_mpp); pixels = the stored heatmap's."""
    name, path = find_slides(tiny_cohort)[0]
    settings = PredictSettings(model_mpp=7.776, tile=32, heatmap_mpp=7.776)
    summary = predict(colour_model, [(name, path)], settings, tmp_path, png=False, tiff_colour=True)
    assert summary.done == [name]
    with open_slide(path) as slide:
        slide_wh, slide_mpp = slide.dimensions, slide.mpp
    expected_wh = tuple(math.ceil(n * slide_mpp / 7.776 - 1e-9) for n in slide_wh)
    grey = np.round(np.load(tmp_path / f"{name}.heatmap.npy").astype(np.float32) * 255).astype(np.uint8)
    paths = output_paths(tmp_path, name)
    for kind, content in (("tiff", "probability"), ("tiff_colour", "colour")):
        for read in (_tiffslide, _openslide):
            props, pixels, dims = read(paths[kind], 0)
            assert dims[0] == expected_wh and grey.shape == expected_wh[::-1]
            record = read_description(props["tiff.ImageDescription"])
            assert record["content"] == content and record["slide"] == path.name
            assert record["slide_wh"] == list(slide_wh) and record["slide_mpp"] == pytest.approx(slide_mpp)
            extent = np.array(record["extent_level0_wh"])
            assert (extent >= np.array(slide_wh) - 1e-6).all() and (extent - slide_wh < record["downsample"]).all()
            if kind == "tiff":
                np.testing.assert_array_equal(pixels[..., 0], grey)
            else:
                np.testing.assert_array_equal(pixels[..., 3], colour_table()[grey, 3])
    assert json.loads(paths["meta"].read_text())["files"]["tiff_colour"] == f"{name}.heatmap.rgba.tif"
