"""``HeatmapWriter``: a Lightning prediction writer that stitches tile probabilities into heatmaps on disk."""

from __future__ import annotations

import contextlib
import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from tqdm.auto import tqdm

from wsiseg.inference.claims import SlideClaims
from wsiseg.inference.dataset import PredictionData
from wsiseg.inference.outputs import SlidePrediction, add_heatmap_tiffs, write_outputs
from wsiseg.inference.plan import SlideTask
from wsiseg.inference.tiling import pooled_window
from wsiseg.slide import open_slide

log = logging.getLogger(__name__)


#: A slide's accumulators up to this many bytes are held in memory; larger ones are memory maps in ``.work/``.
MEMORY_ACCUMULATORS = 256 * 2**20


class HeatmapWriter(BasePredictionWriter):
    """Accumulate each block's probabilities into heatmap-sized sums, finish a slide at its last block.

    Memory stays bounded: a slide's accumulators are held in memory up to :data:`MEMORY_ACCUMULATORS` bytes
    (a CAMELYON slide at 4 um/px: 43 MB); larger ones are memory maps on disk (``.work/``, named after the
    run and rank: private to it), so memory does not grow with the slide. Each rank writes only the
    slides it holds the claim of (see :mod:`wsiseg.inference.claims`) and gives the claim back once the
    slide's outputs are written or it failed.

    Args:
        out_dir: output folder.
        meta: metadata recorded with every slide (checkpoint path and digest, settings and their digest).
        tiff: also write the pyramidal heatmap TIFF (8-bit probability).
        png: also write the overlay PNG.
        tiff_colour: also write the RGBA pyramidal heatmap TIFF (jet colours, transparent below 0.1).
    """

    def __init__(
        self, out_dir: str | Path, meta: dict, tiff: bool = True, png: bool = True, tiff_colour: bool = False
    ) -> None:
        super().__init__(write_interval="batch")
        self.out_dir, self.meta, self.tiff, self.png = Path(out_dir), meta, tiff, png
        self.tiff_colour = tiff_colour
        self.work = self.out_dir / ".work"
        self.done: list[str] = []
        self.failed: dict[str, str] = {}
        self._acc: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._progress: tqdm | None = None
        self.tiles, self._start = 0, 0.0  # tiles predicted by this rank
        self._token = ""
        self._data: PredictionData | None = None

    def add_tiffs(self, names: list[str], claims: SlideClaims) -> dict[str, list[str]]:
        """Give slides finished by an earlier run the TIFFs this run asks for and they lack (slide -> kinds).

        Their heatmaps are not predicted again; the TIFFs come from the stored heatmap, each slide under its
        claim. A slide whose stored outputs cannot be read is reported in :attr:`failed`.
        """
        added: dict[str, list[str]] = {}
        if not (self.tiff or self.tiff_colour):
            return added
        for name in names:
            try:
                kinds = claims.amend(name, partial(add_heatmap_tiffs, self.out_dir, name, self.tiff, self.tiff_colour))
            except (OSError, ValueError, KeyError, TypeError) as error:
                self.failed[name] = f"adding its heatmap TIFFs failed: {type(error).__name__}: {error}"
                log.error("%s: %s", name, self.failed[name])
                continue
            if kinds:
                added[name] = kinds
        if added:
            kinds = sorted({k for ks in added.values() for k in ks})
            log.info("%d slides finished earlier: added %s from their stored heatmaps", len(added), ", ".join(kinds))
        return added

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the progress bar (slides done, tiles/s)."""
        data: PredictionData = trainer.datamodule
        self._data, self._token = data, f"{data.run_id}-r{trainer.global_rank}"
        self.work.mkdir(parents=True, exist_ok=True)
        self._progress = tqdm(total=len(data.todo), desc=f"predict [rank {trainer.global_rank}]", unit="slide")
        self._start = time.perf_counter()

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):
        """Add one block's tiles to its slide; finish the slide after its last block."""
        data: PredictionData = trainer.datamodule
        index = int(batch["task"])
        task = data.tasks.get(index)
        if task is None:  # the slide failed at an earlier batch
            return
        if batch["error"]:
            self._fail(index, task, batch["error"])
        else:
            self._accumulate(index, task, prediction, batch["core_xy"].cpu().numpy())
            self.tiles += len(batch["core_xy"])
            if batch["last"]:
                self._finish(index, task)
        self._progress.n = len(self.done) + len(self.failed) + len(data.failed)  # planning failures too
        self._progress.set_postfix(tiles_per_s=f"{self.tiles / (time.perf_counter() - self._start):.1f}")
        self._progress.refresh()

    def _accumulators(self, index: int, task: SlideTask) -> tuple[np.ndarray, ...]:
        """The slide's heatmap-sized sums: (sum, weight), or (heatmap,) alone for crop blending."""
        if index not in self._acc:
            shape = task.grid.heatmap_hw
            parts = ("heatmap",) if self._crop else ("sum", "weight")
            if len(parts) * 4 * shape[0] * shape[1] <= MEMORY_ACCUMULATORS:  # pages are zeroed as first touched
                self._acc[index] = tuple(np.zeros(shape, np.float32) for _ in parts)
            else:
                self._acc[index] = tuple(
                    np.lib.format.open_memmap(self._work_file(task, part), "w+", np.float32, shape) for part in parts
                )
        return self._acc[index]

    @property
    def _crop(self) -> bool:
        return self.meta["settings"]["blend"] == "crop"

    def _accumulate(self, index: int, task: SlideTask, probs: torch.Tensor, cores: np.ndarray) -> None:
        grid = task.grid
        f, side = grid.factor, grid.tile // grid.factor
        probs = probs.float().cpu().numpy()[:, 0]  # (n, T, T)
        if self._crop:  # cores tile the slide without overlap: each heatmap pixel is one tile's, weight 1
            (heatmap,) = self._accumulators(index, task)
            self._place_cores(heatmap, grid, probs, cores)
            return
        total, weight = self._accumulators(index, task)
        # average within each heatmap pixel first, then weight whole heatmap pixels by the tile's window
        pooled_w = pooled_window(grid.tile, grid.margin, f, self.meta["settings"]["blend"])  # (t, t)
        pooled_p = probs.reshape(len(probs), side, f, side, f).mean(axis=(2, 4)) * pooled_w  # (n, t, t)
        for (cx, cy), p in zip(cores - grid.margin // f, pooled_p, strict=True):
            y0, x0 = max(cy, 0), max(cx, 0)
            y1, x1 = min(cy + side, total.shape[0]), min(cx + side, total.shape[1])
            if y0 < y1 and x0 < x1:
                total[y0:y1, x0:x1] += p[y0 - cy : y1 - cy, x0 - cx : x1 - cx]
                weight[y0:y1, x0:x1] += pooled_w[y0 - cy : y1 - cy, x0 - cx : x1 - cx]

    @staticmethod
    def _place_cores(heatmap: np.ndarray, grid, probs: np.ndarray, cores: np.ndarray) -> None:
        """Each tile's core (n, T, T model pixels), averaged to heatmap pixels, at its corner (x, y).

        The same numbers as the weighted sum with the crop window (whose pooled weights are exactly 1 in
        the core and 0 in the margins, the margin being whole heatmap pixels), without the weight array.
        """
        f, m, core = grid.factor, grid.margin, grid.core
        inner = probs[:, m : m + core, m : m + core]  # (n, core, core) model pixels
        pooled = inner.reshape(len(inner), core // f, f, core // f, f).mean(axis=(2, 4)) if f > 1 else inner
        h, w = heatmap.shape
        for (x, y), p in zip(cores, pooled, strict=True):
            y1, x1 = min(y + grid.core_hm, h), min(x + grid.core_hm, w)
            heatmap[y:y1, x:x1] = p[: y1 - y, : x1 - x]

    def _finish(self, index: int, task: SlideTask) -> None:
        accumulators = self._acc.pop(index)
        total = accumulators[0]
        if not self._crop:
            weight = accumulators[1]
            rows, cols = task.extent  # work follows tissue: outside the tiles' extent everything is 0
            for y in range(rows.start, rows.stop, 1024):  # probability = weighted mean; 0 where nothing predicted
                block = (slice(y, min(y + 1024, rows.stop)), cols)
                total[block] = np.where(weight[block] > 0, total[block] / np.maximum(weight[block], 1e-12), 0.0)
        thumbnail = None
        if self.png:
            with open_slide(task.path, mpp=task.grid.slide_mpp) as slide:
                thumbnail = slide.thumbnail(task.grid.heatmap_mpp)[: total.shape[0], : total.shape[1]]
        meta = {**self.meta, "tiles": int(len(task.cores)), "reader": task.backend}
        prediction = SlidePrediction(task.name, task.path, task.grid, total, task.tissue, thumbnail)
        write_outputs(self.out_dir, prediction, meta, self.tiff, self.png, self.tiff_colour)
        del total, accumulators, prediction
        self._drop_work(task)
        self.done.append(task.name)
        self._data.tasks.pop(index, None)  # its tissue mask is no longer needed
        self._data.claims.release(task.name)

    def _fail(self, index: int, task: SlideTask, error: str) -> None:
        log.error("%s: %s", task.name, error)
        self.failed[task.name] = error
        self._acc.pop(index, None)
        self._data.tasks.pop(index, None)
        self._drop_work(task)
        self._data.claims.release(task.name)

    def _work_file(self, task: SlideTask, part: str) -> Path:
        return self.work / f"{task.name}.{self._token}.{part}.npy"

    def _drop_work(self, task: SlideTask) -> None:
        for part in ("heatmap", "sum", "weight"):
            self._work_file(task, part).unlink(missing_ok=True)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Close the progress bar, give back any claim still held, remove the scratch folder when empty."""
        if self._progress is not None:
            if self._data is not None:
                self._progress.n = len(self.done) + len(self.failed) + len(self._data.failed)
            self._progress.close()
        if self._data is not None and self._data.claims is not None:
            self._data.claims.release_all()
        with contextlib.suppress(OSError):  # another run may still be working in it
            self.work.rmdir()
