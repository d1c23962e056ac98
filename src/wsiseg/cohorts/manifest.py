"""The synthetic cohort: ``manifest.csv`` at the folder's top lists every slide with its label and annotation."""

from __future__ import annotations

import csv
from pathlib import Path

from wsiseg.cohorts.found import Found
from wsiseg.cohorts.names import parse_slide_name
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.errors import LabelError
from wsiseg.labels import SLIDE_LABELS, read_stage_labels

#: The file that makes a folder a synthetic cohort (``python synth.py`` writes it).
MANIFEST = "manifest.csv"


def find(root: Path, elsewhere: dict[str, Path] | None = None) -> Found:
    """Every slide of ``root / manifest.csv``; a listed slide that is not on disk is left out with its reason.

    ``elsewhere``: stem (lower case) -> a slide outside the folder (a heatmap's), standing in for a missing one.

    Raises:
        LabelError: an unknown slide label in the manifest.
    """
    path = root / MANIFEST
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    found = Found(label_files=[path])
    labels_file = root / "stage_labels.csv"
    if labels_file.is_file():
        found.label_files.append(labels_file)
        found.stages = {p.patient: p.stage for p in read_stage_labels(labels_file)}
    for row in rows:
        label = row["label"] or None
        if label is not None and label not in SLIDE_LABELS:
            raise LabelError(path, f"unknown slide label {label!r} for {row['slide']}")
        slide = root / row["path"]
        if not slide.is_file() and (elsewhere or {}).get(slide.stem.lower()):
            slide = (elsewhere or {})[slide.stem.lower()]
        elif not slide.is_file():
            detail = f"listed in {path}, not at {slide}"
            found.excluded.append(Excluded(row["slide"], None, "label without slide", detail))
            continue
        name = parse_slide_name(slide.stem)
        found.records.append(SlideRecord(
            row["slide"], slide, root / row["annotation"] if row["annotation"] else None, row["dataset"],  # type: ignore[arg-type]
            row["patient"] or slide.stem, label, None if label is None else label != "negative",  # type: ignore[arg-type]
            int(row["centre"]) if row.get("centre") else None, name.subset if name else "training",
        ))  # fmt: skip
    return found
