"""The slides of a prediction run, planned a few slides ahead and read in fixed-size batches of tiles.

The main process plans slides (tissue ROI, tiles) in background threads, a few slides ahead of the model, so
planning hides behind prediction and only those few tissue masks are held at once. A sampler turns each
planned slide, once this run holds its claim, into :class:`~wsiseg.inference.reading.TileRequest` s of
``batch_size`` tiles; DataLoader workers read them (:class:`~wsiseg.inference.reading.TileReader`, which
is all they are sent) while the model runs. Batches come in order, slide after slide, and the last batch of
a slide says so, so the writer can finish that slide.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader, IterableDataset, Sampler

from wsiseg.inference.claims import SlideClaims
from wsiseg.inference.outputs import is_complete
from wsiseg.inference.plan import PredictSettings, SlideTask, plan_or_error
from wsiseg.inference.reading import TileReader, TileRequest
from wsiseg.locks import new_run_id, owner
from wsiseg.parallel import SAFE_CONTEXT

log = logging.getLogger(__name__)


def batch_requests(index: int, task: SlideTask, batch_size: int) -> list[TileRequest]:
    """A slide's tiles in batches of ``batch_size`` (read-block order), each split into one read per block.

    Raises:
        ValueError: ``batch_size`` below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = np.concatenate(task.blocks)  # indices into task.cores, block after block
    block_of = np.repeat(np.arange(len(task.blocks)), [len(b) for b in task.blocks])
    starts = range(0, len(order), batch_size)
    requests = []
    for start in starts:
        stop = min(start + batch_size, len(order))
        blocks = block_of[start:stop]
        reads = (0, *(np.flatnonzero(blocks[1:] != blocks[:-1]) + 1).tolist(), stop - start)
        requests.append(TileRequest(index, task.name, task.path, task.grid, task.cores[order[start:stop]], reads,
                                    last=stop == len(order), backend=task.backend))  # fmt: skip
    return requests


#: ``background_nice="auto"``: the niceness of reading and planning threads when the model runs on the CPU.
CPU_BACKGROUND_NICE = 19


@dataclass(frozen=True)
class ReadingOptions:
    """How a prediction run reads and plans its slides.

    Attributes:
        num_workers: DataLoader worker processes reading tiles (a GPU fed by many cores); 0: ``read_threads``
            threads of the main process read instead (nothing to start, nothing to pickle).
        read_threads: with ``num_workers=0``, threads reading batches ahead of the model (0: between batches).
        plan_workers: threads finding slides' tissue, as many slides ahead of the model.
        batch_size: tiles per model batch (a slide's last batch has fewer).
        background_nice: the CPU niceness (0-19, Linux) of the reading and planning threads and workers, or
            ``"auto"``: 19 when the model runs on the CPU, else 0. On a CPU the model's threads keep every
            core busy; reads at normal priority preempt one of them mid-operation and its partner spins at the
            next barrier, which costs more than the read itself. At the lowest priority they run on the
            cycles the model leaves (between its operations, while it waits for a batch), and a batch is
            still read as soon as the model waits for it.
    """

    num_workers: int = 0
    read_threads: int = 1
    plan_workers: int = 2
    batch_size: int = 64
    background_nice: int | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        nice = self.background_nice
        if nice != "auto" and (isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19):
            raise ValueError(f"background_nice must be an integer 0-19 or 'auto', got {nice!r}")
        if min(self.num_workers, self.read_threads, self.plan_workers) < 0 or self.batch_size < 1:
            raise ValueError(f"workers and threads must be >= 0 and batch_size >= 1, got {self}")

    def nice_for(self, device_type: str) -> int:
        """The niceness the background threads get when the model runs on ``device_type`` (``cpu``, ``cuda``)."""
        if self.background_nice == "auto":
            return CPU_BACKGROUND_NICE if device_type == "cpu" else 0
        return int(self.background_nice)


def lower_priority(nice: int) -> None:
    """Raise the calling thread's niceness to ``nice`` (Linux threads; elsewhere, and at 0, nothing happens).

    On Linux ``setpriority`` with a thread id acts on that thread alone, and threads it starts inherit it;
    raising one's own niceness needs no privilege.
    """
    if nice > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))


class SlidePlanner:
    """Plans slides in ``workers`` threads, at most ``ahead`` slides beyond the one asked for.

    Args:
        slides: ``(name, path)`` pairs, asked for in this order.
        settings: tiling settings.
        workers: planning threads (tissue detection is mostly OpenCV and image decoding, which free the GIL).
        ahead: slides planned beyond the current one.
        nice: the planning threads' niceness (see :class:`ReadingOptions`).
    """

    def __init__(
        self, slides: Sequence[tuple[str, Path]], settings: PredictSettings, workers: int, ahead: int, nice: int = 0
    ) -> None:
        self.slides, self.settings, self.ahead = list(slides), settings, max(ahead, 0)
        self._pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix="plan", initializer=lower_priority,
                                        initargs=(nice,))  # fmt: skip
        self._futures: dict[int, Future] = {}
        self._next = 0

    def start(self) -> SlidePlanner:
        """Start planning the first slides now (the first and ``ahead`` more), before any is asked for."""
        self._submit_until(min(1 + self.ahead, len(self.slides)))
        return self

    def result(self, i: int) -> SlideTask | str:
        """Slide ``i``'s plan, or its error message (blocks until planned); plans ahead of it start now."""
        self._submit_until(min(i + 1 + self.ahead, len(self.slides)))
        return self._futures.pop(i).result()

    def _submit_until(self, stop: int) -> None:
        while self._next < stop:
            name, path = self.slides[self._next]
            self._futures[self._next] = self._pool.submit(plan_or_error, name, path, self.settings)
            self._next += 1

    def close(self) -> None:
        """Stop planning (slides not yet started are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()


class PlannedBatches(Sampler[TileRequest]):
    """The run's batches as :class:`TileRequest` s, slide by slide, each slide once planned and claimed.

    It runs in the main process, a few batches ahead of the model: the slide's plan is registered in
    ``data.tasks`` (for the writer) before its first request is handed out; a slide that failed planning is
    recorded in ``data.failed``; one another run holds is left to it (see :class:`SlideClaims`).
    """

    def __init__(self, data: PredictionData) -> None:
        self.data = data

    def __iter__(self) -> Iterator[TileRequest]:
        data = self.data
        planner = data.take_planner()
        try:
            for i, (name, _) in enumerate(data.todo):
                planned = planner.result(i)
                if isinstance(planned, str):
                    data.failed[name] = planned
                    continue
                if not data.claims.take(name):
                    continue
                data.tasks[i] = planned
                yield from batch_requests(i, planned, data.reading.batch_size)
        finally:
            planner.close()


class ThreadedBatches(IterableDataset):
    """The run's batches read by ``threads`` threads of the main process, a few batches ahead, in order.

    The alternative to reading worker processes (``num_workers > 0``): nothing to start, nothing to pickle.
    Decoding JPEG tiles (imagecodecs, OpenSlide) and resampling them (OpenCV) release the GIL, as does the
    model, so on a CPU the reads hide behind the model. Each thread keeps its own slide handles.
    """

    def __init__(self, data: PredictionData, threads: int, nice: int = 0) -> None:
        self.data, self.threads, self.nice = data, max(threads, 1), nice

    def __iter__(self) -> Iterator[dict]:
        local = threading.local()

        def read(request: TileRequest) -> dict:
            if not hasattr(local, "reader"):
                local.reader = TileReader()
            return local.reader[request]

        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="read", initializer=lower_priority,
                                initargs=(self.nice,)) as pool:  # fmt: skip
            for request in PlannedBatches(self.data):
                pending.append(pool.submit(read, request))
                if len(pending) > 2 * self.threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


class PredictionData(pl.LightningDataModule):
    """The slides of a prediction run, shared out across ranks (each slide goes to exactly one rank).

    Args:
        slides: ``(name, path)`` pairs.
        settings: tiling settings.
        out_dir: the output folder (finished slides are skipped).
        digests: the model checkpoint's digest and the settings' digest (a heatmap is reused when both match).
        reading: workers or threads, planning threads, batch size and their priority (:class:`ReadingOptions`).
    """

    def __init__(
        self, slides: Sequence[tuple[str, Path]], settings: PredictSettings, out_dir: Path,
        digests: tuple[str, str], reading: ReadingOptions = ReadingOptions(),
    ) -> None:  # fmt: skip
        super().__init__()
        self.slides, self.settings, self.out_dir = list(slides), settings, Path(out_dir)
        self.digests = tuple(digests)
        self.reading = reading
        self.nice = 0  # set at setup, from the device the model runs on
        self.todo: list[tuple[str, Path]] = []
        self.tasks: dict[int, SlideTask] = {}  # planned, claimed and not yet written (the writer drops them)
        self.skipped: list[str] = []
        self.failed: dict[str, str] = {}
        self.run_id = ""
        self.claims: SlideClaims | None = None
        self._planner: SlidePlanner | None = None

    def shard(self, rank: int, world: int) -> list[tuple[str, Path]]:
        """This rank's slides: every ``world``-th slide, starting at ``rank``."""
        return self.slides[rank::world]

    def setup(self, stage: str | None = None) -> None:
        """Find this rank's unfinished slides; they are planned later, a few ahead of prediction.

        Slides are claimed one by one as their tiles are about to be read (:class:`PlannedBatches`), so runs
        that share ``out_dir`` share its slides out between them.
        """
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        device = self.trainer.strategy.root_device.type if self.trainer else "cpu"
        self.nice = self.reading.nice_for(device)
        run_id = new_run_id()
        self.run_id = self.trainer.strategy.broadcast(run_id) if self.trainer else run_id  # one id for all ranks
        self.claims = SlideClaims(self.out_dir, self.digests, owner(self.run_id, rank=rank))
        mine = self.shard(rank, world)
        done = {n for n, _ in mine if is_complete(self.out_dir, n, *self.digests)}
        self.todo = [(n, p) for n, p in mine if n not in done]
        self.skipped = [n for n, _ in mine if n in done]
        self.tasks, self.failed = {}, {}
        if self.skipped:
            log.info("rank %d: %d slides already done, skipped", rank, len(self.skipped))
        self._close_planner()
        self._planner = self._new_planner().start()  # the first slides are planned while Lightning sets up

    def _new_planner(self) -> SlidePlanner:
        workers = self.reading.plan_workers
        return SlidePlanner(self.todo, self.settings, workers, ahead=max(workers, 1), nice=self.nice)

    def take_planner(self) -> SlidePlanner:
        """The planner started at :meth:`setup` (once; a new one for another pass over the slides)."""
        planner, self._planner = self._planner, None
        return planner if planner is not None else self._new_planner()

    def _close_planner(self) -> None:
        if self._planner is not None:
            self._planner.close()
            self._planner = None

    def teardown(self, stage: str | None = None) -> None:
        """Stop a planner that was never iterated (a run that failed before its first batch)."""
        self._close_planner()

    def predict_dataloader(self) -> DataLoader:
        """Fixed-size batches of tiles in slide order (``batch_size=None``: each request is a batch)."""
        reading = self.reading
        if reading.num_workers > 0:  # worker processes, spawned (slides were opened here: never fork)
            return DataLoader(TileReader(), batch_size=None, sampler=PlannedBatches(self),
                              num_workers=reading.num_workers, multiprocessing_context=SAFE_CONTEXT,
                              worker_init_fn=functools.partial(_nice_worker, self.nice))  # fmt: skip
        if reading.read_threads > 0:
            return DataLoader(ThreadedBatches(self, reading.read_threads, self.nice), batch_size=None)
        return DataLoader(TileReader(), batch_size=None, sampler=PlannedBatches(self))


def _nice_worker(nice: int, worker_id: int) -> None:
    """A reading worker process's ``worker_init_fn``: its niceness (see :class:`ReadingOptions`)."""
    lower_priority(nice)
