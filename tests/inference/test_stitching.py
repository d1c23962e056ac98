"""The stitched heatmap equals the stand-in model's function computed directly on the slide."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl

from wsiseg.inference import HeatmapWriter, PredictionData, PredictSettings, ReadingOptions, find_slides
from wsiseg.slide import open_slide
from wsiseg.tasks.predict import PREDICT_TRAINER_ARGS, predict_heatmaps


def predict(model, slides, settings, out_dir, batch_size=64, keep=False, **writer_args):
    """``predict_heatmaps`` in the main process; ``keep``: also return the datamodule and the writer."""
    data = PredictionData(
        slides, settings, out_dir, ("ckpt", "cfg"), ReadingOptions(plan_workers=1, batch_size=batch_size)
    )
    writer = HeatmapWriter(out_dir, {"settings": {"blend": settings.blend}}, **writer_args)
    trainer = pl.Trainer(accelerator="cpu", devices=1, callbacks=[writer], **PREDICT_TRAINER_ARGS)
    summary = predict_heatmaps(trainer, model, data, writer)
    return (summary, data, writer) if keep else summary


def direct(slide_path, model_mpp: float, factor: int, shape_hw) -> np.ndarray:
    """The stand-in's function on the whole slide read at model resolution, averaged to heatmap pixels."""
    h, w = shape_hw
    with open_slide(slide_path) as slide:
        image = slide.read_region((0, 0), (w * factor, h * factor), model_mpp).astype(np.float64) / 255
    value = image.mean(axis=2)
    return value.reshape(h, factor, w, factor).mean(axis=(1, 3))


@pytest.mark.parametrize(
    ("model_factor", "heatmap_factor", "blend", "overlap"),
    [(2, 1, "crop", 0.25), (2, 2, "crop", 0.5), (2, 2, "weighted", 0.5), (1, 4, "crop", 0.0)],
)
@pytest.mark.parametrize("batch_size", [64, 5])
def test_heatmap_equals_function_on_the_slide(
    tiny_cohort, colour_model, tmp_path, model_factor, heatmap_factor, blend, overlap, batch_size
):
    """Model pixels are whole multiples of the slide's, so both paths resample identically: no seams, exact.

    Batches of 5 tiles span several read blocks (of 3 x 3 cores): each batch is read block by block.
    """
    name, path = "patient_001_node_1", tiny_cohort / "centre_1" / "patient_001_node_1.tif"
    with open_slide(path) as slide:
        model_mpp = slide.mpp * model_factor
    settings = PredictSettings(model_mpp=model_mpp, tile=32, heatmap_mpp=model_mpp * heatmap_factor,
                               overlap=overlap, blend=blend, block_tiles=3)  # fmt: skip
    summary = predict(colour_model, [(name, path)], settings, tmp_path, batch_size, tiff=False, png=False)
    assert summary.done == [name] and not summary.failed
    heatmap = np.load(tmp_path / f"{name}.heatmap.npy").astype(np.float64)
    tissue = np.load(tmp_path / f"{name}.tissue.npy")
    expected = direct(path, model_mpp, heatmap_factor, heatmap.shape)
    covered = heatmap > 0  # predicted cores (every pixel of the stand-in is > 0 there)
    assert covered[tissue].all()  # every tissue pixel was predicted
    assert np.abs(heatmap - expected)[covered].max() < 2e-3  # float16 storage
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert meta["heatmap_mpp"] == pytest.approx(model_mpp * heatmap_factor) and meta["origin_xy"] == [0.0, 0.0]


def test_non_aligned_resolution_is_close(tiny_cohort, colour_model, tmp_path):
    """At a model resolution that is no multiple of the slide's, block reads differ only by resampling phase."""
    name, path = "patient_000_node_2", tiny_cohort / "centre_0" / "patient_000_node_2.tif"
    settings = PredictSettings(model_mpp=5.0, tile=32, heatmap_mpp=10.0, overlap=0.25, block_tiles=4)
    predict(colour_model, [(name, path)], settings, tmp_path, tiff=False, png=False)
    heatmap = np.load(tmp_path / f"{name}.heatmap.npy").astype(np.float64)
    expected = direct(path, 5.0, 2, heatmap.shape)
    covered = cv2.erode((heatmap > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    error = np.abs(cv2.blur(heatmap, (3, 3)) - cv2.blur(expected, (3, 3)))[covered]  # phase: < 1/2 px
    assert error.mean() < 0.01 and np.corrcoef(heatmap[covered], expected[covered])[0, 1] > 0.95


def test_outputs_open_in_slide_viewers(tiny_cohort, colour_model, tmp_path):
    """The heatmap TIFF is a pyramid with the heatmap's physical pixel size (QuPath / ASAP overlay it)."""
    slides = find_slides(tiny_cohort)[:2]
    settings = PredictSettings(model_mpp=7.776, tile=32, heatmap_mpp=7.776)
    summary = predict(colour_model, slides, settings, tmp_path)
    assert sorted(summary.done) == sorted(n for n, _ in slides)
    name = slides[0][0]
    with open_slide(tmp_path / f"{name}.heatmap.tif") as tif:
        heatmap = np.load(tmp_path / f"{name}.heatmap.npy")
        assert tif.mpp == pytest.approx(7.776) and tif.dimensions == heatmap.shape[::-1]
    with open_slide(slides[0][1]) as slide:  # same physical extent as the slide
        assert abs(heatmap.shape[1] * 7.776 - slide.dimensions[0] * slide.mpp) < 7.776
    assert (tmp_path / f"{name}.overlay.png").stat().st_size > 1000
    assert not (tmp_path / ".work").exists()


@pytest.mark.parametrize(("factor", "margin"), [(1, 8), (2, 8), (4, 0)])
def test_crop_cores_are_placed_exactly_as_the_weighted_sum_with_the_crop_window(factor, margin):
    """The crop writer places each core; the general writer divides window-weighted sums: the same numbers."""
    from wsiseg.inference import TileGrid
    from wsiseg.inference.tiling import pooled_window
    from wsiseg.inference.writer import HeatmapWriter

    tile = 64
    grid = TileGrid(1.0, 1.0, factor, tile, margin, (70, 101))  # cores overhanging the right and bottom edges
    step = grid.core_hm
    grid_xy = [(x, y) for y in range(0, 70, step) for x in range(0, 101, step)]
    cores = np.array([xy for i, xy in enumerate(grid_xy) if i % 3], np.int64)  # gaps: tiles without tissue
    probs = np.random.default_rng(0).random((len(cores), tile, tile), dtype=np.float32)
    placed = np.zeros(grid.heatmap_hw, np.float32)
    HeatmapWriter._place_cores(placed, grid, probs, cores)
    total, weight = np.zeros_like(placed), np.zeros_like(placed)
    side, w = tile // factor, pooled_window(tile, margin, factor, "crop")
    pooled = probs.reshape(len(probs), side, factor, side, factor).mean(axis=(2, 4)) * w
    for (cx, cy), p in zip(cores - margin // factor, pooled, strict=True):
        y0, x0, y1, x1 = max(cy, 0), max(cx, 0), min(cy + side, 70), min(cx + side, 101)
        total[y0:y1, x0:x1] += p[y0 - cy : y1 - cy, x0 - cx : x1 - cx]
        weight[y0:y1, x0:x1] += w[y0 - cy : y1 - cy, x0 - cx : x1 - cx]
    expected = np.where(weight > 0, total / np.maximum(weight, 1e-12), 0.0)
    assert np.array_equal(placed, expected) and (placed > 0).sum() == (weight > 0).sum() > 0


@pytest.mark.parametrize("blend", ["crop", "weighted"])
def test_accumulators_on_disk_give_the_heatmap_of_accumulators_in_memory(tiny_cohort, colour_model, tmp_path,
                                                                           monkeypatch, blend):  # fmt: skip
    """Slides whose heatmaps exceed the memory budget accumulate in ``.work/`` memory maps: the same heatmap."""
    from wsiseg.inference import writer as writer_module

    name, path = "patient_001_node_1", tiny_cohort / "centre_1" / "patient_001_node_1.tif"
    settings = PredictSettings(model_mpp=7.776, tile=32, heatmap_mpp=7.776, overlap=0.5, blend=blend)
    maps, work_files = {}, []
    original = np.lib.format.open_memmap

    def recording_memmap(filename, *args, **kwargs):
        work_files.append(Path(filename))
        return original(filename, *args, **kwargs)

    for budget in (writer_module.MEMORY_ACCUMULATORS, 0):
        monkeypatch.setattr(writer_module, "MEMORY_ACCUMULATORS", budget)
        monkeypatch.setattr(np.lib.format, "open_memmap", recording_memmap)
        out = tmp_path / str(budget)
        assert predict(colour_model, [(name, path)], settings, out, tiff=False, png=False).done == [name]
        maps[budget] = np.load(out / f"{name}.heatmap.npy")
        assert not (out / ".work").exists()  # scratch files removed
    assert len(work_files) == (1 if blend == "crop" else 2) and all(p.parent.name == ".work" for p in work_files)
    assert np.array_equal(maps[0], maps[writer_module.MEMORY_ACCUMULATORS]) and maps[0].max() > 0
