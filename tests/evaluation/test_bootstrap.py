"""Bootstrap CIs of the kappa and of per-slide rates, against hand-computed values."""

import numpy as np
import pytest

from wsiseg.evaluation import (
    BootstrapCI,
    RateRun,
    StageRun,
    bootstrap_kappa,
    bootstrap_mean_kappa,
    bootstrap_mean_rate,
    paired_kappa_difference,
    paired_rate_difference,
)
from wsiseg.labels import PN_STAGES

# the public five-patient example of test_kappa: kappa 8/9 with the ordinal labels
TRUTH = list(PN_STAGES)
GUESS = ["pN0", "pN0(i+)", "pN0(i+)", "pN1", "pN1"]


def test_perfect_predictions_give_one_and_degenerate_draws_are_skipped_and_counted():
    ci = bootstrap_kappa(["pN0", "pN0", "pN1"], ["pN0", "pN0", "pN1"], n_boot=3000, seed=1)
    assert (ci.estimate, ci.low, ci.high, ci.se) == (1.0, 1.0, 1.0, 0.0)
    # a draw of only pN0 (8/27) or only pN1 (1/27) patients has kappa 0 / 0: skipped, 1/3 of 3000 expected
    assert ci.n_boot == 3000 and 1000 - 90 < ci.n_degenerate < 1000 + 90


def test_a_known_case_contains_its_estimate_and_shrinks_with_more_patients():
    small = bootstrap_kappa(TRUTH * 2, GUESS * 2, n_boot=400)
    large = bootstrap_kappa(TRUTH * 8, GUESS * 8, n_boot=400)
    assert small.estimate == pytest.approx(8 / 9) and large.estimate == pytest.approx(8 / 9)  # same confusion, scaled
    assert small.contains(small.estimate) and large.contains(large.estimate)
    assert small.low < large.low < large.high <= 1.0 and large.high - large.low < 0.7 * (small.high - small.low)
    assert large.se < 0.7 * small.se  # about halved: 4x the patients
    assert bootstrap_kappa(TRUTH * 2, GUESS * 2, n_boot=400) == small  # deterministic for a seed


def test_the_mean_over_seeds_resamples_every_seed():
    runs = {0: (["pN0", "pN1", "pN2"], ["pN0", "pN1", "pN2"]), 3: StageRun(TRUTH, GUESS)}
    ci = bootstrap_mean_kappa(runs, n_boot=300)
    assert ci.estimate == pytest.approx((1 + 8 / 9) / 2)
    assert ci.low < ci.estimate <= ci.high <= 1.0 and ci.n_degenerate > 0  # seed 0 alone: all one stage, 3/9 * 1/3


def test_identical_variants_differ_by_exactly_zero():
    runs = {0: (TRUTH * 2, GUESS * 2), 1: (TRUTH, GUESS[::-1])}
    ci = paired_kappa_difference(runs, dict(runs), n_boot=300)
    assert (ci.estimate, ci.low, ci.high, ci.se) == (0.0, 0.0, 0.0, 0.0) and ci.contains(0.0)


def test_paired_interval_is_narrower_than_unpaired_when_errors_are_shared():
    rng = np.random.default_rng(0)
    truth = list(rng.choice(PN_STAGES, 20))
    shared = [s if rng.random() < 0.7 else str(rng.choice(PN_STAGES)) for s in truth]  # errors of both variants
    better = list(shared)
    better[next(i for i, (t, s) in enumerate(zip(truth, shared, strict=True)) if t != s)] = truth[0]
    a, b = {0: (truth, better)}, {0: (truth, shared)}
    paired = paired_kappa_difference(a, b, n_boot=300)
    alone_a, alone_b = bootstrap_mean_kappa(a, n_boot=300), bootstrap_mean_kappa(b, n_boot=300)
    assert paired.estimate == pytest.approx(alone_a.estimate - alone_b.estimate)
    assert paired.se < 0.5 * np.hypot(alone_a.se, alone_b.se)  # the unpaired SE of a difference


def test_paired_runs_must_share_seeds_and_patients():
    a = {0: StageRun(TRUTH, GUESS, [f"p{i}" for i in range(5)])}
    with pytest.raises(ValueError, match="same seeds"):
        paired_kappa_difference(a, {1: (TRUTH, GUESS)}, n_boot=10)
    with pytest.raises(ValueError, match="same patients"):
        paired_kappa_difference(a, {0: (TRUTH[:4], GUESS[:4])}, n_boot=10)
    with pytest.raises(ValueError, match="same order"):
        paired_kappa_difference(a, {0: StageRun(TRUTH, GUESS, [f"q{i}" for i in range(5)])}, n_boot=10)
    with pytest.raises(ValueError, match="reference of the two runs differ"):
        paired_kappa_difference(a, {0: (GUESS, GUESS)}, n_boot=10)
    with pytest.raises(ValueError, match="unknown pN stages"):
        bootstrap_kappa(["pN3"], ["pN0"], n_boot=10)


def test_paired_rate_difference_by_hand():
    """a finds 2 of 3 ITC slides, b all 3; a draw's difference is -(draws of patient 1) / 3."""
    a, b = {0: RateRun([1, 0, 1], [1, 1, 1])}, {0: RateRun([1, 1, 1], [1, 1, 1])}
    ci = paired_rate_difference(a, b, n_boot=4000)
    # draws of patient 1 ~ Binomial(3, 1/3): P(3) = 1/27 > 2.5%, P(0) = 8/27 > 2.5%
    assert ci.estimate == pytest.approx(-1 / 3) and (ci.low, ci.high) == (-1.0, 0.0)
    assert ci.se == pytest.approx(np.sqrt(3 * (1 / 3) * (2 / 3)) / 3, rel=0.05) and ci.n_degenerate == 0
    assert not ci.contains(0.5)
    with pytest.raises(ValueError, match="totals of the two runs differ"):
        paired_rate_difference(a, {0: RateRun([1, 1, 1], [1, 1, 2])}, n_boot=10)


def test_a_rate_without_denominator_is_a_skipped_draw():
    ci = bootstrap_mean_rate({0: RateRun([1, 0, 0], [1, 0, 0]), 1: ([0, 1], [2, 2])}, n_boot=2000)
    assert ci.estimate == pytest.approx((1 + 0.25) / 2)
    # seed 0's draw is undefined without patient 0: (2/3)^3 = 8/27 of the draws
    assert 2000 * 8 / 27 - 90 < ci.n_degenerate < 2000 * 8 / 27 + 90
    assert isinstance(ci, BootstrapCI) and ci.as_dict()["level"] == 0.95
    with pytest.raises(ValueError, match="hits <= totals"):
        bootstrap_mean_rate({0: ([2], [1])}, n_boot=10)
