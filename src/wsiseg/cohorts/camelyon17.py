"""CAMELYON17: ``patient_XXX_node_Y.*`` slides anywhere, labels from ``stage_labels.csv`` or ``stages.csv``.

The challenge's shared folders keep the slides in ``training/center_K/`` (American spelling; sometimes as
per-patient ``patient_XXX.zip`` files unpacked in place) and ``testing/patients/``; the open-data bucket keeps
them flat in ``images/``. The centre is read from a ``center_K`` / ``centre_K`` folder when there is one, else
from the patient number (20 patients a centre, training and test alike).
"""

from __future__ import annotations

from pathlib import Path

from wsiseg.cohorts.found import Found, Named
from wsiseg.cohorts.names import PATIENT_ARCHIVE, folder_centre, node_centre
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.cohorts.scan import Files
from wsiseg.errors import LabelError
from wsiseg.labels import SlideLabel, node_slide, read_stage_labels

#: The names the challenge's labels file goes by (the shared folders' and the open-data bucket's).
LABEL_FILES = ("stage_labels.csv", "stages.csv")


def find(files: Files, named: Named, elsewhere: Named | None = None) -> Found:
    """The node slides among ``named``, labelled from every CAMELYON17 labels file under the folder.

    ``elsewhere``: slides known to exist outside the folder (those a heatmap was predicted from), which stand in
    for labelled slides the folder lacks.

    Raises:
        LabelError: a labels file is malformed, or two of them disagree on a slide or a patient.
    """
    found = Found(label_files=[p for name in LABEL_FILES for p in files.tables.get(name, [])])
    labels = _read_labels(found)
    nodes = {name: path for name, path in named.items() if name.kind == "node"}
    labelled = {name for name in (elsewhere or {}) if node_slide(name.patient, name.node or 0) in labels}
    nodes |= {name: (elsewhere or {})[name] for name in labelled if name not in nodes}
    for name, path in sorted(nodes.items(), key=lambda item: item[0].stem):
        label = labels.get(node_slide(name.patient, name.node or 0))
        centre = folder_centre(files.folders(path))
        found.records.append(SlideRecord(
            path.name, path, None, "camelyon17", name.patient, label, None if label is None else label != "negative",
            node_centre(name.number) if centre is None else centre, name.subset,
        ))  # fmt: skip
    found.excluded += _archives(files, {n.patient for n in nodes}) + _unmatched(labels, nodes, found, files.root)
    return found


def _read_labels(found: Found) -> dict[str, SlideLabel]:
    """Slide -> label of every labels file (the patients' stages into ``found.stages``); they must agree."""
    labels: dict[str, SlideLabel] = {}
    source: dict[str, Path] = {}
    for path in found.label_files:
        for patient in read_stage_labels(path):
            _agree(source, patient.patient, path, found.stages.get(patient.patient), patient.stage)
            found.stages[patient.patient] = patient.stage
            for node in patient.nodes:
                _agree(source, node.slide, path, labels.get(node.slide), node.label)
                labels[node.slide] = node.label
    return labels


def _agree(source: dict[str, Path], name: str, path: Path, before: str | None, now: str) -> None:
    if before is not None and before != now:
        raise LabelError(path, f"{name} is {now} here but {before} in {source[name]}; keep one labels file")
    source.setdefault(name, path)


def _archives(files: Files, patients: set[str]) -> list[Excluded]:
    """Per-patient archives whose slides are not there: the patient's download was never unpacked."""
    left = [p for p in files.archives if PATIENT_ARCHIVE.match(p.name) and p.stem.lower() not in patients]
    return [Excluded(p.name, p, "archive not unpacked", f"none of {p.stem.lower()}'s node slides is under "
                     f"{files.root}; unzip it where it is") for p in left]  # fmt: skip


def _unmatched(labels: dict[str, SlideLabel], nodes: Named, found: Found, root: Path) -> list[Excluded]:
    """Slides the labels list that are not on disk."""
    present = {node_slide(n.patient, n.node or 0) for n in nodes}
    files = ", ".join(str(p) for p in found.label_files)
    return [Excluded(slide, None, "label without slide", f"listed in {files} ({label}) but no "
                     f"{slide.removesuffix('.tif')}.* slide file is under {root}")
            for slide, label in sorted(labels.items()) if slide not in present]  # fmt: skip
