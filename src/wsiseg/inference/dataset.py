"""Tiles for prediction: each item is one large region read, cut into the tiles of one block.

DataLoader workers do the reading (and JPEG decoding) while the model runs; items come in order, slide
after slide, and the last block of a slide says so, so the writer can finish that slide.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from wsiseg.inference.claims import ClaimingSampler, SlideClaims
from wsiseg.inference.outputs import is_complete
from wsiseg.inference.plan import PredictSettings, SlideTask, plan_or_error
from wsiseg.locks import new_run_id, owner
from wsiseg.parallel import SAFE_CONTEXT, map_slides
from wsiseg.slide import Slide, open_slide

log = logging.getLogger(__name__)


class BlockDataset(Dataset):
    """Blocks of tiles of several slides, one region read per item.

    Item ``i`` is ``{"image": (n, 3, T, T) uint8, "task", "core_xy": (n, 2), "last": bool, "error": str}``.

    Args:
        tasks: the planned slides, predicted in this order.
        backend: slide reader backend.
    """

    def __init__(self, tasks: Sequence[SlideTask], backend: str = "tiffslide") -> None:
        self.tasks = list(tasks)
        self.backend = backend
        self.items = [(t, b) for t, task in enumerate(self.tasks) for b in range(len(task.blocks))]
        self._open: OrderedDict[Path, Slide] = OrderedDict()

    def __len__(self) -> int:
        return len(self.items)

    def _slide(self, path: Path, mpp: float) -> Slide:
        if path not in self._open:
            if len(self._open) >= 2:
                self._open.popitem(last=False)[1].close()
            self._open[path] = open_slide(path, mpp=mpp, backend=self.backend)  # the mpp the plan resolved
        return self._open[path]

    def __getitem__(self, i: int) -> dict:
        t, b = self.items[i]
        task = self.tasks[t]
        cores = task.cores[task.blocks[b]]  # (n, 2) heatmap corners
        item = {"task": t, "core_xy": torch.from_numpy(cores), "last": b == len(task.blocks) - 1, "error": ""}
        try:
            tiles = read_block(self._slide(task.path, task.grid.slide_mpp), task, cores)  # (n, T, T, 3)
        except Exception as err:  # one unreadable region fails its slide, not the run
            item["error"] = f"{type(err).__name__}: {err}"
            tiles = np.zeros((0, task.grid.tile, task.grid.tile, 3), np.uint8)
        item["image"] = torch.from_numpy(tiles).permute(0, 3, 1, 2)  # (n, 3, T, T) uint8: 4x less to pass on
        return item

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": OrderedDict()}  # slides are reopened in each worker


def read_block(slide: Slide, task: SlideTask, cores: np.ndarray) -> np.ndarray:
    """One region read covering the tiles of ``cores`` (heatmap corners), cut into (n, T, T, 3) tiles."""
    grid = task.grid
    low, high = cores.min(axis=0), cores.max(axis=0)
    size = ((high - low) * grid.factor + grid.tile).astype(int)  # model px (w, h)
    region = slide.read_region(tuple(grid.tile_origin_level0(low[None])[0]), tuple(size), grid.model_mpp)
    offsets = (cores - low) * grid.factor
    return np.stack([region[y : y + grid.tile, x : x + grid.tile] for x, y in offsets])


class PredictionData(pl.LightningDataModule):
    """The slides of a prediction run, shared out across ranks (each slide goes to exactly one rank).

    Args:
        slides: ``(name, path)`` pairs.
        settings: tiling settings.
        out_dir: the output folder (finished slides are skipped).
        checkpoint_digest: digest of the model checkpoint.
        config_digest: digest of the settings.
        num_workers: DataLoader workers reading tiles.
        plan_workers: processes planning slides (tissue ROI).
    """

    def __init__(
        self, slides: Sequence[tuple[str, Path]], settings: PredictSettings, out_dir: Path,
        checkpoint_digest: str, config_digest: str, num_workers: int = 2, plan_workers: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        self.slides, self.settings, self.out_dir = list(slides), settings, Path(out_dir)
        self.digests = (checkpoint_digest, config_digest)
        self.num_workers, self.plan_workers = num_workers, plan_workers
        self.tasks: list[SlideTask] = []
        self.skipped: list[str] = []
        self.failed: dict[str, str] = {}
        self.run_id = ""
        self.claims: SlideClaims | None = None

    def shard(self, rank: int, world: int) -> list[tuple[str, Path]]:
        """This rank's slides: every ``world``-th slide, starting at ``rank``."""
        return self.slides[rank::world]

    def setup(self, stage: str | None = None) -> None:
        """Plan this rank's unfinished slides (in parallel); failures are recorded, not raised.

        Slides are claimed later, one by one as their tiles are read (:class:`ClaimingSampler`), so runs that
        share ``out_dir`` share its slides out between them.
        """
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
        run_id = new_run_id()
        self.run_id = self.trainer.strategy.broadcast(run_id) if self.trainer else run_id  # one id for all ranks
        self.claims = SlideClaims(self.out_dir, self.digests, owner(self.run_id, rank=rank))
        mine = self.shard(rank, world)
        done = {n for n, _ in mine if is_complete(self.out_dir, n, *self.digests)}
        todo = [(n, p) for n, p in mine if n not in done]
        self.skipped = [n for n, _ in mine if n in done]
        planned = map_slides(plan_or_error, [(n, p, self.settings) for n, p in todo], self.plan_workers, "plan slides")
        self.tasks = [t for t in planned if isinstance(t, SlideTask)]
        self.failed = {n: r for (n, _), r in zip(todo, planned, strict=True) if isinstance(r, str)}
        if self.skipped:
            log.info("rank %d: %d slides already done, skipped", rank, len(self.skipped))

    def predict_dataloader(self) -> DataLoader:
        """Blocks of tiles in slide order; ``batch_size=None``: a block is a batch."""
        dataset = BlockDataset(self.tasks, self.settings.backend)
        sampler = ClaimingSampler([(t.name, len(t.blocks)) for t in self.tasks], self.claims)
        context = SAFE_CONTEXT if self.num_workers > 0 else None  # slides were opened here: never fork
        return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=self.num_workers,
                          multiprocessing_context=context)  # fmt: skip
