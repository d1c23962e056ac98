"""What each network costs per tile, training and predicting, against wsiseg's U-Net: ratios measured in one run.

Every ``conf/model`` file named is built with random weights (speed does not depend on them) and timed on the
same random tiles: a training step (forward, BCE loss, backward, Adam step) and prediction (forward and sigmoid
under ``no_grad``), each in fp32 and under bf16 autocast, with channels-last tensors for convolutional networks.
On the CPU, models are timed round-robin (every repeat visits every model) so that drift on a shared machine
spreads over all of them; on a GPU one at a time (all of them would not fit). Each figure is the median of the
repeats. The ratio column divides each model's time per tile by
the paper U-Net's (``unet``) in the same precision, so > 1 means slower.

    python benchmarks/bench_encoders.py                                   # CPU: the families at CPU size
    python benchmarks/bench_encoders.py --device cuda --models all        # GPU: the foundation models too
    python benchmarks/bench_encoders.py --tile 224 --batch 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch.nn import functional as F

import wsiseg.tasks  # noqa: F401 - registers the configs' schemas, as every entry script does

CONF = Path(__file__).resolve().parents[1] / "conf"
#: On the CPU: every family at a size the CPU can time in minutes (the ViT-H / ViT-g models are GPU rows).
CPU_MODELS = ["unet_tiny", "unet", "resnet18_unet", "resnet34_unet", "unetplusplus", "fpn", "deeplabv3plus",
              "vit_tiny", "vit_small", "uni"]  # fmt: skip
ALL_MODELS = [*CPU_MODELS, "virchow2", "uni2_h", "h_optimus_0"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="conf/model names, or 'all' (default: CPU set)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--tile", type=int, default=224, help="tile side (224: a multiple of 14, 16 and 32)")
    parser.add_argument("--batch", type=int, default=8, help="tiles per step")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each measurement")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    return parser.parse_args()


def build(name: str, device: str) -> torch.nn.Module:
    """The ``conf/model/<name>.yaml`` module with random weights (pretrained weights are not read)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={name}"])
    if cfg.model.net.get("weights"):
        cfg.model.net.weights = None
    module = instantiate(cfg.model).to(device)
    if not name.startswith("vit") and name not in ("uni", "virchow2", "uni2_h", "h_optimus_0"):
        module = module.to(memory_format=torch.channels_last)
    return module


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def autocast(device: str, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
    return nullcontext()


def measurements(module: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, device: str) -> dict:
    """One repeat's seconds per tile: train and predict, fp32 and bf16."""
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    out = {}
    for precision in ("fp32", "bf16"):

        def train_step(precision=precision):
            module.train()
            with autocast(device, precision):
                loss = F.binary_cross_entropy_with_logits(module(images).float(), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def predict(precision=precision):
            module.eval()
            with torch.no_grad(), autocast(device, precision):
                torch.sigmoid(module(images)).float()

        out[f"train_{precision}"] = timed(train_step, device) / len(images)
        out[f"predict_{precision}"] = timed(predict, device) / len(images)
    return out


def time_models(names: list[str], images: torch.Tensor, masks: torch.Tensor, args: argparse.Namespace):
    """Each model's repeats (on the CPU round-robin, all models resident; on a GPU one model at a time)."""
    runs: dict[str, list[dict]] = {name: [] for name in names}
    params: dict[str, int] = {}
    if args.device.startswith("cuda"):
        for name in names:
            try:
                module = build(name, args.device)
                params[name] = sum(p.numel() for p in module.parameters())
                measurements(module, images, masks, args.device)  # warm-up: allocations, kernels, autotuning
                runs[name] = [measurements(module, images, masks, args.device) for _ in range(args.repeats)]
            except torch.cuda.OutOfMemoryError:
                print(f"{name}: out of GPU memory at batches of {len(images)}; left out")
                runs[name] = []
            module = None
            torch.cuda.empty_cache()
        return runs, params
    modules = {}
    for name in names:
        modules[name] = build(name, args.device)
        params[name] = sum(p.numel() for p in modules[name].parameters())
        measurements(modules[name], images, masks, args.device)  # warm-up: allocations, kernels, autotuning
    for _ in range(args.repeats):
        for name in names:
            runs[name].append(measurements(modules[name], images, masks, args.device))
    return runs, params


def main() -> None:
    args = parse_args()
    names = ALL_MODELS if args.models == ["all"] else args.models or CPU_MODELS
    if "unet" not in names:
        names = ["unet", *names]
    torch.manual_seed(0)
    images = torch.rand(args.batch, 3, args.tile, args.tile, device=args.device)
    masks = (torch.rand(args.batch, 1, args.tile, args.tile, device=args.device) > 0.7).float()
    runs, params = time_models(names, images, masks, args)
    keys = ("train_fp32", "train_bf16", "predict_fp32", "predict_bf16")
    names = [n for n in names if runs[n]]  # a model that did not fit in memory is left out (said above)
    figures = {name: {k: statistics.median(r[k] for r in runs[name]) for k in keys} for name in names}
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"{device}, torch {torch.__version__}, {args.tile} px tiles, batches of {args.batch}, "
          f"median of {args.repeats}; ms per tile (ratio to the paper U-Net in the same precision)")  # fmt: skip
    print(f"{'model':<15}{'params':>9}" + "".join(f"{k:>22}" for k in keys))
    base = figures["unet"]
    for name in names:
        row = f"{name:<15}{params[name] / 1e6:>8.1f}M"
        for k in keys:
            row += f"{figures[name][k] * 1e3:>13.2f} ({figures[name][k] / base[k]:>5.2f}x)"
        print(row)
    if args.json:
        record = {"device": device, "tile": args.tile, "batch": args.batch, "repeats": args.repeats,
                  "torch": torch.__version__, "params": params, "seconds_per_tile": figures}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
