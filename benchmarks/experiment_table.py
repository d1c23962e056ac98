"""The experiment table's numbers: per cell from stage.py's report, per variant over seeds, against the baseline.

Per (variant, seed), from the staging run's ``report.json`` (and ``predictions.csv`` for the held-out slides
per patient): the held-out kappa, slide accuracy, slide recall per class, FROC, slide ROC AUC (the
classifier's tumour probability; the heatmap maximum for a classifier without probabilities), the share of
held-out negative slides predicted non-negative, and the wall and CPU times of the train and predict steps.

Per variant: the mean over seeds of every column, the kappa's SD over seeds and the bootstrap CI of the mean
kappa; for every other variant, the paired differences to the baseline (kappa, ITC recall) on the seeds both
have, with CIs from the same resampled patients, "within noise" when the CI contains 0; for a variant with a
control row of its own (``versus``), the paired differences to that row as well.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wsiseg.evaluation import (
    BootstrapCI,
    RateRun,
    StageRun,
    bootstrap_mean_kappa,
    bootstrap_mean_rate,
    paired_kappa_difference,
    paired_rate_difference,
)
from wsiseg.labels import SLIDE_LABELS

#: The per-cell columns, in table order.
COLUMNS = ("kappa", "accuracy", *(f"recall_{k}" for k in SLIDE_LABELS), "froc", "slide_auc", "fp_rate_negative",
           "train_s", "predict_s", "train_cpu_s", "predict_cpu_s")  # fmt: skip


@dataclass(frozen=True)
class CellResult:
    """One (variant, seed): its columns, its held-out patients' stages and ITC slides (hits, totals)."""

    variant: str
    seed: int
    metrics: dict[str, float]
    stages: StageRun
    itc: RateRun


def read_cell(
    variant: str, seed: int, stage_run: Path, train_s: float, predict_s: float,
    train_cpu_s: float = math.nan, predict_cpu_s: float = math.nan,
) -> CellResult:  # fmt: skip
    """A cell's result from its staging run folder (``report.json``, ``predictions.csv``) and step times.

    ``*_s`` are wall seconds, ``*_cpu_s`` CPU seconds (NaN for steps recorded before CPU time was).
    """
    report = json.loads((stage_run / "report.json").read_text())
    slides = report["slide"]["test"]
    detection = report["detection"]
    negative = slides["confusion"][SLIDE_LABELS.index("negative")]  # the negative row: reference negative slides
    metrics = {
        "kappa": float(report["kappa"].get("test", math.nan)),
        "accuracy": float(slides["accuracy"]),
        **{f"recall_{k}": _recall(slides["per_class"][k]) for k in SLIDE_LABELS},
        "froc": float(detection.get("froc", math.nan)),
        "slide_auc": float(detection.get("auc_classifier", detection.get("auc_max_prob", math.nan))),
        "fp_rate_negative": (sum(negative) - negative[0]) / sum(negative) if sum(negative) else math.nan,
        "train_s": train_s,
        "predict_s": predict_s,
        "train_cpu_s": train_cpu_s,
        "predict_cpu_s": predict_cpu_s,
    }
    patients = sorted(report["patients"]["test"], key=lambda p: p["patient"])
    names = [p["patient"] for p in patients]
    stages = StageRun([p["reference"] for p in patients], [p["predicted"] for p in patients], names)
    return CellResult(variant, seed, metrics, stages, _itc_slides(stage_run / "predictions.csv", names))


def _recall(per_class: Mapping[str, float]) -> float:
    """A class's recall; NaN when no held-out slide has the class."""
    return float(per_class["recall"]) if per_class["support"] else math.nan


def _itc_slides(predictions: Path, patients: Sequence[str]) -> RateRun:
    """Per held-out patient: its ITC slides predicted ``itc``, and its ITC slides."""
    hits, totals = dict.fromkeys(patients, 0), dict.fromkeys(patients, 0)
    with open(predictions, newline="") as stream:
        for row in csv.DictReader(stream):
            if row["part"] == "test" and row["label"] == "itc" and row["patient"] in totals:
                totals[row["patient"]] += 1
                hits[row["patient"]] += row["predicted"] == "itc"
    return RateRun([hits[p] for p in patients], [totals[p] for p in patients], list(patients))


@dataclass(frozen=True)
class Difference:
    """A variant minus the baseline on the seeds both have: kappa and ITC recall, or why there is none."""

    kappa: BootstrapCI | None = None
    itc_recall: BootstrapCI | None = None
    seeds: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class VariantSummary:
    """One row of the table."""

    name: str
    description: str
    cells: tuple[CellResult, ...]
    failures: tuple[str, ...] = ()
    means: dict[str, float] = field(default_factory=dict)
    kappa_sd: float = math.nan
    kappa_ci: BootstrapCI | None = None
    itc_ci: BootstrapCI | None = None
    difference: Difference | None = None
    versus: str | None = None
    versus_difference: Difference | None = None

    @property
    def seeds(self) -> list[int]:
        """The seeds with a result."""
        return [c.seed for c in self.cells]


def summarise(
    name: str, description: str, cells: Sequence[CellResult], failures: Sequence[str], n_boot: int
) -> VariantSummary:
    """A variant's means over its seeds, the kappa's SD over seeds and the bootstrap CIs of the means."""
    if not cells:
        return VariantSummary(name, description, (), tuple(failures))
    means = {k: _mean([c.metrics[k] for c in cells]) for k in COLUMNS}  # over the seeds where it is defined
    sd = _sd([c.metrics["kappa"] for c in cells])
    kappa_runs = {c.seed: c.stages for c in cells if math.isfinite(c.metrics["kappa"])}
    itc_runs = {c.seed: c.itc for c in cells if sum(c.itc.totals)}  # seeds with held-out ITC slides
    kappa_ci = bootstrap_mean_kappa(kappa_runs, n_boot) if kappa_runs else None
    itc_ci = bootstrap_mean_rate(itc_runs, n_boot) if itc_runs else None
    return VariantSummary(name, description, tuple(cells), tuple(failures), means, sd, kappa_ci, itc_ci)


def difference(variant: VariantSummary, baseline: VariantSummary, n_boot: int) -> Difference:
    """Paired differences to the baseline (or another row) on the seeds both have (same held-out patients).

    The kappa on the seeds where both kappas are defined, the ITC recall on those with held-out ITC slides.
    """
    mine, base = {c.seed: c for c in variant.cells}, {c.seed: c for c in baseline.cells}
    seeds = sorted(set(mine) & set(base))
    if not seeds:
        return Difference(note="no seed with results for both")
    kappa_seeds = [s for s in seeds if math.isfinite(mine[s].metrics["kappa"] + base[s].metrics["kappa"])]
    itc_seeds = [s for s in seeds if sum(base[s].itc.totals)]
    try:
        kappa = _paired(paired_kappa_difference, {s: (mine[s].stages, base[s].stages) for s in kappa_seeds}, n_boot)
        itc = _paired(paired_rate_difference, {s: (mine[s].itc, base[s].itc) for s in itc_seeds}, n_boot)
    except ValueError as err:
        return Difference(seeds=tuple(seeds), note=f"not paired: {err}")
    return Difference(kappa, itc, tuple(seeds))


def _paired(function: Any, pairs: Mapping[int, tuple[Any, Any]], n_boot: int) -> BootstrapCI | None:
    """``function(runs_a, runs_b, n_boot)`` over the seeds of ``pairs`` (None without a seed)."""
    if not pairs:
        return None
    return function({s: a for s, (a, _) in pairs.items()}, {s: b for s, (_, b) in pairs.items()}, n_boot)


def aggregate(
    results: Mapping[str, Sequence[CellResult]],
    failures: Mapping[str, Sequence[str]],
    descriptions: Mapping[str, str],
    n_boot: int = 2000,
    versus: Mapping[str, str] | None = None,
) -> list[VariantSummary]:
    """One summary per variant, in the order of ``descriptions`` (the first is the baseline).

    ``versus`` maps a variant to its control row: its paired differences to that row are added.
    """
    names = list(descriptions)
    rows = {n: summarise(n, descriptions[n], results.get(n, ()), failures.get(n, ()), n_boot) for n in names}
    baseline = rows[names[0]]
    summaries = [baseline]
    for name in names[1:]:
        row, control = rows[name], (versus or {}).get(name)
        against = difference(row, rows[control], n_boot) if control in rows else None
        summaries.append(replace(row, difference=difference(row, baseline, n_boot), versus=control,
                                 versus_difference=against))  # fmt: skip
    return summaries


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _sd(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return math.nan
    mean = sum(finite) / len(finite)
    return math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def within_noise(ci: BootstrapCI | None) -> bool | None:
    """Whether a difference's CI contains 0 (None without a CI)."""
    return None if ci is None or not math.isfinite(ci.low) else ci.contains(0.0)


def _difference_json(diff: Difference | None) -> dict[str, Any] | None:
    if diff is None:
        return None
    return {
        "seeds": list(diff.seeds), "note": diff.note,
        "kappa": diff.kappa.as_dict() if diff.kappa else None, "kappa_within_noise": within_noise(diff.kappa),
        "itc_recall": diff.itc_recall.as_dict() if diff.itc_recall else None,
        "itc_recall_within_noise": within_noise(diff.itc_recall),
    }  # fmt: skip


def as_json(row: VariantSummary) -> dict[str, Any]:
    """A summary as JSON-ready values (per seed columns, means, CIs, the differences to the baseline and control)."""
    return {
        "name": row.name, "description": row.description, "seeds": row.seeds, "failures": list(row.failures),
        "per_seed": {str(c.seed): c.metrics for c in row.cells}, "means": row.means, "kappa_sd": row.kappa_sd,
        "kappa_ci": row.kappa_ci.as_dict() if row.kappa_ci else None,
        "itc_recall_ci": row.itc_ci.as_dict() if row.itc_ci else None,
        "difference": _difference_json(row.difference),
        "versus": row.versus, "versus_difference": _difference_json(row.versus_difference),
    }  # fmt: skip
