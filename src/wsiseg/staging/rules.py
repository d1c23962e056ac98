"""The CAMELYON17 pN rules, from the five node labels of a patient."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from wsiseg.labels import (
    NODES_PER_PATIENT,
    SLIDE_LABELS,
    NodeRecord,
    PatientRecord,
    PatientStage,
    SlideLabel,
    node_slide,
    parse_node,
)


def pn_stage(labels: Sequence[SlideLabel]) -> PatientStage:
    """Return the pN stage of a patient from its node labels.

    Positive nodes are those with a micro- or macro-metastasis (ITC-only nodes are not positive):

    - no macro and no micro: ``pN0(i+)`` if any node has ITCs, else ``pN0``;
    - no macro, at least one micro: ``pN1mi``;
    - at least one macro: ``pN1`` with 1-3 positive nodes, ``pN2`` with 4 or more.

    Args:
        labels: the node labels (five per patient in CAMELYON17; any number is accepted).

    Raises:
        ValueError: on a label that is not one of ``negative``, ``itc``, ``micro``, ``macro``.
    """
    unknown = sorted(set(labels) - set(SLIDE_LABELS))
    if unknown:
        raise ValueError(f"unknown slide label(s) {unknown}; expected {SLIDE_LABELS}")
    positive = sum(label in ("micro", "macro") for label in labels)
    if "macro" in labels:
        return "pN2" if positive >= 4 else "pN1"
    if "micro" in labels:
        return "pN1mi"
    return "pN0(i+)" if "itc" in labels else "pN0"


def stage_patients(slide_labels: Mapping[str, SlideLabel]) -> list[PatientRecord]:
    """Group ``patient_XXX_node_Y.tif -> label`` into staged patients, sorted by patient and node.

    Nodes are named as the submission names them (``patient_XXX_node_Y.tif``) whatever their file's extension.

    Args:
        slide_labels: one label per slide file name (``patient_XXX_node_Y`` with any extension).

    Raises:
        ValueError: a name that is not a CAMELYON17 node slide name, or one node given twice.
    """
    by_patient: dict[str, dict[int, NodeRecord]] = {}
    for slide, label in slide_labels.items():
        parsed = parse_node(slide)
        if parsed is None:
            raise ValueError(f"{slide!r} is not a CAMELYON17 node slide name (patient_XXX_node_Y.tif)")
        patient, node = parsed
        if node in by_patient.setdefault(patient, {}):
            raise ValueError(f"{patient} node {node} is given twice ({by_patient[patient][node].slide}, {slide})")
        by_patient[patient][node] = NodeRecord(node_slide(patient, node), label)
    return [_record(p, (nodes[n] for n in sorted(nodes))) for p, nodes in sorted(by_patient.items())]


def stage_complete_patients(
    slide_labels: Mapping[str, SlideLabel],
) -> tuple[list[PatientRecord], list[PatientRecord]]:
    """Stage the CAMELYON17 node slides among ``slide_labels``; other slide names are left out.

    Returns:
        The patients with all five node slides (a valid pN stage), and the others, each sorted by patient.
    """
    patients = stage_patients({slide: label for slide, label in slide_labels.items() if parse_node(slide)})
    complete = [p for p in patients if len(p.nodes) == NODES_PER_PATIENT]
    return complete, [p for p in patients if len(p.nodes) != NODES_PER_PATIENT]


def _record(patient: str, nodes: Iterable[NodeRecord]) -> PatientRecord:
    nodes = tuple(nodes)
    return PatientRecord(patient, pn_stage([n.label for n in nodes]), nodes)
