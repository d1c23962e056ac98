"""Benchmark: features + slide classifier + pN staging for 500 heatmaps (issue target: under a minute).

Writes a synthetic heatmap cohort (100 patients x 5 nodes, heatmaps in predict.py's format at the demo's
size, 1100 x 1500 px at 4 um/px) in a temporary folder, then times ``stage.py``'s task twice in one run:
cold (every feature computed) and warm (features from the cache, as in a classifier sweep). Both include
the grouped 5-fold cross-validation, the final fit, prediction, staging, the submission, the reports and the pictures.

    python benchmarks/bench_stage.py [--patients 100] [--height 1100 --width 1500] [--classifier random_forest]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from wsiseg.evaluation import StageReport
from wsiseg.features import compute_features, find_heatmaps
from wsiseg.features.regions import FeatureSpec
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort
from wsiseg.tasks.stage import run

CONF = Path(__file__).resolve().parents[1] / "conf"


def timed_stage(heatmaps: Path, cohort: Path, out: Path, classifier: str, workers: int) -> tuple[float, StageReport]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "stage",
            [f"heatmaps={heatmaps}", f"cohort={cohort}", f"out_dir={out}", "paths.output_dir=unused",
             "holdout=none", f"classifier={classifier}", f"workers={workers}"],
        )  # fmt: skip
    start = time.perf_counter()
    result = run(cfg)
    return time.perf_counter() - start, result.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--height", type=int, default=1100)
    parser.add_argument("--width", type=int, default=1500)
    parser.add_argument("--mpp", type=float, default=4.0)
    parser.add_argument("--classifier", default="random_forest")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        spec = HeatmapCohortSpec(patients=args.patients, shape_hw=(args.height, args.width), mpp=args.mpp)
        heatmaps, cohort = write_heatmap_cohort(Path(tmp), spec, seed=0)
        n = len(find_heatmaps(heatmaps))
        start = time.perf_counter()
        compute_features(find_heatmaps(heatmaps), FeatureSpec(), None, args.workers)
        features_only = time.perf_counter() - start
        cold, report = timed_stage(heatmaps, cohort, Path(tmp) / "cold", args.classifier, args.workers)
        warm, _ = timed_stage(heatmaps, cohort, Path(tmp) / "warm", args.classifier, args.workers)
    print(f"\n{n} heatmaps of {args.height} x {args.width} px at {args.mpp} um/px, classifier {args.classifier}")
    print(f"features alone (no cache): {features_only:6.1f} s  ({1000 * features_only / n:.0f} ms per heatmap)")
    print(f"stage.py, cold cache:      {cold:6.1f} s  (features + 5-fold CV + fit + staging + reports)")
    print(f"stage.py, warm cache:      {warm:6.1f} s  ratio warm/cold {warm / cold:.2f}")
    print(f"out-of-fold kappa {report.kappa.get('cv', float('nan')):.3f}")
    print(f"target: cold run under 60 s -> {'PASS' if cold < 60 else 'MISS'}")


if __name__ == "__main__":
    main()
