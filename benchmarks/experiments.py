"""The paper's experiment table in one command: every variant of benchmarks/experiments.yaml on several seeds.

    python benchmarks/experiments.py [--quick] [--seeds 0 1 2] [--out outputs/experiments] [--only VARIANT ...]
                                     [--synth-override KEY=VALUE ...] [--n-boot 2000] [--collect-only]

Runs the project's commands as subprocesses on the hard benchmark cohort (``synth.py synth=hard``): per seed
``train.py experiment=hard seed=S data.split.seed=S`` (another patient split and initialisation), then
``predict.py`` on every slide of the cohort and ``stage.py``, which scores the U-Net's held-out patients.
Variants sharing their train (and predict) overrides share the model (and heatmaps); every step keeps its
outputs and a ``done.json`` in ``<out>/steps/``, so an interrupted table reruns only what is missing, and a
failed step is reported (command, log) while the other cells go on (see ``experiment_cells.py``).

Writes ``table.md``, ``table.csv``, ``table.json`` and ``table.png`` in ``--out`` (see ``experiment_table.py``)
and prints the Markdown table and the total wall time. ``--quick`` is a tiny table (the ``quick`` section of
experiments.yaml: a 10-patient cohort, one short epoch, 2 seeds, the ``quick: true`` variants) for tests.
``--collect-only`` runs nothing and writes the table of the cells already done (e.g. while a run goes on).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling modules, when run as a script

from experiment_cells import (  # noqa: E402
    STAGES,
    TABLE,
    Cell,
    Common,
    Launcher,
    Outcome,
    Step,
    launch,
    load_table,
    plan,
    recorded_outcomes,
    run_steps,
    select,
    unique_steps,
)
from experiment_outputs import write_outputs  # noqa: E402
from experiment_table import CellResult, aggregate, read_cell  # noqa: E402
from tqdm import tqdm  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tiny table of experiments.yaml's quick section")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; --quick: its own)")
    parser.add_argument("--out", type=Path, default=Path("outputs/experiments"), help="table and step folders")
    parser.add_argument("--only", nargs="+", metavar="VARIANT", help="these variants (and the baseline)")
    synth_help = "an override of synth.py for the cohort, e.g. synth.n_patients=20 (repeatable)"
    parser.add_argument("--synth-override", action="append", default=[], metavar="KEY=VALUE", help=synth_help)
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap draws of every CI")
    parser.add_argument("--table", type=Path, default=TABLE, help="the variants' table (YAML)")
    collect_help = "run nothing: the table of the steps already done (the others' cells listed as not run)"
    parser.add_argument("--collect-only", action="store_true", help=collect_help)
    return parser.parse_args(argv)


def common_overrides(common: Common, quick: dict, use_quick: bool, synth_overrides: Sequence[str]) -> Common:
    """The overrides before each variant's: the table's ``common`` ones, ``--quick``'s, and ``--synth-override``."""
    section = quick if use_quick else {}
    lists = {k: getattr(common, k) + tuple(str(o) for o in section.get(k) or ()) for k in ("synth", *STAGES)}
    lists["synth"] += tuple(synth_overrides)
    return Common(**lists)


class Progress:
    """A progress bar of cells done / total, with the time left from the steps' measured wall times."""

    def __init__(self, cells: Sequence[Cell], steps: Sequence[Step]) -> None:
        self.cells, self.seen = cells, set()
        self.pending = {s.folder.name: s.kind for s in steps if s.record() is None}
        self.times: dict[str, list[float]] = {}
        for step in steps:
            record = step.record()
            if record is not None:  # earlier runs' times are estimates too
                self.times.setdefault(step.kind, []).append(float(record["wall_s"]))
        fmt = "{desc}: {n_fmt}/{total_fmt} cells |{bar}| {elapsed}{postfix}"
        self.bar = tqdm(total=len(cells), desc="experiment table", bar_format=fmt, dynamic_ncols=True)
        self._refresh()

    def __call__(self, outcome: Outcome) -> None:
        """Count a step's outcome (and its time); say so when it failed."""
        self.seen.add(outcome.step.folder.name)
        self.pending.pop(outcome.step.folder.name, None)
        if outcome.status == "done":
            self.times.setdefault(outcome.step.kind, []).append(outcome.wall_s)
        if outcome.status == "failed":
            tqdm.write(f"FAILED {outcome.message}")
        self.bar.n = sum(1 for c in self.cells if c.stage.folder.name in self.seen)
        self._refresh()

    def time_left(self) -> float | None:
        """Seconds left: each pending step at its kind's mean time (the mean of all kinds where unmeasured)."""
        measured = [t for times in self.times.values() for t in times]
        if not self.pending:
            return 0.0
        if not measured:
            return None
        overall = sum(measured) / len(measured)
        mean = {k: sum(v) / len(v) for k, v in self.times.items()}
        return sum(mean.get(kind, overall) for kind in self.pending.values())

    def _refresh(self) -> None:
        left = self.time_left()
        text = "measuring" if left is None else f"~{_duration(left)}"
        self.bar.set_postfix_str(f"{len(self.pending)} steps to run, time left {text}")

    def close(self) -> None:
        """End the bar."""
        self.bar.close()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def collect(cells: Sequence[Cell], outcomes: dict[str, Outcome]) -> tuple[dict[str, list], dict[str, list]]:
    """Per variant its cells' results and its failures (the first failed or blocked step of each cell)."""
    results: dict[str, list[CellResult]] = {}
    failures: dict[str, list[str]] = {}
    for cell in cells:
        chain = [outcomes[s.folder.name] for s in cell.stage.chain()]
        bad = next((o for o in chain if not o.ok), None)
        if bad is not None:
            failures.setdefault(cell.variant.name, []).append(f"seed {cell.seed}: {bad.message.splitlines()[0]}"
                                                              f" (log {bad.step.log_file})")  # fmt: skip
            continue
        times = {kind: sum(o.wall_s for o in chain if o.step.kind == kind) for kind in STAGES}  # every member
        cpu = {kind: sum(o.cpu_s for o in chain if o.step.kind == kind) for kind in STAGES}  # NaN if one lacks it
        result = read_cell(cell.variant.name, cell.seed, cell.stage.run_dir, times["train"], times["predict"],
                           cpu["train"], cpu["predict"])  # fmt: skip
        results.setdefault(cell.variant.name, []).append(result)
    return results, failures


def main(argv: Sequence[str] | None = None, launcher: Launcher = launch) -> int:
    """Run (or resume) the table and write its files; exit status 1 if a step failed."""
    start = time.perf_counter()
    args = parse_args(argv)
    variants, quick, common = load_table(args.table)
    chosen = select(variants, args.only, args.quick)
    seeds = args.seeds or (quick.get("seeds", [0, 1]) if args.quick else [0, 1, 2])
    out = args.out.resolve()
    cells = plan(chosen, seeds, common_overrides(common, quick, args.quick, args.synth_override), out)
    steps = unique_steps(cells)
    if args.collect_only:
        outcomes = recorded_outcomes(steps)
    else:
        progress = Progress(cells, steps)
        try:
            outcomes = run_steps(steps, launcher, progress)
        finally:
            progress.close()
    results, failures = collect(cells, outcomes)
    versus = {v.name: v.versus for v in chosen if v.versus}
    rows = aggregate(results, failures, {v.name: v.description for v in chosen}, args.n_boot, versus)
    meta = {
        "seeds": list(seeds), "quick": args.quick, "collect_only": args.collect_only,
        "cohort_overrides": list(cells[0].step("synth").overrides),
        "overrides": {v.name: {"train": v.train, "predict": v.predict, "stage": v.stage} for v in chosen},
        "steps": {o.step.folder.name: {"status": o.status, "wall_s": round(o.wall_s, 1), "cpu_s": round(o.cpu_s, 1)}
                  for o in outcomes.values()},
        "wall_s": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    print(write_outputs(rows, out, meta))
    failed = sum(1 for o in outcomes.values() if o.status == "failed")
    print(f"{len(cells)} cells, {len(steps)} steps ({failed} failed); table in {out}/table.md|csv|json|png")
    print(f"total wall time {_duration(time.perf_counter() - start)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
