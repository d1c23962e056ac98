"""wsiseg's whole-slide prediction against the tools users would pick instead: same slide, weights and tiles.

Every tool runs the same U-Net weights on the same tissue tiles (wsiseg's tissue ROI and tiling: 64 px tiles
at the model's resolution, 25% overlap, crop blending), as a whole pipeline: open the slide, find its tissue,
read the tiles, run the model, stitch the tile cores into the heatmap and save it as ``.npy``. Runs are
interleaved (tool after tool, ``--repeats`` rounds) and the table gives medians, so drift on a shared machine
hits every tool alike.

- ``wsiseg``: ``predict.py``'s pipeline in this process (``PredictionData`` + ``HeatmapWriter`` + Lightning's
  ``Trainer.predict``, the config's defaults: one reading thread at the lowest priority on a CPU, batches of 64,
  ``backend=auto``, the checkpoint loaded as ``predict.py`` loads it: channels-last), TIFF and PNG pictures off.
  The peers get the model as a user hands it to them (contiguous NCHW); both models alone are rows of the table,
  and each pipeline's model share is against the model it runs.
- ``MONAI``: ``monai.data.PatchWSIDataset`` + ``monai.data.DataLoader`` (``pip install -e .[peers]``). MONAI
  reads a patch at a pyramid level and does not resample: it reads at the level closest to the model's
  resolution (3.888 um/px for 4 um/px on a 0.243 um/px slide), so its tiles cover 2.8% less tissue and its
  heatmap differs a little (the agreement column says how much).
- ``TIAToolbox``: ``SemanticSegmentor`` (``--tiatoolbox-python``). TIAToolbox 2.1 pins ``torch<2.13`` with
  torchvision, so it runs in an environment of its own (see ``peer_tiatoolbox.py`` for its set-up), as a
  subprocess per round, with the same checkpoint and exactly wsiseg's tiles (its output grid set to wsiseg's
  cores, its mask one pixel per core). Its torch is not this one: its row also gives the model alone in its
  own environment, and its model share is against that.
- ``tiffslide loop`` / ``OpenSlide loop``: the plain loop a user writes first, one ``read_region`` per tile at
  the nearest finer level, ``cv2.resize`` to the tile, the model on batches of ``--batch-size``: the floor.
- ``model alone``: the model on the same batches, already in memory: the ceiling.

    python benchmarks/bench_peers.py --slide data/camelyon/centre_0/patient_000_node_0.tif
    python benchmarks/bench_peers.py --slide ... --model unet          # the paper-width U-Net (31M)
    python benchmarks/bench_peers.py --slide ... --accelerator gpu --precision bf16-mixed --workers 8

Without ``--slide`` a ``camelyon``-preset slide is looked for in ``data/camelyon`` (``python synth.py
synth=camelyon out_dir=data/camelyon``). Without ``--checkpoint`` the network of ``--experiment`` (``--model``)
gets random weights (speed does not depend on them; every tool uses the same ones).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_predict  # noqa: E402  (the model, settings and wsiseg pipeline of the prediction benchmark)
from hydra import compose, initialize_config_dir  # noqa: E402

from wsiseg.inference import PredictSettings, TileReader, find_slides, output_paths  # noqa: E402
from wsiseg.inference.dataset import batch_requests  # noqa: E402
from wsiseg.inference.plan import SlideTask, plan_task  # noqa: E402
from wsiseg.model import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
Tool = Callable[..., tuple[float, np.ndarray]]


class Stitcher:
    """Crop-blend stitching for the peers: each tile's core, averaged to heatmap pixels, placed at its corner."""

    def __init__(self, task: SlideTask) -> None:
        self.grid, self.heatmap = task.grid, np.zeros(task.grid.heatmap_hw, np.float32)

    def add(self, probs: torch.Tensor, cores: np.ndarray) -> None:
        """Place a batch's probabilities (n, 1, T, T) of the tiles whose cores start at ``cores``."""
        g = self.grid
        side, m = g.tile // g.factor, g.margin // g.factor
        pooled = probs.float().cpu().numpy()[:, 0].reshape(len(probs), side, g.factor, side, g.factor).mean((2, 4))
        h, w = self.heatmap.shape
        for (x, y), p in zip(cores, pooled[:, m : m + g.core_hm, m : m + g.core_hm], strict=True):
            self.heatmap[y : min(y + g.core_hm, h), x : min(x + g.core_hm, w)] = p[: h - y, : w - x]

    def save(self, path: Path) -> np.ndarray:
        """Write the heatmap as float16 ``.npy`` (as wsiseg does); return it."""
        np.save(path, self.heatmap.astype(np.float16))
        return self.heatmap


def _autocast(args):
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    return torch.autocast(device, dtype=torch.bfloat16, enabled=args.precision.startswith("bf16"))


def _device(args) -> torch.device:
    return torch.device("cuda" if args.accelerator == "gpu" else "cpu")


def run_wsiseg(model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
    """predict.py's pipeline (planning included), timed by the prediction benchmark."""
    seconds, _ = bench_predict.predict(model, [(path.stem, path)], settings, out, args)
    return seconds, np.load(output_paths(out, path.stem)["heatmap"]).astype(np.float32)


def with_model(tool: Tool, own) -> Tool:
    """``tool`` run with ``own`` (wsiseg's model as ``predict.py`` loads it) instead of the model peers get."""

    def run(_model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
        return tool(own.to(_device(args)).eval(), path, settings, out, args)

    return run


def predict_layout() -> bool | None:
    """``predict.py``'s ``channels_last`` default (``conf/predict.yaml``): how wsiseg runs a checkpoint."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("predict", overrides=["ckpt_path=unused.ckpt"]).channels_last


def plain_loop(library: str) -> Tool:
    """One ``read_region`` per tile through ``library`` at the nearest finer level, resized to the tile."""

    def run(model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
        start = time.perf_counter()
        task = plan_task(path.stem, path, settings)  # the same tissue and tiles as every tool
        if library == "openslide":
            import openslide

            slide = openslide.OpenSlide(str(path))
        else:
            import tiffslide

            slide = tiffslide.TiffSlide(str(path))
        grid = task.grid
        level_mpp = [grid.slide_mpp * d for d in slide.level_downsamples]
        level = max((i for i, mpp in enumerate(level_mpp) if mpp <= grid.model_mpp * 1.001), default=0)
        read_side = round(grid.tile * grid.model_mpp / level_mpp[level])
        origins = np.round(grid.tile_origin_level0(task.cores)).astype(int)
        stitcher, device = Stitcher(task), _device(args)
        with torch.inference_mode(), _autocast(args):
            for start_i in range(0, len(origins), args.batch_size):
                tiles = []
                for x, y in origins[start_i : start_i + args.batch_size]:
                    region = np.asarray(slide.read_region((int(x), int(y)), level, (read_side, read_side)))[..., :3]
                    tiles.append(cv2.resize(region, (grid.tile, grid.tile), interpolation=cv2.INTER_AREA))
                batch = torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).to(device)
                stitcher.add(model.predict_step(batch), task.cores[start_i : start_i + args.batch_size])
        slide.close()
        heatmap = stitcher.save(out / f"{path.stem}.npy")
        return time.perf_counter() - start, heatmap

    return run


def run_monai(model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
    """MONAI's PatchWSIDataset at the level nearest the model's resolution, in MONAI's DataLoader."""
    from monai.data import DataLoader, PatchWSIDataset

    start = time.perf_counter()
    task = plan_task(path.stem, path, settings)
    grid = task.grid
    downsamples = _level_downsamples(path)
    level = int(np.argmin([abs(grid.slide_mpp * d - grid.model_mpp) for d in downsamples]))  # no resampling
    origins = np.round(grid.tile_origin_level0(task.cores)).astype(int)
    data = [{"image": str(path), "location": [int(y), int(x)], "core": i} for i, (x, y) in enumerate(origins)]
    reader = "OpenSlide" if _has_openslide() else "tifffile"
    dataset = PatchWSIDataset(data, patch_size=grid.tile, patch_level=level, include_label=False,
                              center_location=False, additional_meta_keys=["core"], reader=reader)  # fmt: skip
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.monai_workers)
    stitcher, device = Stitcher(task), _device(args)
    with torch.inference_mode(), _autocast(args):
        for batch in loader:
            image = batch["image"].as_tensor().to(device)  # (B, 3, T, T) uint8
            cores = task.cores[np.asarray(batch["image"].meta["core"])]
            stitcher.add(model.predict_step(image), cores)
    heatmap = stitcher.save(out / f"{path.stem}.npy")
    return time.perf_counter() - start, heatmap


def run_model_alone(model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
    """The model on wsiseg's batches of the slide, read into memory beforehand (not timed)."""
    task = plan_task(path.stem, path, settings)
    reader, device = TileReader(), _device(args)
    requests = batch_requests(0, task, args.batch_size)
    batches = [(reader[r]["image"].to(device), r.cores) for r in requests]
    stitcher = Stitcher(task)
    with torch.inference_mode(), _autocast(args):
        model.predict_step(batches[0][0])  # warm-up
        _sync(args)
        start = time.perf_counter()
        probs = [model.predict_step(image) for image, _ in batches]
        _sync(args)
        seconds = time.perf_counter() - start
    for p, (_, cores) in zip(probs, batches, strict=True):
        stitcher.add(p, cores)
    return seconds, stitcher.heatmap


def _sync(args) -> None:
    if args.accelerator == "gpu":
        torch.cuda.synchronize()


def _has_openslide() -> bool:
    try:
        import openslide  # noqa: F401
    except ImportError:
        return False
    return True


def _level_downsamples(path: Path) -> tuple[float, ...]:
    import tiffslide

    with tiffslide.TiffSlide(str(path)) as slide:
        return tuple(slide.level_downsamples)


def tiatoolbox(python: str, checkpoint: Path) -> Tool:
    """TIAToolbox's SemanticSegmentor, one whole run in its own environment (``peer_tiatoolbox.py``)."""

    def run(model, path: Path, settings: PredictSettings, out: Path, args) -> tuple[float, np.ndarray]:
        command = [python, str(Path(__file__).with_name("peer_tiatoolbox.py")), "--slide", str(path),
                   "--checkpoint", str(checkpoint), "--batch-size", str(args.batch_size), "--threads",
                   str(args.threads), "--repeats", "1", "--out", str(out)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"TIAToolbox's run failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        TIATOOLBOX_RUNS.append(result)
        return result["median_s"], np.load(result["heatmap"]).astype(np.float32)

    return run


#: The model alone as wsiseg runs it, where that differs from the model the peers are handed.
OWN_LAYOUT = "model alone, channels-last (wsiseg's)"

#: What each TIAToolbox run reported (its version, torch, tiles, the model alone in its environment).
TIATOOLBOX_RUNS: list[dict] = []


def available_tools(tiatoolbox_python: str | None = None, checkpoint: Path | None = None) -> dict[str, Tool]:
    """The tools this environment can run (TIAToolbox: through its own python), in the table's order."""
    tools: dict[str, Tool] = {"wsiseg": run_wsiseg}
    if tiatoolbox_python:
        tools["TIAToolbox SemanticSegmentor"] = tiatoolbox(tiatoolbox_python, checkpoint)
    try:
        import monai  # noqa: F401

        tools["MONAI PatchWSIDataset"] = run_monai
    except ImportError:
        print("MONAI is not installed (pip install -e .[peers]): its row is left out", file=sys.stderr)
    tools["plain tiffslide loop"] = plain_loop("tiffslide")
    if _has_openslide():
        tools["plain OpenSlide loop"] = plain_loop("openslide")
    tools["model alone"] = run_model_alone
    return tools


def benchmark(model, path: Path, settings: PredictSettings, args, tools: dict[str, Tool]) -> dict:
    """Interleaved rounds of every tool; medians, tiles/s, and each heatmap's agreement with wsiseg's."""
    torch.set_num_threads(args.threads)
    model = model.to(_device(args)).eval()
    task = plan_task(path.stem, path, settings)
    covered = np.zeros(task.grid.heatmap_hw, bool)
    for x, y in task.cores:
        covered[y : y + task.grid.core_hm, x : x + task.grid.core_hm] = True
    times: dict[str, list[float]] = {name: [] for name in tools}
    heatmaps: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            for name, tool in tools.items():
                out = Path(tmp) / f"{round_}-{name.replace(' ', '_')}"
                out.mkdir()
                seconds, heatmaps[name] = tool(model, path, settings, out, args)
                times[name].append(seconds)
                print(f"round {round_ + 1}/{args.repeats}  {name:24s} {seconds:7.2f} s", file=sys.stderr)
    ref = heatmaps["wsiseg"][covered]
    rows = {}
    for name in tools:
        median = statistics.median(times[name])
        rows[name] = {"seconds": times[name], "median_s": median, "tiles_per_s": len(task.cores) / median,
                      "mad_vs_wsiseg": float(np.abs(heatmaps[name][covered] - ref).mean())}  # fmt: skip
    alone = rows["model alone"]["median_s"]
    for row in rows.values():
        row["model_share"] = alone / row["median_s"]  # 1.0: the pipeline costs no more than the model
    if OWN_LAYOUT in rows:  # wsiseg runs the model channels-last: its share is against that model alone
        rows["wsiseg"]["model_share"] = rows[OWN_LAYOUT]["median_s"] / rows["wsiseg"]["median_s"]
        rows[OWN_LAYOUT]["model_share"] = 1.0
    tia = rows.get("TIAToolbox SemanticSegmentor")
    if tia is not None and TIATOOLBOX_RUNS:  # against the model alone in TIAToolbox's own environment
        own = statistics.median(r["model_alone_median_s"] for r in TIATOOLBOX_RUNS)
        last = TIATOOLBOX_RUNS[-1]
        tia |= {"model_share": own / tia["median_s"], "own_model_alone_s": own, "version": last["tool"],
                "torch": last["torch"], "tool_tiles": last["tiles"]}  # fmt: skip
    return {"slide": str(path), "slide_px": _dimensions(path), "tiles": len(task.cores),
            "parameters": sum(p.numel() for p in model.parameters()), "device": _device_name(args),
            "threads": args.threads, "workers": args.workers, "batch_size": args.batch_size,
            "precision": args.precision, "repeats": args.repeats, "tools": rows}  # fmt: skip


def _dimensions(path: Path) -> tuple[int, int]:
    import tiffslide

    with tiffslide.TiffSlide(str(path)) as slide:
        return tuple(slide.dimensions)


def _device_name(args) -> str:
    return torch.cuda.get_device_name() if args.accelerator == "gpu" else f"cpu ({torch.get_num_threads()} threads)"


def markdown(result: dict) -> str:
    """The result as a Markdown table (one column per run: put two runs side by side by hand)."""
    lines = [f"{result['parameters'] / 1e6:.2f}M-parameter U-Net, {result['tiles']} tissue tiles of "
             f"{result['slide_px'][0]} x {result['slide_px'][1]} px, {result['device']}, medians of "
             f"{result['repeats']} interleaved runs", "",
             "| tool | pipeline s | tiles/s | model share | heatmap MAD vs wsiseg |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    notes = []
    for name, row in result["tools"].items():
        mark = ""
        if "own_model_alone_s" in row:
            mark = " *"
            notes.append(f"* {row['version']} in its own environment (torch {row['torch']}, {row['tool_tiles']} "
                         f"tiles): its model share is against the model alone there, "
                         f"{row['own_model_alone_s']:.2f} s")  # fmt: skip
        lines.append(f"| {name} | {row['median_s']:.2f} | {row['tiles_per_s']:.0f} | {row['model_share']:.2f}{mark} | "
                     f"{row['mad_vs_wsiseg']:.4f} |")  # fmt: skip
    return "\n".join([*lines, *([""] + notes if notes else [])])


def default_slide() -> Path:
    try:
        return find_slides(ROOT / "data" / "camelyon")[0][1]
    except FileNotFoundError as err:
        hint = "python synth.py synth=camelyon out_dir=data/camelyon"
        raise SystemExit(f"no --slide and no data/camelyon: {hint}") from err


def _nice(text: str) -> int | str:
    """``--background-nice``: ``auto`` or a niceness."""
    return text if text == "auto" else int(text)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slide", type=Path, help="the slide (default: the first of data/camelyon)")
    parser.add_argument("--checkpoint", help="a train.py checkpoint (default: random weights of --experiment)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--model", help="model config instead of the experiment's (unet: the paper's width)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format (GPU)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (the table gives medians)")
    parser.add_argument("--workers", type=int, default=0, help="wsiseg's reading processes (0: threads)")
    parser.add_argument("--read-threads", type=int, default=1, help="wsiseg's reading threads (with --workers 0)")
    nice_help = "wsiseg's reading / planning niceness, 0-19 or auto (predict.py's background_nice)"
    parser.add_argument("--background-nice", type=_nice, default="auto", help=nice_help)
    parser.add_argument("--monai-workers", type=int, default=2, help="MONAI's DataLoader workers")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--tools", nargs="+", help="a subset of the tools (default: every one installed)")
    parser.add_argument("--json", type=Path, help="write the result here too")
    tia_help = "the python of an environment with TIAToolbox and wsiseg (see peer_tiatoolbox.py): adds its row"
    parser.add_argument("--tiatoolbox-python", help=tia_help)
    args = parser.parse_args(argv)
    model, settings = bench_predict.model_and_settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        # one checkpoint for everyone: wsiseg loads it as predict.py does, TIAToolbox's process reads it
        checkpoint = (
            Path(args.checkpoint) if args.checkpoint else bench_predict._random_checkpoint(model, settings, Path(tmp))
        )
        own, _ = load_model(checkpoint, predict_layout())
        tools = available_tools(args.tiatoolbox_python, checkpoint)
        tools["wsiseg"] = with_model(run_wsiseg, own)
        if own.hparams.channels_last != model.hparams.channels_last:
            tools[OWN_LAYOUT] = with_model(run_model_alone, own)
        result = run_all(model, settings, args, tools)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return result


def run_all(model, settings: PredictSettings, args, tools: dict[str, Tool]) -> dict:
    """The chosen tools (``--tools``; wsiseg and the model alone always) on the slide."""
    if args.tools:
        tools = {n: t for n, t in tools.items() if n in {*args.tools, "wsiseg", "model alone", OWN_LAYOUT}}
    return benchmark(model, args.slide or default_slide(), settings, args, tools)


if __name__ == "__main__":
    main()
