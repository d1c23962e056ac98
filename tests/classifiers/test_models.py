import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

from wsiseg.classifiers import DiameterRule, FeatureClassifier
from wsiseg.labels import SLIDE_LABELS

RANGES = {"negative": (0.0, 0.0), "itc": (0.05, 0.18), "micro": (0.3, 1.8), "macro": (2.2, 4.0)}


def slides(n_per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for label, (lo, hi) in RANGES.items():
        for _ in range(n_per_class):
            d = rng.uniform(lo, hi)
            rows.append(
                {"t50_largest_feret_mm": d, "t90_n_regions": float(d > 0) * rng.integers(1, 4), "noise": rng.random()}
            )
            labels.append(label)
    return rows, labels


def test_diameter_rule():
    rows, labels = slides(10, 0)
    assert DiameterRule(0.5).fit(rows, labels).predict(rows) == labels
    with pytest.raises(ValueError, match="Macro"):
        DiameterRule().fit(rows, ["Macro"] * len(rows))


@pytest.mark.parametrize(
    "estimator",
    [
        lambda: RandomForestClassifier(n_estimators=50, class_weight="balanced", random_state=0),
        lambda: XGBClassifier(n_estimators=50, max_depth=3),
    ],  # fmt: skip
)
def test_learned_classifiers_fit_predict_and_round_trip(estimator, tmp_path):
    rows, labels = slides(20, 0)
    model = FeatureClassifier(estimator()).fit(rows, labels)
    test_rows, test_labels = slides(10, 1)
    predicted = model.predict(test_rows)
    assert np.mean([p == t for p, t in zip(predicted, test_labels, strict=True)]) >= 0.9
    proba = model.predict_proba(test_rows)
    assert proba.shape == (40, 4) and np.allclose(proba.sum(axis=1), 1)
    path = model.save(tmp_path / "clf.joblib")
    again = FeatureClassifier.load(path)
    shuffled = [dict(reversed(list(r.items()))) for r in test_rows]  # feature order does not matter
    assert again.predict(shuffled) == predicted
    assert np.allclose(again.predict_proba(test_rows), proba)


def test_classes_missing_from_training_get_zero_probability():
    rows, labels = slides(10, 0)
    keep = [i for i, lb in enumerate(labels) if lb != "itc"]
    model = FeatureClassifier(RandomForestClassifier(n_estimators=10, random_state=0))
    model.fit([rows[i] for i in keep], [labels[i] for i in keep])
    assert (model.predict_proba(rows)[:, SLIDE_LABELS.index("itc")] == 0).all()


def test_missing_feature_is_named():
    rows, labels = slides(5, 0)
    model = FeatureClassifier(RandomForestClassifier(n_estimators=5), features=["t50_largest_feret_mm"]).fit(
        rows, labels
    )
    with pytest.raises(KeyError, match="t50_largest_feret_mm"):
        model.predict([{"other": 1.0}])


@pytest.mark.parametrize("make", [lambda s: RandomForestClassifier(50, random_state=s), lambda s: XGBClassifier(
    n_estimators=30, subsample=0.7, colsample_bytree=0.7, random_state=s)])  # fmt: skip
def test_same_seed_same_predictions(make):
    rows, labels = slides(15, seed=3)
    test_rows, _ = slides(10, seed=4)
    a = FeatureClassifier(make(0)).fit(rows, labels).predict_proba(test_rows)
    b = FeatureClassifier(make(0)).fit(rows, labels).predict_proba(test_rows)
    c = FeatureClassifier(make(1)).fit(rows, labels).predict_proba(test_rows)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)  # the seed matters, so the equality above is not vacuous


def test_excluded_feature_patterns_are_left_out_of_the_fit(tmp_path):
    rows, labels = slides(10, 0)
    rows = [r | {"t50_negative_density": 0.5, "t90_negative_density": 0.1} for r in rows]
    model = FeatureClassifier(RandomForestClassifier(n_estimators=10, random_state=0), exclude_features=["*_density"])
    model.fit(rows, labels)
    assert model.features == ["noise", "t50_largest_feret_mm", "t90_n_regions"]
    assert FeatureClassifier.load(model.save(tmp_path / "c.joblib")).features == model.features
    without = [{k: v for k, v in r.items() if not k.endswith("_density")} for r in rows]
    assert model.predict(without) == model.predict(rows)  # the excluded columns are not even read
    named = FeatureClassifier(RandomForestClassifier(n_estimators=10), ["noise", "t90_n_regions"], ["t9*"])
    assert named.fit(rows, labels).features == ["noise"]
    with pytest.raises(ValueError, match="no feature left"):
        FeatureClassifier(RandomForestClassifier(), exclude_features=["*"]).fit(rows, labels)
