"""Benchmark: the training DataLoader (cache + augmentation, the config's workers) against the training step.

Composes the training config (default ``experiment=demo``), builds or reuses its patch cache, then measures
in the same run (a) patches/s out of ``train_dataloader()`` with augmentation and the configured workers,
and (b) patches/s of the model's training step (forward, backward, optimizer step) on batches of the same
shape. The loader is no bottleneck while (a) / (b) >= 3.

    python benchmarks/bench_loader.py --cohort data/demo [--experiment demo] [--batches 60]
    python benchmarks/bench_loader.py            # generates the tiny cohort in a temp folder first
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

CONF = Path(__file__).resolve().parents[1] / "conf"


def loader_rate(datamodule, batches: int) -> float:
    """Patches per second out of the training DataLoader (after one warm-up batch per worker)."""
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    for _ in range(max(1, loader.num_workers)):
        next(iterator)
    start, count = time.perf_counter(), 0
    for _, batch in zip(range(batches), iterator, strict=False):
        count += batch["image"].shape[0]
    return count / (time.perf_counter() - start)


def step_rate(model, batch: dict, steps: int) -> float:
    """Patches per second of full training steps on one fixed batch."""
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    model.train()
    model.log = lambda *args, **kwargs: None  # no Trainer attached
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        optimizer.zero_grad()
        loss = model.training_step(batch, i)
        loss.backward()
        optimizer.step()
    return steps * batch["image"].shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohort", type=Path, help="cohort folder (default: a tiny cohort made in a temp folder)")
    parser.add_argument("--experiment", default="demo")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cohort = args.cohort
        if cohort is None:
            from wsiseg.synth import generate_cohort

            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                spec = instantiate(compose("synth", overrides=["synth=tiny"]).synth, _convert_="all")
            cohort = Path(tmp) / "tiny"
            generate_cohort(spec, cohort, seed=0)
        overrides = [f"experiment={args.experiment}", f"data.cohorts=[{cohort.resolve()}]", f"paths.output_dir={tmp}"]
        overrides.append(f"paths.cache_dir={cohort.resolve().parent / 'cache'}")
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        datamodule, model = instantiate(cfg.data), instantiate(cfg.model)
        datamodule.prepare_data()
        datamodule.setup("fit")
        batch = next(iter(datamodule.train_dataloader()))
        threads = torch.get_num_threads()
        loader = loader_rate(datamodule, args.batches)
        step = step_rate(model, batch, args.steps)
    shape = tuple(batch["image"].shape)
    print(
        f"experiment={args.experiment}  batch {shape}  workers={cfg.data.loader.num_workers}  torch threads={threads}"
    )
    print(f"(a) train DataLoader with augmentation: {loader:8.1f} patches/s")
    print(f"(b) training step (fwd + bwd + Adam):   {step:8.1f} patches/s")
    print(f"ratio (a)/(b): {loader / step:.2f}  (>= 3: the loader is not the bottleneck)")


if __name__ == "__main__":
    main()
