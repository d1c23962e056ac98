"""Bootstrap confidence intervals of the CAMELYON17 kappa and of per-slide rates, resampling patients.

A *run* of a variant is a mapping seed -> that seed's held-out patients: for the kappa a :class:`StageRun`
(reference and predicted pN stages, one per patient, optionally the patients' names), for a rate a
:class:`RateRun` (per patient, the slides counted and the slides of the denominator, e.g. ITC slides called
``itc`` and ITC slides). Different seeds hold out different patients.

Each bootstrap replicate draws every seed's patients with replacement (independently per seed, all seeds in
one replicate), computes the statistic per seed and averages it over the seeds. The draws depend only on
``seed`` and the seeds' patient counts, so two variants scored on the same patients see the same resampled
patients: :func:`paired_kappa_difference` and :func:`paired_rate_difference` take the difference replicate by
replicate, which cancels the errors the variants share.

Degenerate replicates: where the statistic of a seed is undefined on the resampled patients (the kappa when
every reference and predicted stage is one and the same stage, 0 / 0; a rate when no resampled patient has a
slide in the denominator), the whole replicate is skipped and counted in :attr:`BootstrapCI.n_degenerate`;
the interval and the standard error come from the other replicates (NaN if none is left).

The kappa is the project's official one (:func:`wsiseg.evaluation.kappa.stage_kappa`), computed from the
resampled patients' confusion matrices all at once (:func:`~wsiseg.evaluation.kappa.quadratic_kappa_of_confusions`,
the same arithmetic, tested equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from wsiseg.evaluation.kappa import quadratic_kappa_of_confusions
from wsiseg.labels import PN_STAGES

_N_STAGES = len(PN_STAGES)
#: A per-seed statistic: resampled patient indices (B, N) -> one value per replicate (B,), NaN where undefined.
Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BootstrapSettings:
    """The percentile intervals' settings (``conf/bootstrap``): draws (``n_boot=0``: none), level and seed."""

    n_boot: int = 2000
    level: float = 0.95
    seed: int = 0


#: 2000 draws, 95%, seed 0.
DEFAULT_BOOTSTRAP = BootstrapSettings()


class StageRun(NamedTuple):
    """One seed's held-out patients: reference and predicted pN stages in patient order (and their names)."""

    reference: Sequence[str]
    predicted: Sequence[str]
    patients: Sequence[str] | None = None


class RateRun(NamedTuple):
    """One seed's held-out patients, for a per-slide rate: per patient the slides counted / in the denominator.

    E.g. ITC recall: ``hits`` the patient's ITC slides predicted ``itc``, ``totals`` its ITC slides.
    """

    hits: Sequence[float]
    totals: Sequence[float]
    patients: Sequence[str] | None = None


@dataclass(frozen=True)
class BootstrapCI:
    """A point estimate with its percentile bootstrap interval.

    Attributes:
        estimate: the statistic on the patients as they are (the mean over seeds).
        low, high: the percentile interval at ``level`` of the defined replicates.
        se: the bootstrap standard error (SD of the defined replicates, ``ddof=1``).
        n_boot: replicates drawn.
        n_degenerate: replicates skipped because the statistic was undefined for a seed.
        level: the interval's coverage, e.g. 0.95.
    """

    estimate: float
    low: float
    high: float
    se: float
    n_boot: int
    n_degenerate: int
    level: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in ``[low, high]`` (False when the interval is NaN)."""
        return bool(self.low <= value <= self.high)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return asdict(self)


def bootstrap_kappa(
    reference: Sequence[str], predicted: Sequence[str], n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """The official kappa of one set of patients, with a percentile CI from resampling the patients.

    Args:
        reference: the reference pN stages, one per patient (canonical spellings).
        predicted: the predicted pN stages, in the same patient order.
        n_boot: bootstrap replicates.
        seed: seed of the resampling.
        level: coverage of the interval.
    """
    return bootstrap_mean_kappa({0: StageRun(reference, predicted)}, n_boot, seed, level)


def bootstrap_mean_kappa(
    runs: Mapping[int, Sequence[Any]], n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """The mean over seeds of the per-seed kappa; CI by resampling each seed's patients, all seeds jointly.

    Args:
        runs: seed -> :class:`StageRun` (or a ``(reference, predicted[, patients])`` tuple).
        n_boot: bootstrap replicates.
        seed: seed of the resampling (not a run's seed).
        level: coverage of the interval.
    """
    statistics = [_kappa_statistic(StageRun(*runs[s])) for s in sorted(runs)]
    return _bootstrap(statistics, None, _sizes(runs), n_boot, seed, level)


def paired_kappa_difference(
    runs_a: Mapping[int, Sequence[Any]],
    runs_b: Mapping[int, Sequence[Any]],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapCI:
    """Mean kappa of ``a`` minus that of ``b``, with a CI from the same resampled patients for both.

    Raises:
        ValueError: the runs differ in their seeds, their patients or their reference stages.
    """
    a = {s: StageRun(*r) for s, r in runs_a.items()}
    b = {s: StageRun(*r) for s, r in runs_b.items()}
    _check_paired(a, b, "reference")
    stats_a = [_kappa_statistic(a[s]) for s in sorted(a)]
    stats_b = [_kappa_statistic(b[s]) for s in sorted(b)]
    return _bootstrap(stats_a, stats_b, _sizes(a), n_boot, seed, level)


def bootstrap_mean_rate(
    runs: Mapping[int, Sequence[Any]], n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """The mean over seeds of a per-seed rate (sum of hits / sum of totals), CI by resampling patients.

    Args:
        runs: seed -> :class:`RateRun` (or a ``(hits, totals[, patients])`` tuple).
        n_boot: bootstrap replicates.
        seed: seed of the resampling (not a run's seed).
        level: coverage of the interval.
    """
    statistics = [_rate_statistic(RateRun(*runs[s])) for s in sorted(runs)]
    return _bootstrap(statistics, None, _sizes(runs), n_boot, seed, level)


def paired_rate_difference(
    runs_a: Mapping[int, Sequence[Any]],
    runs_b: Mapping[int, Sequence[Any]],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapCI:
    """Mean rate of ``a`` minus that of ``b`` (e.g. ITC recall), paired over the same resampled patients.

    Raises:
        ValueError: the runs differ in their seeds, their patients or their per-patient totals.
    """
    a = {s: RateRun(*r) for s, r in runs_a.items()}
    b = {s: RateRun(*r) for s, r in runs_b.items()}
    _check_paired(a, b, "totals")
    stats_a = [_rate_statistic(a[s]) for s in sorted(a)]
    stats_b = [_rate_statistic(b[s]) for s in sorted(b)]
    return _bootstrap(stats_a, stats_b, _sizes(a), n_boot, seed, level)


def bootstrap_auc(
    truth: Sequence[bool], scores: Sequence[float], groups: Sequence[str] | None = None, n_boot: int = 2000,
    seed: int = 0, level: float = 0.95,
) -> BootstrapCI:  # fmt: skip
    """The ROC AUC of slide scores, with a percentile CI from resampling the slides' patients (or the slides).

    The AUC is the Mann-Whitney statistic (ties count one half), as ``sklearn.metrics.roc_auc_score`` computes
    it (tested equal); a replicate with one class only is degenerate.

    Args:
        truth: whether each slide holds tumour.
        scores: each slide's score.
        groups: each slide's patient (a patient's slides are drawn together); ``None``: each slide its own.
        n_boot: bootstrap replicates.
        seed: seed of the resampling.
        level: coverage of the interval.
    """
    groups = list(groups) if groups is not None else [str(i) for i in range(len(truth))]
    names = sorted(set(groups))
    return _bootstrap([_auc_statistic(truth, scores, groups, names)], None, [len(names)], n_boot, seed, level)


def _auc_statistic(
    truth: Sequence[bool], scores: Sequence[float], groups: Sequence[str], names: list[str]
) -> Statistic:
    """The AUC of resampled patients: every slide weighs as often as its patient is drawn."""
    truth_arr, score = np.asarray(truth, bool), np.asarray(scores, np.float64)
    at = {name: i for i, name in enumerate(names)}
    group = np.array([at[g] for g in groups], np.int64)  # (N,) each slide's patient
    pos, neg = score[truth_arr], score[~truth_arr]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])  # (P, Q)

    def statistic(indices: np.ndarray) -> np.ndarray:
        b, n = indices.shape
        counts = np.bincount((indices + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        weights = counts[:, group].astype(np.float64)  # (B, N) draws of each slide
        w_pos, w_neg = weights[:, truth_arr], weights[:, ~truth_arr]  # (B, P), (B, Q)
        num, den = ((w_pos @ wins) * w_neg).sum(axis=1), w_pos.sum(axis=1) * w_neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    return statistic


def _sizes(runs: Mapping[int, Sequence[Any]]) -> list[int]:
    """Patients per seed, in seed order; every seed needs at least one."""
    if not runs:
        raise ValueError("no run to bootstrap: give at least one seed")
    sizes = [len(runs[s][0]) for s in sorted(runs)]
    empty = [s for s, n in zip(sorted(runs), sizes, strict=True) if n == 0]
    if empty:
        raise ValueError(f"seeds {empty} have no patient")
    return sizes


def _check_paired(a: Mapping[int, tuple], b: Mapping[int, tuple], same: str) -> None:
    """Both variants must be scored on the same seeds and, per seed, on the same patients."""
    if set(a) != set(b):
        raise ValueError(f"paired runs need the same seeds: {sorted(a)} against {sorted(b)}")
    for s in sorted(a):
        ra, rb = a[s], b[s]
        if len(ra[0]) != len(rb[0]) or len(ra[1]) != len(ra[0]) or len(rb[1]) != len(rb[0]):
            raise ValueError(f"seed {s}: paired runs need the same patients ({len(ra[0])} against {len(rb[0])})")
        if ra.patients is not None and rb.patients is not None and list(ra.patients) != list(rb.patients):
            raise ValueError(f"seed {s}: paired runs need the same patients in the same order")
        if list(getattr(ra, same)) != list(getattr(rb, same)):
            raise ValueError(f"seed {s}: the {same} of the two runs differ: not the same patients")


def _bootstrap(
    stats_a: list[Statistic], stats_b: list[Statistic] | None, sizes: list[int], n_boot: int, seed: int, level: float
) -> BootstrapCI:
    """Mean over seeds of ``a`` (minus that of ``b``): the estimate and its replicates' interval."""
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < level < 1, got {n_boot}, {level}")
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, size=(n_boot, n)) for n in sizes]  # per seed (B, N_s)
    whole = [np.arange(n)[None] for n in sizes]  # per seed (1, N_s): the patients as they are

    def mean_over_seeds(stats: list[Statistic], indices: list[np.ndarray]) -> np.ndarray:
        return np.mean([f(idx) for f, idx in zip(stats, indices, strict=True)], axis=0)  # NaN if any seed is

    estimate, replicates = mean_over_seeds(stats_a, whole), mean_over_seeds(stats_a, draws)  # (1,), (B,)
    if stats_b is not None:
        estimate, replicates = estimate - mean_over_seeds(stats_b, whole), replicates - mean_over_seeds(stats_b, draws)
    ok = replicates[np.isfinite(replicates)]
    alpha = (1 - level) / 2
    low, high = np.quantile(ok, [alpha, 1 - alpha]) if ok.size else (np.nan, np.nan)
    se = float(ok.std(ddof=1)) if ok.size > 1 else float("nan")
    return BootstrapCI(float(estimate[0]), float(low), float(high), se, n_boot, int(n_boot - ok.size), level)


def _kappa_statistic(run: StageRun) -> Statistic:
    """The kappa of resampled patients, from their confusion cells (reference x predicted stage)."""
    if len(run.reference) != len(run.predicted):
        raise ValueError(f"{len(run.reference)} reference stages against {len(run.predicted)} predicted")
    unknown = sorted((set(run.reference) | set(run.predicted)) - set(PN_STAGES))
    if unknown:
        raise ValueError(f"unknown pN stages {unknown}; expected {list(PN_STAGES)}")
    cells = np.array([PN_STAGES.index(r) * _N_STAGES + PN_STAGES.index(p) for r, p in zip(*run[:2], strict=True)])

    def statistic(indices: np.ndarray) -> np.ndarray:
        n_cells = _N_STAGES**2
        flat = (cells[indices] + n_cells * np.arange(len(indices))[:, None]).ravel()  # replicate b's cells: b*25+
        counts = np.bincount(flat, minlength=len(indices) * n_cells)  # (B * 25,)
        return quadratic_kappa_of_confusions(counts.reshape(-1, _N_STAGES, _N_STAGES))

    return statistic


def _rate_statistic(run: RateRun) -> Statistic:
    """Sum of hits over sum of totals of resampled patients (NaN where no total)."""
    hits, totals = np.asarray(run.hits, np.float64), np.asarray(run.totals, np.float64)
    if hits.shape != totals.shape or np.any(hits > totals) or np.any(hits < 0):
        raise ValueError("a rate run needs 0 <= hits <= totals, one of each per patient")

    def statistic(indices: np.ndarray) -> np.ndarray:
        num, den = hits[indices].sum(axis=1), totals[indices].sum(axis=1)  # (B,), (B,)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    return statistic
