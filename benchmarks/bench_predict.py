"""Benchmark whole-slide prediction, every figure measured in this one run.

1. End-to-end ``predict`` (planning, block reads in DataLoader workers, model, stitching, writing) against
   the model alone on the very same tiles (already in memory): tissue tiles/s and their ratio
   (target >= 0.85: reading and stitching hidden behind compute).
2. Work follows tissue: a slide with 10% tissue against the same slide full of tissue (target <= 0.2).
3. Peak memory of a prediction run on a ``camelyon``-preset slide (50k+ px per side), in a subprocess
   (``--camelyon PATH``; the slide is made with ``python synth.py synth=camelyon``).

    python benchmarks/bench_predict.py --cohort data/demo [--checkpoint <ckpt>] [--slides 6]
    python benchmarks/bench_predict.py --experiment paper_v2 --accelerator gpu --precision bf16-mixed ...

Without ``--checkpoint`` the network of ``--experiment`` is built with random weights (speed does not
depend on them) at that experiment's resolution.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from wsiseg.inference import HeatmapWriter, PredictionData, PredictSettings, ReadingOptions, TileReader, find_slides
from wsiseg.inference.dataset import batch_requests
from wsiseg.inference.plan import plan_task
from wsiseg.model import load_model
from wsiseg.model.checkpoint import spec_of_module
from wsiseg.model.spec import MODEL_KEY
from wsiseg.slide import open_slide
from wsiseg.slide.writer import write_pyramid_tiff_from_array
from wsiseg.tasks.predict import PREDICT_TRAINER_ARGS, predict_heatmaps

ROOT = Path(__file__).resolve().parents[1]


def model_and_settings(args) -> tuple[pl.LightningModule, PredictSettings]:
    """The checkpoint's model, or the experiment's network with random weights; settings at its resolution."""
    if args.checkpoint:
        model, spec = load_model(Path(args.checkpoint), True if args.channels_last else None)
        return model, PredictSettings.from_model(spec)
    cfg = train_config(args)
    data = instantiate(cfg.data)
    return instantiate(cfg.model).eval(), PredictSettings(model_mpp=data.input_mpp, tile=data.tile_size)


def train_config(args):
    """The training config of ``--experiment`` (and ``--model``, if given)."""
    overrides = [f"experiment={args.experiment}", "paths.output_dir=."]
    overrides += [f"model={args.model}"] if args.model else []
    overrides += ["model.channels_last=true"] if args.channels_last else []
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)


def predict(model, slides, settings, out_dir: Path, args) -> tuple[float, int]:
    """Wall seconds of a full prediction run and the tiles it predicted."""
    reading = ReadingOptions(args.workers, args.read_threads, 2, args.batch_size, args.background_nice)
    data = PredictionData(slides, settings, out_dir, ("bench", "bench"), reading)
    writer = HeatmapWriter(out_dir, {"settings": {"blend": settings.blend}}, tiff=False, png=False)
    trainer = pl.Trainer(accelerator=args.accelerator, devices=1, precision=args.precision, callbacks=[writer],
                         **PREDICT_TRAINER_ARGS)  # fmt: skip
    start = time.perf_counter()
    predict_heatmaps(trainer, model, data, writer)
    seconds = time.perf_counter() - start
    return seconds, writer.tiles


def model_alone(model, slides, settings, args) -> tuple[float, int]:
    """Wall seconds of the model on the same tiles (read beforehand), in the batches predict makes."""
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    model = model.to(device)
    batches, reader = [], TileReader()
    for i, (name, path) in enumerate(slides):
        requests = batch_requests(i, plan_task(name, path, settings), args.batch_size)
        batches += [reader[request]["image"] for request in requests]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision.startswith("bf16"))
    with torch.inference_mode(), autocast:
        model.predict_step(batches[0].to(device))  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for tiles in batches:
            model.predict_step(tiles.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start, sum(len(b) for b in batches)


def tissue_fraction_slides(source: Path, folder: Path, size: int) -> list[tuple[str, Path]]:
    """Two slides of equal size: full of tissue, and the same tissue on 10% of the area (a centred disc)."""
    with open_slide(source) as slide:
        w, h = slide.dimensions
        patch = slide.read_region((w // 2 - 256, h // 2 - 256), (512, 512), slide.mpp)  # tissue texture
        mpp = slide.mpp
    full = np.tile(patch, (size // 512 + 1, size // 512 + 1, 1))[:size, :size]
    yy, xx = np.ogrid[:size, :size]
    disc = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 <= 0.10 * size * size / np.pi
    tenth = np.where(disc[..., None], full, np.uint8(242))
    write_pyramid_tiff_from_array(folder / "full.tif", full, mpp)
    write_pyramid_tiff_from_array(folder / "tenth.tif", tenth, mpp)
    return [("full", folder / "full.tif"), ("tenth", folder / "tenth.tif")]


def camelyon_memory(args, checkpoint: Path, workdir: Path) -> dict:
    """Peak RSS of ``predict.py`` on one camelyon-preset slide (its largest process, DataLoader workers included).

    A fresh wrapper process runs it, so only ``predict.py`` and its own workers count (not this process's
    earlier children).
    """
    command = [sys.executable, str(ROOT / "predict.py"), f"ckpt_path={checkpoint}", f"slides={args.camelyon}",
               f"out_dir={workdir / 'cam'}", f"hydra.run.dir={workdir / 'run'}", f"num_workers={args.workers}",
               "plan_workers=1"]  # fmt: skip
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *command], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_mb = int(out.stdout.split()[-1]) / 1024
    with open_slide(args.camelyon) as slide:
        w, h = slide.dimensions
    return {"seconds": seconds, "peak_rss_mb": peak_mb, "slide_px": (w, h), "slide_rgb_mb": w * h * 3 / 2**20}


def _nice(text: str) -> int | str:
    """``--background-nice``: ``auto`` or a niceness."""
    return text if text == "auto" else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohort", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--checkpoint", help="a train.py checkpoint (default: random weights of --experiment)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--model", help="model config instead of the experiment's (e.g. unet: the paper's width)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format (GPU)")
    parser.add_argument("--slides", type=int, default=6, help="cohort slides to predict (tumour-rich first)")
    parser.add_argument("--workers", type=int, default=0, help="reading worker processes (0: threads)")
    parser.add_argument("--read-threads", type=int, default=1, help="reading threads (with --workers 0)")
    nice_help = "wsiseg's reading / planning niceness, 0-19 or auto (predict.py's background_nice)"
    parser.add_argument("--background-nice", type=_nice, default="auto", help=nice_help)
    parser.add_argument("--batch-size", type=int, default=64, help="tiles per model batch")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--fraction-size", type=int, default=16384, help="side of the 10%% / 100%% tissue slides")
    parser.add_argument("--camelyon", type=Path, help="a camelyon-preset slide for the peak-memory figure")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds of end-to-end and model alone")
    parser.add_argument("--skip-fraction", action="store_true", help="leave out the 10%% / 100%% tissue slides")
    args = parser.parse_args()
    model, settings = model_and_settings(args)
    slides = find_slides(args.cohort)[: args.slides]
    results: dict = {"device": torch.cuda.get_device_name() if args.accelerator == "gpu" else "cpu",
                     "tile": settings.tile, "model_mpp": settings.model_mpp,
                     "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        e2e, alone = [], []
        for round_ in range(args.repeats):  # interleaved: drift on a shared machine hits both alike
            e2e_s, tiles = predict(model, slides, settings, tmp / f"e2e{round_}", args)
            alone_s, alone_tiles = model_alone(model, slides, settings, args)
            assert alone_tiles == tiles, (alone_tiles, tiles)
            e2e.append(e2e_s)
            alone.append(alone_s)
        e2e_s, alone_s = statistics.median(e2e), statistics.median(alone)
        results |= {"slides": len(slides), "tiles": tiles, "predict_tiles_per_s": tiles / e2e_s,
                    "model_tiles_per_s": tiles / alone_s, "predict_s": e2e, "model_alone_s": alone,
                    "overhead": (e2e_s - alone_s) / alone_s}  # fmt: skip
        if not args.skip_fraction:
            pair = tissue_fraction_slides(slides[0][1], tmp, args.fraction_size)
            full_s, _ = predict(model, pair[:1], settings, tmp / "full", args)
            tenth_s, _ = predict(model, pair[1:], settings, tmp / "tenth", args)
            results |= {"full_tissue_s": full_s, "tenth_tissue_s": tenth_s}
        if args.camelyon:
            checkpoint = args.checkpoint or _random_checkpoint(model, settings, tmp)
            results["camelyon"] = camelyon_memory(args, Path(checkpoint), tmp)
    report(results)


def _random_checkpoint(model, settings: PredictSettings, folder: Path) -> Path:
    path = folder / "random.ckpt"
    record = spec_of_module(model, settings.model_mpp, settings.tile).to_dict()
    torch.save({"state_dict": model.state_dict(), MODEL_KEY: record}, path)
    return path


def report(r: dict) -> None:
    print(f"device={r['device']}  model {r['parameters'] / 1e6:.2f}M parameters  tile={r['tile']} px at "
          f"{r['model_mpp']:g} um/px  tissue tiles={r['tiles']}")  # fmt: skip
    print(f"(a) end-to-end predict:     {r['predict_tiles_per_s']:8.1f} tiles/s")
    print(f"(b) model alone, same tiles:{r['model_tiles_per_s']:8.1f} tiles/s")
    print(f"ratio (a)/(b): {r['predict_tiles_per_s'] / r['model_tiles_per_s']:.2f}; everything but the model "
          f"(planning, reading, stitching, writing) adds {r['overhead']:.0%} of the model's time, "
          f"{r['overhead'] * r['tiles'] / r['model_tiles_per_s'] / r['slides'] * 1000:.0f} ms per slide "
          f"(medians of {len(r['predict_s'])} interleaved runs)")  # fmt: skip
    if "full_tissue_s" in r:
        print(f"10% tissue {r['tenth_tissue_s']:.1f} s vs full tissue {r['full_tissue_s']:.1f} s: "
              f"ratio {r['tenth_tissue_s'] / r['full_tissue_s']:.2f}  (target <= 0.2)")  # fmt: skip
    if "camelyon" in r:
        c = r["camelyon"]
        print(f"camelyon slide {c['slide_px'][0]}x{c['slide_px'][1]} px ({c['slide_rgb_mb']:.0f} MB as RGB): "
              f"predict {c['seconds']:.0f} s, peak RSS {c['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(json.dumps(r, default=str))


if __name__ == "__main__":
    main()
