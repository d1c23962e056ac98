"""The official CAMELYON17 score: quadratic-weighted Cohen's kappa over the patients' pN stages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from wsiseg.errors import LabelError
from wsiseg.labels import PN_STAGES, read_patient_stages


def camelyon17_kappa(
    reference_csv: str | Path, submission_csv: str | Path, patients: Iterable[str] | None = None
) -> float:
    """Quadratic-weighted kappa of a submission against the reference, the CAMELYON17 way.

    Both files are read as the challenge's ``evaluate.py`` reads them (:func:`wsiseg.labels.read_patient_stages`):
    only patient rows count; the stages are ordered pN0 < pN0(i+) < pN1mi < pN1 < pN2 (without that order,
    scikit-learn sorts them alphabetically, swaps pN1 and pN1mi, and the value is wrong). ``patients``
    restricts the score to some reference patients (e.g. the held-out ones).

    Raises:
        LabelError: a reference patient is missing from the submission (named), or a file is malformed.
    """
    reference, submission = read_patient_stages(reference_csv), read_patient_stages(submission_csv)
    if patients is not None:
        wanted = {p.lower().removesuffix(".zip") for p in patients}
        unknown = sorted(wanted - set(reference))
        if unknown:
            raise LabelError(reference_csv, f"patients not in the reference: {', '.join(unknown[:10])}")
        reference = {p: s for p, s in reference.items() if p in wanted}
    missing = sorted(set(reference) - set(submission))
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise LabelError(submission_csv, f"{len(missing)} patients of the reference are missing: {shown}")
    patients = sorted(reference)
    return stage_kappa([reference[p] for p in patients], [submission[p] for p in patients])


def stage_kappa(reference: Sequence[str], predicted: Sequence[str]) -> float:
    """The official quadratic-weighted kappa of two lists of pN stages (canonical spellings, one per patient).

    Stages are ordered pN0 < pN0(i+) < pN1mi < pN1 < pN2. NaN (with scikit-learn's ``UndefinedMetricWarning``)
    where the kappa is undefined: every reference and predicted stage is one and the same stage (0 / 0).
    """
    from sklearn.metrics import cohen_kappa_score  # here: the bootstrap (and every config schema) needs no sklearn

    return float(cohen_kappa_score(list(reference), list(predicted), labels=list(PN_STAGES), weights="quadratic"))


def quadratic_kappa_of_confusions(confusions: np.ndarray) -> np.ndarray:
    """:func:`stage_kappa` of many confusion matrices at once: (B, K, K) counts -> (B,) kappas.

    ``confusions[b, i, j]``: patients of reference stage ``i`` predicted ``j`` (stages in :data:`PN_STAGES`
    order). The same arithmetic as scikit-learn's ``cohen_kappa_score(weights="quadratic")`` that
    :func:`stage_kappa` calls (tested equal), vectorised for the bootstrap's thousands of replicates; NaN where
    the kappa is undefined (0 / 0), without a warning.
    """
    confusions = np.asarray(confusions, float)
    k = confusions.shape[-1]
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2.0  # (K, K)
    totals = confusions.sum(axis=(1, 2))  # (B,)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = confusions.sum(axis=1)[:, :, None] * confusions.sum(axis=2)[:, None, :] / totals[:, None, None]
        observed_w, expected_w = (weights * confusions).sum(axis=(1, 2)), (weights * expected).sum(axis=(1, 2))
        kappa = 1 - observed_w / expected_w
    return np.where(np.isclose(expected_w, 0) | ~np.isfinite(expected_w), np.nan, kappa)
