"""Fit the slide classifier on the table's ``fit`` rows (with out-of-fold predictions) and label every row."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsiseg.classifiers.models import FeatureClassifier
from wsiseg.classifiers.rows import SlideRow, write_predictions
from wsiseg.classifiers.validation import balanced_weights, out_of_fold

log = logging.getLogger(__name__)


def fit_rows(
    classifier: Any, rows: Sequence[SlideRow], cv_folds: int, seed: int | None, balance: bool, out_dir: Path,
    source: str = "the cohort",
) -> list[SlideRow]:  # fmt: skip
    """Fit ``classifier`` on the labelled ``fit`` rows and return them; save it (``classifier.joblib``).

    With ``cv_folds`` (and two patients or more) the fitted rows first get their out-of-fold labels and
    probabilities (cross-validation grouped by patient); ``balance``: balanced class weights, so that rare ITC
    and micro slides count as much as negatives. A saved classifier records the slides it was ``fitted_on``.

    Raises:
        ValueError: No labelled ``fit`` row for a trained classifier; ``source`` says where labels come from.
    """
    fit = [r for r in rows if r.part == "fit" and r.label is not None]
    if not fit:
        if isinstance(classifier, FeatureClassifier):
            raise ValueError(f"no labelled slide to fit the classifier: {source} outside the held-out patients "
                             "(for unlabelled slides pass fitted=<classifier.joblib>)")  # fmt: skip
        return fit
    rows_x, labels, patients = [r.features for r in fit], [r.label for r in fit], [r.patient for r in fit]
    if cv_folds and len(set(patients)) >= 2:
        oof = out_of_fold(classifier, rows_x, labels, patients, cv_folds, seed, balance)
        for i, (row, label) in enumerate(zip(fit, oof.labels, strict=True)):
            row.oof, row.oof_proba = label, oof.proba[i] if oof.proba is not None else None
    classifier.fit(rows_x, labels, sample_weight=balanced_weights(labels) if balance else None)
    if hasattr(classifier, "save"):
        classifier.fitted_on = sorted(r.heatmap.name for r in fit)
        classifier.save(out_dir / "classifier.joblib")
    return fit


def label_rows(classifier: Any, rows: Sequence[SlideRow], out_dir: Path) -> None:
    """Label every slide (and keep the class probabilities when the classifier gives them): ``predictions.csv``."""
    x = [r.features for r in rows]
    proba = classifier.predict_proba(x) if hasattr(classifier, "predict_proba") else None
    for i, (row, label) in enumerate(zip(rows, classifier.predict(x), strict=True)):
        row.predicted = label
        row.proba = proba[i] if proba is not None else None
    write_predictions(out_dir / "predictions.csv", rows)
