"""CAMELYON17 label vocabularies and the ``stage_labels.csv`` format (also the submission format).

The file has the header ``patient,stage``; each patient contributes one row ``patient_XXX.zip,<pN stage>``
followed by its five node rows ``patient_XXX_node_Y.tif,<slide label>`` (Y = 0..4), without an index column.
Stages and slide labels are read in any letter case, as the CAMELYON17 ``evaluate.py`` reads stages.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from wsiseg.atomic import write_text_atomic
from wsiseg.errors import LabelError

SlideLabel = Literal["negative", "itc", "micro", "macro"]
PatientStage = Literal["pN0", "pN0(i+)", "pN1mi", "pN1", "pN2"]

#: Slide labels in ordinal order (negative < itc < micro < macro).
SLIDE_LABELS: tuple[SlideLabel, ...] = get_args(SlideLabel)
#: Patient stages in the ordinal order the official kappa uses.
PN_STAGES: tuple[PatientStage, ...] = get_args(PatientStage)
NODES_PER_PATIENT = 5

_PATIENT_RE = re.compile(r"^(patient_\d{3})\.zip$", re.IGNORECASE)
#: A CAMELYON17 node slide name, with any file extension or none: group 1 the patient, group 2 the node (any case).
NODE_RE = re.compile(r"^(patient_\d{3})_node_(\d)(?:\.[A-Za-z0-9]+)?$", re.IGNORECASE)


def parse_node(slide: str) -> tuple[str, int] | None:
    """The patient (lower case) and node number of a CAMELYON17 node slide name; ``None`` for any other name.

    The extension does not matter (a node scanned as ``.svs`` is still its patient's node), nor does the case.

    >>> parse_node("Patient_004_node_4.tif")
    ('patient_004', 4)
    >>> parse_node("patient_101_node_1.svs")
    ('patient_101', 1)
    >>> parse_node("tumor_001.tif") is None
    True
    """
    match = NODE_RE.match(slide)
    return (match.group(1).lower(), int(match.group(2))) if match else None


def node_slide(patient: str, node: int) -> str:
    """The node's name in ``stage_labels.csv`` and in a submission: ``patient_004_node_4.tif``, whatever its file.

    >>> node_slide("patient_101", 1)
    'patient_101_node_1.tif'
    """
    return f"{patient}_node_{node}.tif"


def patient_of_node(slide: str) -> str | None:
    """The patient of a CAMELYON17 node slide name (``patient_004_node_4.tif`` -> ``patient_004``), else ``None``."""
    node = parse_node(slide)
    return node[0] if node else None


@dataclass(frozen=True)
class NodeRecord:
    """One lymph-node slide and its label."""

    slide: str  # e.g. "patient_004_node_4.tif"
    label: SlideLabel

    @property
    def stem(self) -> str:
        """The slide name without extension (``patient_004_node_4``)."""
        return Path(self.slide).stem


@dataclass(frozen=True)
class PatientRecord:
    """One patient: the pN stage and the five node records, in node order."""

    patient: str  # e.g. "patient_004"
    stage: PatientStage
    nodes: tuple[NodeRecord, ...]

    @property
    def zip_name(self) -> str:
        """The patient's row name in the CSV (``patient_004.zip``)."""
        return f"{self.patient}.zip"


def canonical_label(path: Path, line: int, value: str, allowed: Sequence[str], what: str) -> str:
    """The spelling in ``allowed`` that ``value`` equals in any letter case (``PN1`` -> ``pN1``).

    The CAMELYON17 ``evaluate.py`` lower-cases the stages before comparing them, so ``PN1``, ``pn1`` and
    ``pN1`` are one stage; slide labels follow the same rule.

    Args:
        path: the file, for the error message.
        line: the line of ``value`` in it, for the error message.
        value: the spelling read (surrounding spaces are ignored).
        allowed: the official spellings (:data:`PN_STAGES` or :data:`SLIDE_LABELS`).
        what: what ``value`` is, for the error message (``pN stage``).

    Raises:
        LabelError: ``value`` is none of ``allowed`` in any case (the message names ``path`` and ``line``).
    """
    by_lower = {a.lower(): a for a in allowed}
    if (found := by_lower.get(value.strip().lower())) is None:
        expected = ", ".join(allowed)
        raise LabelError(path, f"line {line}: unknown {what} {value!r}; expected one of {expected} (any letter case)")
    return found


def _first_row(
    first_line: dict[str, int], name: str, line: int, path: Path, what: str = "duplicate row for {}"
) -> None:
    """Note that ``name`` is on ``line``; a second row for it is an error (``what``) naming both lines."""
    if name in first_line:
        raise LabelError(path, f"line {line}: {what.format(name)} (first on line {first_line[name]})")
    first_line[name] = line


def _table(text: str, path: Path, exact_header: bool = True) -> list[tuple[int, list[str]]]:
    """The non-blank rows after the ``patient,stage`` header, with their line numbers.

    ``exact_header``: the header has exactly those two columns (otherwise its first two are those).
    """
    rows = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if (header if exact_header else header[:2]) != ["patient", "stage"]:
        raise LabelError(path, "the first line must be the header 'patient,stage'")
    return [(line, row) for line, row in enumerate(rows[1:], start=2) if row and "".join(row).strip()]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise LabelError(path, f"cannot read the labels file ({err.strerror or err})") from err


def parse_stage_labels(text: str, path: str | Path = "<string>") -> list[PatientRecord]:
    """Parse the content of a ``stage_labels.csv`` / submission file.

    Args:
        text: the CSV content.
        path: the file name used in error messages.

    Returns:
        The patients in file order, each with its five nodes sorted by node number. Names, stages and slide
        labels may be in any letter case (``PN1``, ``Macro``); they come back in the official spelling.

    Raises:
        LabelError: on a wrong header, an unknown spelling, a node without its patient row, a duplicate row,
            or a patient without exactly five nodes.
    """
    path = Path(path)
    stages: dict[str, str] = {}
    first_line: dict[str, int] = {}  # patient or slide -> the line it was first seen on
    nodes: dict[str, dict[int, NodeRecord]] = {}
    for line, row in _table(text, path):
        if len(row) != 2:
            raise LabelError(path, f"line {line}: expected 2 columns, found {len(row)}")
        name, value = row[0].strip(), row[1].strip()
        if m := _PATIENT_RE.match(name):
            patient = m.group(1).lower()
            _first_row(first_line, patient, line, path)
            stages[patient] = canonical_label(path, line, value, PN_STAGES, "pN stage")
            nodes.setdefault(patient, {})
        elif parsed := parse_node(name):
            patient, node = parsed
            slide = node_slide(patient, node)
            _first_row(first_line, slide, line, path)
            label = canonical_label(path, line, value, SLIDE_LABELS, "slide label")
            nodes.setdefault(patient, {})[node] = NodeRecord(slide, label)  # type: ignore[arg-type]
        else:
            raise LabelError(path, f"line {line}: {name!r} is neither 'patient_XXX.zip' nor 'patient_XXX_node_Y.tif'")
    return [_patient(path, patient, stages, by_node) for patient, by_node in nodes.items()]


def _patient(path: Path, patient: str, stages: dict[str, str], by_node: dict[int, NodeRecord]) -> PatientRecord:
    """One patient's record, once every row is read: its stage row and exactly nodes 0-4 must be there."""
    if patient not in stages:
        raise LabelError(path, f"{patient} has node rows but no '{patient}.zip' row")
    if sorted(by_node) != list(range(NODES_PER_PATIENT)):
        raise LabelError(path, f"{patient} has nodes {sorted(by_node)}; expected exactly nodes 0-4")
    ordered = tuple(by_node[i] for i in range(NODES_PER_PATIENT))
    return PatientRecord(patient, stages[patient], ordered)  # type: ignore[arg-type]


def read_stage_labels(path: str | Path) -> list[PatientRecord]:
    """Read a ``stage_labels.csv`` or submission file (see :func:`parse_stage_labels`)."""
    path = Path(path)
    return parse_stage_labels(_read_text(path), path)


def parse_patient_stages(text: str, path: str | Path = "<string>") -> dict[str, PatientStage]:
    """``patient_xxx -> pN stage`` from the ``.zip`` rows of a labels / submission file, the official way.

    This is how the challenge's ``evaluate.py`` reads both files for the kappa: only the rows whose first
    column ends in ``.zip`` count (node rows, other rows and columns after the second are ignored, so a
    submission of patient rows alone is valid), and stages are compared in lower case: ``PN1``, ``pn1`` and
    ``pN1`` are all ``pN1`` (returned in the official spelling). Names are case-insensitive too
    (``Patient_004.ZIP`` is ``patient_004``), which the official script does not do (there, a name in
    another case than the reference's is a missing patient). :func:`parse_stage_labels` is the strict
    reading of the same format, for files that must hold every patient's five nodes.

    Raises:
        LabelError: a missing ``patient,stage`` header (its first two columns), an unknown stage or a patient
            listed twice (the official script keeps the last row silently; a second row is refused here, with
            both line numbers).
    """
    path = Path(path)
    stages: dict[str, PatientStage] = {}
    first_line: dict[str, int] = {}
    for line, row in _table(text, path, exact_header=False):
        name = row[0].strip().lower()
        if len(row) < 2 or not name.endswith(".zip"):
            continue
        patient = name.removesuffix(".zip")
        _first_row(first_line, patient, line, path, "{} is listed twice")
        stages[patient] = canonical_label(path, line, row[1], PN_STAGES, "pN stage")  # type: ignore[assignment]
    return stages


def read_patient_stages(path: str | Path) -> dict[str, PatientStage]:
    """Read the patients' stages of a labels / submission file the official way (see :func:`parse_patient_stages`).

    Raises:
        LabelError: an unreadable file, or one :func:`parse_patient_stages` refuses.
    """
    path = Path(path)
    return parse_patient_stages(_read_text(path), path)


def format_stage_labels(patients: Iterable[PatientRecord]) -> str:
    """Render patients in the official CSV format (header, then a .zip row and five .tif rows each)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["patient", "stage"])
    for record in patients:
        writer.writerow([record.zip_name, record.stage])
        for node in record.nodes:
            writer.writerow([node.slide, node.label])
    return out.getvalue()


def write_stage_labels(path: str | Path, patients: Iterable[PatientRecord]) -> Path:
    """Write patients in the official CSV format, atomically (temporary file, then rename)."""
    return write_text_atomic(path, format_stage_labels(patients))


#: The CAMELYON size cut-offs (mm) on a lesion's longest diameter: ITC < 0.2 <= micro < 2.0 <= macro.
ITC_MAX_MM, MICRO_MAX_MM = 0.2, 2.0
#: The CAMELYON cell-count cut-off: an ITC is a cluster of fewer than this many tumour cells.
ITC_MAX_CELLS = 200


def size_label(diameter_mm: float) -> SlideLabel:
    """The slide label of a largest lesion of ``diameter_mm`` (0 or less: no lesion, ``negative``).

    This is the size part of the CAMELYON17 rules; the cell-count criterion of ITCs (fewer than
    :data:`ITC_MAX_CELLS` tumour cells) is not measurable from a diameter and is left out.
    """
    if diameter_mm <= 0:
        return "negative"
    return "itc" if diameter_mm < ITC_MAX_MM else "micro" if diameter_mm < MICRO_MAX_MM else "macro"
