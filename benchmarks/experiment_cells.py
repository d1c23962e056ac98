"""The experiment table's cells: variants, the steps each (variant, seed) needs, shared steps, and resume.

A cell (one variant, one seed) is a chain of four steps: the cohort (``synth.py``), the U-Net (``train.py``),
its heatmaps (``predict.py``) and the staging (``stage.py``). A step is keyed by a digest of everything that
determines its outputs: its parent's key and its own overrides (the common ones, then the variant's), plus
the seed for training. Cells whose overrides agree up to a step share that step, e.g. every classifier
variant of a seed uses the baseline's model and heatmaps (and so stage.py's feature cache in them). The
key covers overrides, not the files under ``conf/``: after editing those, run into a new ``--out``.

Each step runs in its own folder ``<out>/steps/<kind>[-s<seed>]-<key>/``: ``run/`` (the command's Hydra run
folder), ``log.txt`` (its stdout and stderr) and, written only when it succeeded, ``done.json`` (command,
overrides, wall time, return code). A step with ``done.json`` is not run again; one without starts afresh
(its folder is cleared), except ``predict.py``, which resumes its own unfinished heatmaps.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

REPO = Path(__file__).resolve().parents[1]
TABLE = Path(__file__).with_name("experiments.yaml")
#: The cohort preset, and the training experiment that reads it from ``<paths.data_dir>/hard``.
COHORT, EXPERIMENT = "hard", "hard"
STAGES = ("train", "predict", "stage")
Status = Literal["done", "cached", "failed", "blocked"]
#: Runs a command with its output to a log file in a working folder; returns the exit status.
Launcher = Callable[[Sequence[str], Path, Path], int]


@dataclass(frozen=True)
class Variant:
    """One row of the table: its name, what it changes, and the overrides it adds to each command."""

    name: str
    description: str
    train: tuple[str, ...] = ()
    predict: tuple[str, ...] = ()
    stage: tuple[str, ...] = ()
    quick: bool = False
    from_baseline: bool = False
    members: int = 1
    versus: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Variant:
        """A variant from a row of ``experiments.yaml`` (unknown keys are an error).

        ``from_baseline: true``: its training continues from the baseline's model of the same seed
        (``mining.start``: later rounds only). ``members: M``: its heatmaps are the ensemble of M models of the
        seed's split, the variant's own and M - 1 more trained with other initialisation seeds. ``versus: ROW``:
        besides the baseline, its paired differences to that row (its control) are reported.
        """
        keys = {"name", "description", "quick", "from_baseline", "members", "versus", *STAGES}
        unknown = sorted(set(row) - keys)
        if unknown or "name" not in row:
            raise ValueError(f"experiments table: row {row} needs a name and takes only {sorted(cls.__annotations__)}")
        lists = {k: tuple(str(o) for o in row.get(k) or ()) for k in STAGES}
        members = int(row.get("members", 1))
        if members < 1:
            raise ValueError(f"experiments table: row {row['name']!r}: members must be >= 1")
        versus = str(row["versus"]) if row.get("versus") is not None else None
        return cls(str(row["name"]), str(row.get("description", "")), quick=bool(row.get("quick", False)),
                   from_baseline=bool(row.get("from_baseline", False)), members=members, versus=versus,
                   **lists)  # fmt: skip


@dataclass(frozen=True)
class Common:
    """The overrides every cell's commands get before the variant's (``--quick`` and ``--synth-override``)."""

    synth: tuple[str, ...] = ()
    train: tuple[str, ...] = ()
    predict: tuple[str, ...] = ()
    stage: tuple[str, ...] = ()


def load_table(path: Path = TABLE) -> tuple[list[Variant], dict[str, Any], Common]:
    """The variants of the table (the first is the baseline), its ``quick`` section and its ``common`` one.

    ``common`` holds overrides every cell's commands get first (e.g. how predict.py runs: no pictures, bf16).
    """
    data = yaml.safe_load(path.read_text())
    variants = [Variant.of(row) for row in data["variants"]]
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: variant names must be unique: {names}")
    for v in variants:
        if v.versus is not None and (v.versus not in names or v.versus == v.name):
            raise ValueError(f"{path}: row {v.name!r} is compared with {v.versus!r}, which is not another row")
    common = dict(data.get("common") or {})
    unknown = sorted(set(common) - {"synth", *STAGES})
    if unknown:
        raise ValueError(f"{path}: the common section takes only synth, {', '.join(STAGES)}; got {unknown}")
    lists = {k: tuple(str(o) for o in common.get(k) or ()) for k in ("synth", *STAGES)}
    return variants, dict(data.get("quick") or {}), Common(**lists)


def select(variants: Sequence[Variant], only: Iterable[str] | None, quick: bool) -> list[Variant]:
    """The variants to run: ``only`` by name (or the ``quick`` rows), always with the baseline first.

    A chosen row's ``versus`` row comes along (in table order): its difference needs that row's cells.
    """
    names = {v.name for v in variants}
    wanted = set(only or ())
    if wanted - names:
        raise ValueError(f"unknown variants {sorted(wanted - names)}; the table has {[v.name for v in variants]}")
    chosen = {v.name for v in variants if (v.name in wanted if wanted else (v.quick or not quick))}
    chosen |= {v.versus for v in variants if v.name in chosen and v.versus}
    return [variants[0], *[v for v in variants[1:] if v.name in chosen]]


@dataclass(frozen=True)
class Step:
    """One command of a cell, in its own folder, run once however many cells need it.

    Attributes:
        kind: ``synth``, ``train``, ``predict`` or ``stage``.
        key: digest of the parent's key and the overrides that define the outputs.
        folder: ``<out>/steps/<kind>[-s<seed>]-<key>``.
        command: the command line (paths included).
        overrides: the overrides that define the step (without its folders' paths).
        seed: the cell's seed (none for the cohort).
        needs: the step whose outputs it reads.
    """

    kind: str
    key: str
    folder: Path
    command: tuple[str, ...]
    overrides: tuple[str, ...]
    seed: int | None = None
    needs: Step | None = field(default=None, repr=False)

    @property
    def run_dir(self) -> Path:
        """The command's Hydra run folder (``hydra.run.dir``)."""
        return self.folder / "run"

    @property
    def log_file(self) -> Path:
        """The command's stdout and stderr."""
        return self.folder / "log.txt"

    @property
    def done_file(self) -> Path:
        """Written when the command succeeded."""
        return self.folder / "done.json"

    def record(self) -> dict[str, Any] | None:
        """``done.json``, or None when the step has not succeeded yet."""
        return json.loads(self.done_file.read_text()) if self.done_file.is_file() else None

    def chain(self) -> list[Step]:
        """This step and those it needs, the first one first."""
        return [*(self.needs.chain() if self.needs else []), self]


@dataclass(frozen=True)
class Cell:
    """One variant on one seed: its staging step (whose chain is the cell's steps)."""

    variant: Variant
    seed: int
    stage: Step

    def step(self, kind: str) -> Step:
        """The cell's step of a kind."""
        return next(s for s in self.stage.chain() if s.kind == kind)


def digest(*parts: Any) -> str:
    """Ten hex digits of the SHA-1 of the parts' JSON."""
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:10]


def _step(kind: str, parent: Step | None, seed: int | None, overrides: Sequence[str], out: Path) -> Step:
    """A step without its command: key and folder from the parent, the seed and the defining overrides."""
    key = digest(parent.key if parent else None, kind, seed, list(overrides))
    name = f"{kind}-s{seed}-{key}" if seed is not None else f"{kind}-{key}"
    return Step(kind, key, out / "steps" / name, (), tuple(overrides), seed, parent)


def _with_command(step: Step, python: str, script: str, paths: Sequence[str]) -> Step:
    command = (python, str(REPO / script), *paths, *step.overrides, f"hydra.run.dir={step.run_dir}")
    return Step(step.kind, step.key, step.folder, command, step.overrides, step.seed, step.needs)


def cohort_step(common: Common, out: Path, python: str = sys.executable) -> Step:
    """``synth.py synth=hard`` into ``<folder>/hard``."""
    step = _step("synth", None, None, (f"synth={COHORT}", *common.synth), out)
    return _with_command(step, python, "synth.py", [f"out_dir={step.folder / COHORT}"])


#: Initialisation seeds of an ensemble's members: the cell's seed plus multiples of this (the split stays the seed's).
MEMBER_SEED_STRIDE = 1000


def final_checkpoint(train: Step) -> Path:
    """The model a train step leaves: ``last.ckpt`` of its last round (``mining.rounds=R``: ``round-R/``)."""
    rounds = [int(o.split("=", 1)[1]) for o in train.overrides if o.startswith("mining.rounds=")]
    last = rounds[-1] if rounds else 0
    folder = train.run_dir / f"round-{last}" if last else train.run_dir
    return folder / "checkpoints" / "last.ckpt"


def plan(
    variants: Sequence[Variant], seeds: Sequence[int], common: Common, out: Path, python: str = sys.executable
) -> list[Cell]:
    """Every (variant, seed) cell, seeds first, with its chain of steps (equal steps share a key and folder).

    A chain is synth -> train [-> train ...] -> predict -> stage: a ``from_baseline`` variant's training
    follows the baseline's (same key, so the same step), an ensemble's members follow one another.
    """
    synth = cohort_step(common, out, python)
    cohort = synth.folder / COHORT
    data = [f"paths.data_dir={synth.folder}"]
    cells = []
    for seed in seeds:
        for v in variants:
            base = (f"experiment={EXPERIMENT}", f"seed={seed}", f"data.split.seed={seed}", *common.train)
            if v.from_baseline:
                parent = _with_command(_step("train", synth, seed, base, out), python, "train.py", data)
                train = _step("train", parent, seed, (*base, *v.train), out)
                train = _with_command(train, python, "train.py", [*data, f"mining.start={final_checkpoint(parent)}"])
            else:
                train = _with_command(_step("train", synth, seed, (*base, *v.train), out), python, "train.py", data)
            members = [train]
            for k in range(1, v.members):
                member = (f"experiment={EXPERIMENT}", f"seed={seed + k * MEMBER_SEED_STRIDE}",
                          f"data.split.seed={seed}", *common.train, *v.train)  # fmt: skip
                members.append(_with_command(_step("train", members[-1], seed, member, out), python, "train.py", data))
            predict = _step("predict", members[-1], seed, (*common.predict, *v.predict), out)
            checkpoints = [final_checkpoint(m) for m in members]
            ckpt = str(checkpoints[0]) if len(checkpoints) == 1 else f"[{','.join(map(str, checkpoints))}]"
            paths = [f"ckpt_path={ckpt}", f"slides={cohort}", f"out_dir={predict.folder / 'heatmaps'}"]
            predict = _with_command(predict, python, "predict.py", paths)
            stage = _step("stage", predict, seed, (f"seed={seed}", *common.stage, *v.stage), out)
            paths = [f"heatmaps={predict.folder / 'heatmaps'}", f"cohort={cohort}"]
            cells.append(Cell(v, seed, _with_command(stage, python, "stage.py", paths)))
    return cells


def unique_steps(cells: Iterable[Cell]) -> list[Step]:
    """The steps of all cells once each, every step after the one it needs."""
    steps: dict[str, Step] = {}
    for cell in cells:
        for step in cell.stage.chain():
            steps.setdefault(step.folder.name, step)
    return list(steps.values())


def launch(command: Sequence[str], log: Path, cwd: Path) -> int:
    """Run a command in ``cwd`` with its stdout and stderr to ``log``; its exit status."""
    with open(log, "w") as stream:
        return subprocess.run(list(command), stdout=stream, stderr=subprocess.STDOUT, cwd=cwd, check=False).returncode


@dataclass(frozen=True)
class Outcome:
    """What became of a step in this run: ``done`` (run now), ``cached``, ``failed`` or ``blocked``."""

    step: Step
    status: Status
    wall_s: float = 0.0
    returncode: int | None = None
    message: str = ""
    cpu_s: float = math.nan

    @property
    def ok(self) -> bool:
        """The step's outputs are there."""
        return self.status in ("done", "cached")


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's finished (waited-for) children and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cached(step: Step, record: dict[str, Any]) -> Outcome:
    return Outcome(step, "cached", float(record["wall_s"]), 0, cpu_s=float(record.get("cpu_s", math.nan)))


def execute(step: Step, launcher: Launcher = launch) -> Outcome:
    """Run a step unless its ``done.json`` says it succeeded; write ``done.json`` when it succeeds now.

    The record holds the step's wall time and its CPU time (user + system of the command and every process
    it waited for): the CPU time is what a step costs on a shared or paused machine, where wall time is not.
    """
    record = step.record()
    if record is not None:
        return _cached(step, record)
    if step.folder.exists() and step.kind != "predict":  # predict.py resumes its own unfinished heatmaps
        shutil.rmtree(step.folder)
    step.folder.mkdir(parents=True, exist_ok=True)
    start, cpu_start = time.perf_counter(), _children_cpu_s()
    returncode = launcher(step.command, step.log_file, step.folder)
    wall_s, cpu_s = time.perf_counter() - start, _children_cpu_s() - cpu_start
    if returncode != 0:
        message = f"{step.kind} failed (exit {returncode}): {shlex.join(step.command)}\n  log: {step.log_file}"
        return Outcome(step, "failed", wall_s, returncode, message, cpu_s)
    record = {"kind": step.kind, "seed": step.seed, "overrides": list(step.overrides), "command": list(step.command),
              "wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2), "returncode": returncode}  # fmt: skip
    temporary = step.done_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, step.done_file)
    return Outcome(step, "done", wall_s, returncode, cpu_s=cpu_s)


def recorded_outcomes(steps: Sequence[Step]) -> dict[str, Outcome]:
    """The steps as they stand, nothing run: ``cached`` where ``done.json`` says so, else ``blocked``."""
    outcomes = {}
    for step in steps:
        record = step.record()
        outcomes[step.folder.name] = (
            _cached(step, record) if record is not None
            else Outcome(step, "blocked", message=f"{step.kind} not run yet: {step.folder} has no done.json")
        )  # fmt: skip
    return outcomes


def run_steps(
    steps: Sequence[Step], launcher: Launcher = launch, progress: Callable[[Outcome], None] | None = None
) -> dict[str, Outcome]:
    """Every step in order (by folder name); a step whose parent failed is ``blocked``, the others go on."""
    outcomes: dict[str, Outcome] = {}
    for step in steps:
        parent = outcomes.get(step.needs.folder.name) if step.needs else None
        if parent is not None and not parent.ok:
            outcome = Outcome(step, "blocked", message=f"{step.kind} not run: it needs {step.needs.folder}, not made")
        else:
            outcome = execute(step, launcher)
        outcomes[step.folder.name] = outcome
        if progress is not None:
            progress(outcome)
    return outcomes
