"""The official CAMELYON17 score: quadratic-weighted Cohen's kappa over the patients' pN stages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from wsiseg.errors import LabelError
from wsiseg.labels import PN_STAGES, canonical_label


def read_patient_stages(path: str | Path) -> dict[str, str]:
    """``patient_xxx -> pN stage`` from the ``.zip`` rows of a labels / submission CSV (slide rows ignored).

    As in the challenge's ``evaluate.py``, the stages are compared in lower case: ``PN1``, ``pn1`` and
    ``pN1`` are all ``pN1`` (returned in the official spelling). Names are case-insensitive too
    (``Patient_004.ZIP`` is ``patient_004``), which the official script does not do (there, a name in
    another case than the reference's is a missing patient).

    Raises:
        LabelError: unreadable file, a missing ``patient,stage`` header, an unknown stage or a patient listed
            twice (the official script keeps the last row silently; a second row is refused here, with both
            line numbers).
    """
    path = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except OSError as err:
        raise LabelError(path, f"cannot read it ({err.strerror or err})") from err
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["patient", "stage"]:
        raise LabelError(path, "the first line must be the header 'patient,stage'")
    stages: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < 2 or not row[0].strip().lower().endswith(".zip"):
            continue
        patient = row[0].strip().lower().removesuffix(".zip")
        if patient in stages:
            raise LabelError(path, f"line {line}: {patient} is listed twice (first on line {lines[patient]})")
        stages[patient], lines[patient] = canonical_label(path, line, row[1], PN_STAGES, "pN stage"), line
    return stages


def camelyon17_kappa(
    reference_csv: str | Path, submission_csv: str | Path, patients: Iterable[str] | None = None
) -> float:
    """Quadratic-weighted kappa of a submission against the reference, the CAMELYON17 way.

    Only patient rows count; the stages are ordered pN0 < pN0(i+) < pN1mi < pN1 < pN2 (without that order,
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
    return float(
        cohen_kappa_score(
            [reference[p] for p in patients],
            [submission[p] for p in patients],
            labels=list(PN_STAGES),
            weights="quadratic",
        )
    )
