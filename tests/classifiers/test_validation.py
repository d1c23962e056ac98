import numpy as np
import pytest

from wsiseg.classifiers import DiameterRule, FeatureClassifier, balanced_weights, out_of_fold


class Recorder:
    """Predicts the majority label of its training fold and records the patients it saw."""

    seen: list[set[str]] = []

    def fit(self, rows, labels, sample_weight=None):
        Recorder.seen.append({r["patient"] for r in rows})
        self.weights = sample_weight
        values, counts = np.unique(labels, return_counts=True)
        self.label = values[counts.argmax()]
        return self

    def predict(self, rows):
        assert not {r["patient"] for r in rows} & Recorder.seen[-1], "a test patient was in the training fold"
        return [self.label] * len(rows)


def test_folds_keep_patients_apart_and_cover_every_slide():
    rng = np.random.default_rng(0)
    patients = [f"p{i}" for i in range(12) for _ in range(5)]
    labels = list(rng.choice(["negative", "itc", "micro", "macro"], len(patients), p=[0.6, 0.1, 0.15, 0.15]))
    rows = [{"patient": p, "x": 1.0} for p in patients]
    Recorder.seen = []
    out, proba = out_of_fold(Recorder(), rows, labels, patients, folds=4, seed=1)
    assert len(out) == len(rows) and all(o in ("negative", "itc", "micro", "macro") for o in out)
    assert len(Recorder.seen) == 4 and proba is None  # no predict_proba: labels only
    with pytest.raises(ValueError, match="2 patients"):
        out_of_fold(Recorder(), rows[:5], labels[:5], patients[:5])


def test_balanced_weights_give_every_class_the_same_total():
    labels = ["negative"] * 8 + ["itc"] + ["macro"] * 3
    w = balanced_weights(labels)
    totals = {k: w[np.array(labels) == k].sum() for k in set(labels)}
    assert all(t == pytest.approx(len(labels) / 3) for t in totals.values())


def test_rule_needs_no_training_in_cv():
    rows = [{"t50_largest_feret_mm": d} for d in (0, 0.1, 1.0, 3.0)] * 2
    labels = ["negative", "itc", "micro", "macro"] * 2
    out = out_of_fold(DiameterRule(0.5), rows, labels, ["a", "b", "c", "d"] * 2, folds=2)
    assert out.labels == labels


def test_out_of_fold_probabilities_come_from_the_fold_that_left_the_slide_out():
    from sklearn.dummy import DummyClassifier

    rows = [{"x": float(i)} for i in range(8)]
    labels = ["negative", "macro"] * 4
    patients = ["a", "a", "b", "b", "c", "c", "d", "d"]
    out = out_of_fold(FeatureClassifier(DummyClassifier(strategy="prior")), rows, labels, patients, folds=4)
    # each fold fits on the other three patients: one negative and one macro each, priors 1/2 and 1/2
    assert out.proba.shape == (8, 4) and np.allclose(out.proba[:, [0, 3]], 0.5) and np.allclose(out.proba[:, 1:3], 0)
