"""Cross-validation of slide classifiers grouped by patient, and class weighting for the rare classes."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.class_weight import compute_sample_weight

from wsiseg.classifiers.models import Features
from wsiseg.labels import SLIDE_LABELS, SlideLabel

log = logging.getLogger(__name__)


def balanced_weights(labels: Sequence[str]) -> np.ndarray:
    """Sample weights inversely proportional to class frequency (scikit-learn's ``balanced``).

    Each class weighs as much as any other in total, so the few ITC and micro slides are not drowned by the
    negatives.
    """
    return compute_sample_weight("balanced", np.asarray(labels))


class OutOfFold(NamedTuple):
    """Out-of-fold predictions: labels, and class probabilities (``SLIDE_LABELS`` order) when the model gives them."""

    labels: list[SlideLabel]
    proba: np.ndarray | None  # (N, 4)


def out_of_fold(
    classifier: Any,
    rows: Features,
    labels: Sequence[SlideLabel],
    groups: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    balance: bool = True,
) -> OutOfFold:
    """Out-of-fold predictions: every slide is predicted by a classifier fitted without its patient.

    Folds keep a patient's slides together and are stratified by slide label (``StratifiedGroupKFold``).

    Args:
        classifier: an unfitted classifier (``fit(rows, labels, sample_weight)``, ``predict(rows)``); a fresh
            deep copy is fitted per fold.
        rows: feature dicts, one per slide.
        labels: slide labels.
        groups: the patient of each slide.
        folds: number of folds (at most the number of patients).
        seed: shuffles the patients between folds.
        balance: weight samples with :func:`balanced_weights` (computed within each training fold).

    Raises:
        ValueError: fewer than two patients.
    """
    n_groups = len(set(groups))
    folds = min(folds, n_groups)
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 patients, got {n_groups}")
    labels_arr, out = np.asarray(labels), np.empty(len(rows), dtype=object)
    proba = np.zeros((len(rows), len(SLIDE_LABELS))) if hasattr(classifier, "predict_proba") else None
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(rows)), labels_arr, np.asarray(groups)):
        model = copy.deepcopy(classifier)
        weights = balanced_weights(labels_arr[train]) if balance else None
        model.fit([rows[i] for i in train], list(labels_arr[train]), sample_weight=weights)
        held = [rows[i] for i in test]
        out[test] = model.predict(held)
        if proba is not None:
            proba[test] = model.predict_proba(held)
    return OutOfFold(list(out), proba)
