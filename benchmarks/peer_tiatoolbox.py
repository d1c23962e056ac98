"""TIAToolbox's SemanticSegmentor on the peer benchmark's slide, tiles and weights, in TIAToolbox's own environment.

TIAToolbox 2.1 pins ``torch<2.13`` with torchvision, so it cannot share wsiseg's environment (torch 2.13.0,
CPU build); ``bench_peers.py --tiatoolbox-python <its python>`` runs this script there as a subprocess and
puts its figures in the same table. Set up that environment once (a CUDA build of torch 2.12 from PyPI,
several GB, which runs on the CPU as well):

    python -m venv .venv-tia
    .venv-tia/bin/pip install "tiatoolbox==2.1.3" "torch==2.12.0" "torchvision==0.27.0" -e .

What it runs, timed as a whole (``--repeats`` runs; the figures of each are printed as JSON):

1. wsiseg's tissue ROI and tiling of the slide (``plan_task``, as every tool of the benchmark does);
2. ``SemanticSegmentor.run(patch_mode=False)`` with an ``IOSegmentorConfig`` of the same tiles: input 64 px
   (the model's tile) at the model's um/px, output and stride the tile's core (48 px), so TIAToolbox's output
   grid is wsiseg's core grid and its averaging of outputs is wsiseg's crop blending. TIAToolbox chooses
   tiles by a mask: the mask given holds one pixel at the centre of each of wsiseg's cores, which lies in
   that tile's input window and in no other, so it runs exactly wsiseg's tiles. Reading is TIAToolbox's
   (``WSIReader``: OpenSlide for TIFFs, resampled to the requested um/px);
3. the probabilities from TIAToolbox's Zarr output, written as a float16 ``.npy`` heatmap.

It also times the model alone on the same tiles in this environment (its torch is not wsiseg's), so the
table can say what TIAToolbox's pipeline adds to its own model time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from wsiseg.inference import PredictSettings, TileReader
from wsiseg.inference.dataset import batch_requests
from wsiseg.inference.plan import SlideTask, plan_task
from wsiseg.model import load_model


def tia_model(module: torch.nn.Module, margin: int):
    """The wsiseg module as a TIAToolbox ``ModelABC``: uint8 NHWC tiles in, the cores' probabilities out (NHWC)."""
    from tiatoolbox.models.models_abc import ModelABC

    class WsisegUNet(ModelABC):
        def __init__(self) -> None:
            super().__init__()
            self.net = module  # not "module": TIAToolbox reads that name as a DataParallel wrapper

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.net.predict_step(image)

        @staticmethod
        def infer_batch(model: torch.nn.Module, batch_data, *, device: str) -> np.ndarray:
            model.eval()
            with torch.inference_mode():
                image = torch.as_tensor(batch_data).to(device).permute(0, 3, 1, 2)  # NCHW view, as its own UNet
                probs = model(image)  # (N, 1, T, T)
                core = probs[:, :, margin : probs.shape[2] - margin, margin : probs.shape[3] - margin]
                return core.permute(0, 2, 3, 1).cpu().numpy()  # (N, core, core, 1)

    return WsisegUNet()


def core_centre_mask(task: SlideTask) -> np.ndarray:
    """A mask at heatmap resolution with one pixel at the centre of each core wsiseg predicts."""
    mask = np.zeros(task.grid.heatmap_hw, np.uint8)
    half = task.grid.core_hm // 2
    mask[task.cores[:, 1] + half, task.cores[:, 0] + half] = 1
    return mask


def run_tiatoolbox(module, path: Path, settings: PredictSettings, out: Path, batch_size: int) -> tuple[float, dict]:
    """One whole run: plan, TIAToolbox's segmentor, the heatmap saved; seconds and what it ran."""
    from tiatoolbox.models.engine.io_config import IOSegmentorConfig
    from tiatoolbox.models.engine.semantic_segmentor import SemanticSegmentor

    start = time.perf_counter()
    task = plan_task(path.stem, path, settings)
    grid = task.grid
    if grid.factor != 1:
        raise SystemExit("the TIAToolbox runner needs heatmap_mpp == model_mpp (its output grid is the model's)")
    ioconfig = IOSegmentorConfig(
        input_resolutions=[{"units": "mpp", "resolution": grid.model_mpp}],
        output_resolutions=[{"units": "mpp", "resolution": grid.model_mpp}],
        patch_input_shape=(grid.tile, grid.tile),
        patch_output_shape=(grid.core, grid.core),
        stride_shape=(grid.core, grid.core),
    )
    segmentor = SemanticSegmentor(model=tia_model(module, grid.margin), batch_size=batch_size, num_workers=0,
                                  device="cpu", verbose=False)  # fmt: skip
    result = segmentor.run([path], masks=[core_centre_mask(task)], patch_mode=False, ioconfig=ioconfig,
                           save_dir=out / "tia", overwrite=True, output_type="zarr", auto_get_mask=False,
                           return_probabilities=True)  # fmt: skip
    heatmap = read_probabilities(result, path, grid.heatmap_hw)
    np.save(out / f"{path.stem}.npy", heatmap.astype(np.float16))
    seconds = time.perf_counter() - start
    tiles = len(segmentor.output_locations) if segmentor.output_locations is not None else -1
    shutil.rmtree(out / "tia", ignore_errors=True)
    return seconds, {"tiles": tiles, "heatmap": str(out / f"{path.stem}.npy")}


def read_probabilities(result, path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The tumour probability (H, W) at the model's resolution from the segmentor's Zarr output."""
    import zarr

    store = result[path] if isinstance(result, dict) and path in result else next(iter(dict(result).values()))
    group = zarr.open(str(store), mode="r")
    probs = np.asarray(group["probabilities"])  # (H', W', C) in the output grid
    heatmap = np.zeros(shape, np.float32)
    h, w = min(shape[0], probs.shape[0]), min(shape[1], probs.shape[1])
    heatmap[:h, :w] = probs[:h, :w, 0]
    return heatmap


def model_alone(module, path: Path, settings: PredictSettings, batch_size: int) -> float:
    """The model on the same tiles, read into memory beforehand (not timed), in batches of ``batch_size``."""
    task = plan_task(path.stem, path, settings)
    reader = TileReader()
    batches = [reader[r]["image"] for r in batch_requests(0, task, batch_size)]
    with torch.inference_mode():
        module.predict_step(batches[0])  # warm-up
        start = time.perf_counter()
        for image in batches:
            module.predict_step(image)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slide", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the weights every tool runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="the last run's heatmap is kept here")
    args = parser.parse_args(argv)
    import tiatoolbox

    torch.set_num_threads(args.threads)
    module, spec = load_model(args.checkpoint)
    settings = PredictSettings.from_model(spec)
    seconds, alone = [], []
    args.out.mkdir(parents=True, exist_ok=True)
    for _ in range(args.repeats):  # interleaved with the model alone: drift hits both alike
        s, info = run_tiatoolbox(module, args.slide, settings, args.out, args.batch_size)
        seconds.append(s)
        alone.append(model_alone(module, args.slide, settings, args.batch_size))
        print(f"TIAToolbox {s:7.2f} s   model alone here {alone[-1]:7.2f} s", file=sys.stderr)
    result = {"tool": f"TIAToolbox {tiatoolbox.__version__} SemanticSegmentor", "torch": torch.__version__,
              "seconds": seconds, "median_s": statistics.median(seconds), "model_alone_seconds": alone,
              "model_alone_median_s": statistics.median(alone), **info}  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
