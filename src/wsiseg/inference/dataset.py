"""The slides of a prediction run, planned a few slides ahead and read in fixed-size batches of tiles.

The main process plans slides (tissue ROI, tiles) in background threads, a few slides ahead of the model, so
planning hides behind prediction and only those few tissue masks are held at once. A sampler turns each
planned slide, once this run holds its claim, into :class:`~wsiseg.inference.reading.TileRequest` s of
``batch_size`` tiles; DataLoader workers read them (:class:`~wsiseg.inference.reading.TileReader`, which
is all they are sent) while the model runs. Batches come in order, slide after slide, and the last batch of
a slide says so, so the writer can finish that slide.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

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


class SlidePlanner:
    """Plans slides in ``workers`` threads, at most ``ahead`` slides beyond the one asked for.

    Args:
        slides: ``(name, path)`` pairs, asked for in this order.
        settings: tiling settings.
        workers: planning threads (tissue detection is mostly OpenCV and image decoding, which free the GIL).
        ahead: slides planned beyond the current one.
    """

    def __init__(self, slides: Sequence[tuple[str, Path]], settings: PredictSettings, workers: int, ahead: int) -> None:
        self.slides, self.settings, self.ahead = list(slides), settings, max(ahead, 0)
        self._pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix="plan")
        self._futures: dict[int, Future] = {}
        self._next = 0

    def result(self, i: int) -> SlideTask | str:
        """Slide ``i``'s plan, or its error message (blocks until planned); plans ahead of it start now."""
        while self._next < min(i + 1 + self.ahead, len(self.slides)):
            name, path = self.slides[self._next]
            self._futures[self._next] = self._pool.submit(plan_or_error, name, path, self.settings)
            self._next += 1
        return self._futures.pop(i).result()

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
        planner = SlidePlanner(data.todo, data.settings, data.plan_workers, ahead=max(data.plan_workers, 1))
        try:
            for i, (name, _) in enumerate(data.todo):
                planned = planner.result(i)
                if isinstance(planned, str):
                    data.failed[name] = planned
                    continue
                if not data.claims.take(name):
                    continue
                data.tasks[i] = planned
                yield from batch_requests(i, planned, data.batch_size)
        finally:
            planner.close()


class ThreadedBatches(IterableDataset):
    """The run's batches read by ``threads`` threads of the main process, a few batches ahead, in order.

    The alternative to reading worker processes (``num_workers > 0``): nothing to start, nothing to pickle.
    Decoding JPEG tiles (imagecodecs, OpenSlide) and resampling them (OpenCV) release the GIL, as does the
    model, so on a CPU the reads hide behind the model. Each thread keeps its own slide handles.
    """

    def __init__(self, data: PredictionData, threads: int) -> None:
        self.data, self.threads = data, max(threads, 1)

    def __iter__(self) -> Iterator[dict]:
        local = threading.local()

        def read(request: TileRequest) -> dict:
            if not hasattr(local, "reader"):
                local.reader = TileReader()
            return local.reader[request]

        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="read") as pool:
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
        num_workers: DataLoader worker processes reading tiles (0: ``read_threads`` threads of this process).
        plan_workers: threads planning slides (tissue ROI) ahead of prediction; also how many slides ahead.
        read_threads: with ``num_workers=0``, threads reading tiles ahead of the model (0: read between batches).
        batch_size: tiles per model batch (a slide's last batch has fewer).
    """

    def __init__(
        self, slides: Sequence[tuple[str, Path]], settings: PredictSettings, out_dir: Path,
        digests: tuple[str, str], num_workers: int = 0, plan_workers: int = 2, batch_size: int = 64,
        read_threads: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        self.slides, self.settings, self.out_dir = list(slides), settings, Path(out_dir)
        self.digests = tuple(digests)
        self.num_workers, self.plan_workers, self.batch_size = num_workers, plan_workers, batch_size
        self.read_threads = read_threads
        self.todo: list[tuple[str, Path]] = []
        self.tasks: dict[int, SlideTask] = {}  # planned, claimed and not yet written (the writer drops them)
        self.skipped: list[str] = []
        self.failed: dict[str, str] = {}
        self.run_id = ""
        self.claims: SlideClaims | None = None

    def shard(self, rank: int, world: int) -> list[tuple[str, Path]]:
        """This rank's slides: every ``world``-th slide, starting at ``rank``."""
        return self.slides[rank::world]

    def setup(self, stage: str | None = None) -> None:
        """Find this rank's unfinished slides; they are planned later, a few ahead of prediction.

        Slides are claimed one by one as their tiles are about to be read (:class:`PlannedBatches`), so runs
        that share ``out_dir`` share its slides out between them.
        """
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
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

    def predict_dataloader(self) -> DataLoader:
        """Fixed-size batches of tiles in slide order (``batch_size=None``: each request is a batch)."""
        if self.num_workers > 0:  # worker processes, spawned (slides were opened here: never fork)
            return DataLoader(TileReader(), batch_size=None, sampler=PlannedBatches(self),
                              num_workers=self.num_workers, multiprocessing_context=SAFE_CONTEXT)  # fmt: skip
        if self.read_threads > 0:
            return DataLoader(ThreadedBatches(self, self.read_threads), batch_size=None)
        return DataLoader(TileReader(), batch_size=None, sampler=PlannedBatches(self))
