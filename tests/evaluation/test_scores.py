"""stage.py's held-out slide rates with their bootstrap intervals over patients, on hand-computed values."""

import pytest

from wsiseg.evaluation import BootstrapSettings, slide_rates_ci


def test_slide_accuracy_and_recalls_resample_patients():
    # patient a: one of its two negatives right; b: both macros right; c: its ITC missed
    labels = ["negative", "negative", "macro", "macro", "itc"]
    predicted = ["negative", "macro", "macro", "macro", "negative"]
    rates = slide_rates_ci(labels, predicted, ["a", "a", "b", "b", "c"], BootstrapSettings(n_boot=500, seed=1))
    assert rates.accuracy.estimate == pytest.approx(3 / 5) and rates.accuracy.low <= 0.6 <= rates.accuracy.high
    assert 0.0 <= rates.accuracy.low < rates.accuracy.high <= 1.0 and rates.accuracy.n_boot == 500
    assert list(rates.recall) == ["negative", "itc", "macro"]  # no micro slide: no micro recall
    assert [rates.recall[c].estimate for c in ("negative", "itc", "macro")] == [0.5, 0.0, 1.0]
    macro = rates.recall["macro"]  # only patient b has macro slides: draws without b are undefined, skipped
    assert (macro.low, macro.high) == (1.0, 1.0) and 0 < macro.n_degenerate < 500
    assert rates.as_dict()["recall"]["itc"]["estimate"] == 0.0
