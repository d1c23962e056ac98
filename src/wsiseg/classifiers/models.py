"""Slide classifiers (negative / itc / micro / macro) on the hand-crafted features of :mod:`wsiseg.features`.

``FeatureClassifier`` wraps any scikit-learn-style estimator (a random forest as in the paper, XGBoost's
gradient boosting, ...); ``DiameterRule`` is the training-free baseline of the CAMELYON size rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wsiseg.atomic import atomic_path
from wsiseg.labels import SLIDE_LABELS, SlideLabel, size_label

Features = Sequence[Mapping[str, float]]

Diameter = Literal["feret", "major_axis"]
"""How :class:`DiameterRule` measures a region: maximum Feret diameter, or the fitted ellipse's major axis."""


def _check_labels(labels: Sequence[str]) -> None:
    unknown = sorted(set(labels) - set(SLIDE_LABELS))
    if unknown:
        raise ValueError(f"unknown slide labels {unknown}; expected {SLIDE_LABELS}")


class FeatureClassifier:
    """A fitted estimator plus the feature names and label coding it was fitted with.

    Args:
        estimator: an unfitted scikit-learn-compatible classifier (``fit``, ``predict_proba``), e.g.
            ``RandomForestClassifier(class_weight="balanced")`` or ``xgboost.XGBClassifier()``.
        features: the feature names to use (default: every feature of the first training slide).
        exclude_features: shell-style patterns of feature names to leave out of ``features``, e.g.
            ``["*_negative_density"]`` (the neighbourhood negative density at every threshold).
    """

    def __init__(
        self, estimator: Any, features: Sequence[str] | None = None, exclude_features: Sequence[str] | None = None
    ) -> None:
        self.estimator = estimator
        self.features = list(features) if features is not None else None
        self.exclude_features = list(exclude_features or [])
        self.fitted_on: list[str] = []  # the slides it was fitted on (their stems), saved with it
        from sklearn.preprocessing import LabelEncoder  # here: importing this module stays light

        self.encoder = LabelEncoder()

    def _matrix(self, rows: Features) -> np.ndarray:
        missing = [name for name in self.features if name not in rows[0]]
        if missing:
            raise KeyError(f"features missing from the input: {missing[:5]}")
        return np.array([[float(r[name]) for name in self.features] for r in rows], np.float64)  # (N, F)

    def fit(self, rows: Features, labels: Sequence[SlideLabel], sample_weight: Sequence[float] | None = None):
        """Fit on feature dicts and slide labels; returns ``self``."""
        _check_labels(labels)
        names = self.features if self.features is not None else sorted(rows[0])
        self.features = [n for n in names if not any(fnmatchcase(n, p) for p in self.exclude_features)]
        if not self.features:
            raise ValueError(f"no feature left to fit on: exclude_features {self.exclude_features} removes them all")
        codes = self.encoder.fit_transform(list(labels))
        self.estimator.fit(self._matrix(rows), codes, sample_weight=sample_weight)
        return self

    def predict_proba(self, rows: Features) -> np.ndarray:
        """(N, 4) probabilities in the order of :data:`~wsiseg.labels.SLIDE_LABELS` (0 for unseen classes)."""
        proba = self.estimator.predict_proba(self._matrix(rows))  # (N, classes seen)
        out = np.zeros((len(rows), len(SLIDE_LABELS)))
        for j, label in enumerate(self.encoder.classes_):
            out[:, SLIDE_LABELS.index(label)] = proba[:, j]
        return out

    def predict(self, rows: Features) -> list[SlideLabel]:
        """The most probable label of each slide."""
        return [SLIDE_LABELS[i] for i in self.predict_proba(rows).argmax(axis=1)]

    def save(self, path: str | Path) -> Path:
        """Save with joblib, atomically (load only files you trust: joblib runs pickle code)."""
        import joblib

        with atomic_path(path) as tmp:
            state = {"estimator": self.estimator, "features": self.features, "encoder": self.encoder}
            joblib.dump(state | {"fitted_on": list(self.fitted_on)}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> FeatureClassifier:
        """Load a classifier written by :meth:`save`."""
        import joblib

        state = joblib.load(path)
        model = cls(state["estimator"], state["features"])
        model.encoder = state["encoder"]
        model.fitted_on = list(state.get("fitted_on", []))  # older files: unknown (empty)
        return model


class DiameterRule:
    """No training: the largest predicted region's diameter against the CAMELYON cut-offs (``size_label``).

    Args:
        threshold: the heatmap threshold whose features are used (0.5 -> ``t50_...``).
        diameter: ``feret`` (maximum Feret diameter) or ``major_axis`` (ellipse major axis).
    """

    def __init__(self, threshold: float = 0.5, diameter: Diameter = "feret") -> None:
        key = {"feret": "largest_feret_mm", "major_axis": "largest_major_axis_mm"}[diameter]
        self.feature = f"t{int(round(threshold * 100)):02d}_{key}"

    def fit(self, rows: Features, labels: Sequence[SlideLabel], sample_weight=None) -> DiameterRule:
        """Nothing to learn; checks the labels and returns ``self``."""
        _check_labels(labels)
        return self

    def predict(self, rows: Features) -> list[SlideLabel]:
        """``negative`` without region, else the diameter's label by :func:`~wsiseg.labels.size_label`."""
        return [size_label(float(r[self.feature])) for r in rows]
