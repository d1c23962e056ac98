"""Prediction batches: fixed size, every tile once, small requests to workers, slides planned a few ahead."""

import os
import pickle
import sys
import threading
import time

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

import wsiseg.inference.dataset as dataset_module
from tests.inference.test_stitching import predict
from wsiseg.inference import PredictSettings, TileReader, find_slides, plan_task, read_block
from wsiseg.inference.dataset import ReadingOptions, SlidePlanner, batch_requests, lower_priority
from wsiseg.slide import open_slide

SETTINGS = PredictSettings(model_mpp=7.776, tile=32, heatmap_mpp=7.776, overlap=0.25, block_tiles=3)


@pytest.fixture(scope="module")
def task(tiny_cohort):
    name, path = find_slides(tiny_cohort)[0]
    return plan_task(name, path, SETTINGS)


@pytest.mark.parametrize("batch_size", [1, 5, 16, 10_000])
def test_batches_cover_every_tile_once_at_a_fixed_size(task, batch_size):
    requests = batch_requests(3, task, batch_size)
    sizes = [len(r.cores) for r in requests]
    assert all(s == batch_size for s in sizes[:-1]) and 0 < sizes[-1] <= batch_size
    cores = np.concatenate([r.cores for r in requests])
    assert len(cores) == len(task.cores) and len({tuple(c) for c in cores}) == len(task.cores)
    assert [r.last for r in requests] == [False] * (len(requests) - 1) + [True]
    assert {r.task for r in requests} == {3} and {r.name for r in requests} == {task.name}
    block_of = {tuple(task.cores[i]): b for b, block in enumerate(task.blocks) for i in block}
    for request in requests:  # each read lies in one read block; consecutive reads are different blocks
        reads = [request.cores[a:b] for a, b in zip(request.reads[:-1], request.reads[1:], strict=True)]
        assert request.reads[0] == 0 and request.reads[-1] == len(request.cores)
        blocks = [{block_of[tuple(c)] for c in read} for read in reads]
        assert all(len(b) == 1 for b in blocks)
        assert all(a != b for a, b in zip(blocks[:-1], blocks[1:], strict=False))


def test_batch_size_must_be_positive(task):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        batch_requests(0, task, 0)


def test_workers_get_small_requests_and_the_tiles_of_the_slide(task):
    """A worker is sent the reader (no slide state) and one request per batch, never the tissue mask."""
    reader, request = TileReader(), batch_requests(0, task, 16)[1]
    assert len(pickle.dumps(reader)) < 200
    assert len(pickle.dumps(request)) < 2_000 < task.tissue.nbytes
    item = pickle.loads(pickle.dumps(reader))[request]
    with open_slide(task.path) as slide:
        groups = zip(request.reads[:-1], request.reads[1:], strict=True)
        expected = np.concatenate([read_block(slide, task.grid, request.cores[a:b]) for a, b in groups])
    assert len(request.reads) > 2  # this batch spans several read blocks
    assert item["error"] == "" and item["image"].dtype == torch.uint8
    assert torch.equal(item["image"], torch.from_numpy(expected).permute(0, 3, 1, 2))
    assert torch.equal(item["core_xy"], torch.from_numpy(request.cores))


def test_an_unreadable_slide_fails_its_request_not_the_reader(task, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    request = batch_requests(0, task, 8)[0]
    item = TileReader()[type(request)(**{**request.__dict__, "path": broken})]
    assert item["error"] and item["image"].shape == (0, 3, 32, 32)


def test_slides_are_planned_a_bounded_number_ahead(monkeypatch):
    """Planning runs in threads ahead of the slide asked for, never more than ``ahead`` slides beyond it."""
    started, release = [], {i: threading.Event() for i in range(6)}

    def plan(name, path, settings):
        started.append(name)
        release[int(name)].wait(5)
        return f"planned {name}"

    monkeypatch.setattr(dataset_module, "plan_or_error", plan)
    planner = SlidePlanner([(str(i), None) for i in range(6)], SETTINGS, workers=2, ahead=2)
    release[0].set()
    assert planner.result(0) == "planned 0"
    time.sleep(0.2)
    assert sorted(started) == ["0", "1", "2"]  # slides 1 and 2 are being planned while 0 is predicted
    for event in release.values():
        event.set()
    assert planner.result(1) == "planned 1" and sorted(started) == ["0", "1", "2", "3"]
    planner.close()
    # start(): the first slide and `ahead` more are planned before any is asked for (a run's setup calls it)
    started.clear()
    early = SlidePlanner([(str(i), None) for i in range(6)], SETTINGS, workers=3, ahead=2).start()
    time.sleep(0.2)
    assert sorted(started) == ["0", "1", "2"] and early.result(0) == "planned 0"
    early.close()


class SizeRecorder(pl.LightningModule):
    """Records each batch's size; outputs 0.5 everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def predict_step(self, batch, batch_idx=0, dataloader_idx=0):
        self.sizes.append(len(batch["image"]))
        return torch.full((len(batch["image"]), 1, 32, 32), 0.5) + 0 * self.dummy


def test_model_batches_have_the_configured_size_and_plans_are_dropped(tiny_cohort, tmp_path):
    """Per slide: full batches then one remainder; every slide's plan (and tissue mask) is gone after the run."""
    slides = find_slides(tiny_cohort)[:3]
    model = SizeRecorder()
    summary, data, writer = predict(model, slides, SETTINGS, tmp_path, tiff=False, png=False, batch_size=7,
                                    keep=True)  # fmt: skip
    assert sorted(summary.done) == sorted(n for n, _ in slides)
    tiles = [len(plan_task(n, p, SETTINGS).cores) for n, p in slides]
    expected = [size for n in tiles for size in [7] * (n // 7) + ([n % 7] if n % 7 else [])]
    assert model.sizes == expected and writer.tiles == sum(tiles)
    assert data.tasks == {} and not data.failed


def test_reading_options_choose_the_background_priority():
    assert ReadingOptions().nice_for("cpu") == 19 and ReadingOptions().nice_for("cuda") == 0
    assert ReadingOptions(background_nice=5).nice_for("cpu") == 5 == ReadingOptions(background_nice=5).nice_for("cuda")
    for bad in (20, -1, "low", True, 2.5):
        with pytest.raises(ValueError, match="background_nice"):
            ReadingOptions(background_nice=bad)
    with pytest.raises(ValueError, match="batch_size"):
        ReadingOptions(batch_size=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_lower_priority_acts_on_the_calling_thread_only():
    seen = {}

    def run():
        lower_priority(7)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        lower_priority(3)  # never lowers a niceness back: 7 stays
        seen["again"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == {"thread": max(7, main), "again": max(7, main)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_a_cpu_run_reads_and_plans_at_the_lowest_priority(tiny_cohort, tmp_path, monkeypatch):
    """With the model on the CPU (``background_nice=auto``), reading and planning threads run at nice 19."""
    nices: dict[str, set[int]] = {"plan": set(), "read": set()}
    plan, read = dataset_module.plan_or_error, TileReader.__getitem__

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def recording_plan(*args):
        nices["plan"].add(niceness())
        return plan(*args)

    def recording_read(self, request):
        nices["read"].add(niceness())
        return read(self, request)

    monkeypatch.setattr(dataset_module, "plan_or_error", recording_plan)
    monkeypatch.setattr(TileReader, "__getitem__", recording_read)
    slides = find_slides(tiny_cohort)[:2]
    summary = predict(SizeRecorder(), slides, SETTINGS, tmp_path, tiff=False, png=False, batch_size=16)
    assert len(summary.done) == 2 and nices == {"plan": {19}, "read": {19}}
    assert niceness() < 19  # the model's thread (this one) keeps its priority
