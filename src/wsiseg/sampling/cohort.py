"""Which slides exist: a cohort folder (synthetic manifest, or the real CAMELYON16/17 layouts) as typed records."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wsiseg.errors import LabelError
from wsiseg.labels import SLIDE_LABELS, SlideLabel, patient_of_node, read_stage_labels

Dataset = Literal["camelyon16", "camelyon17"]


@dataclass(frozen=True)
class SlideRecord:
    """One slide of a cohort.

    Attributes:
        slide: file name (``patient_004_node_4.tif``, ``tumor_001.tif``); unique within a cohort.
        path: the slide file.
        annotation: its ASAP XML lesion annotation, if any.
        dataset: ``camelyon17`` or ``camelyon16``.
        patient: the patient (CAMELYON16 slides are their own patient).
        label: the slide label when known (CAMELYON16 tumour slides: ``None``, only ``has_tumour``).
        has_tumour: whether the slide holds metastases (``None`` when unknown, e.g. a test set).
        centre: the centre index when known.
    """

    slide: str
    path: Path
    annotation: Path | None
    dataset: Dataset
    patient: str
    label: SlideLabel | None
    has_tumour: bool | None
    centre: int | None = None

    @property
    def stem(self) -> str:
        """The slide name without extension."""
        return Path(self.slide).stem


def read_cohort(root: str | Path) -> list[SlideRecord]:
    """All slides of a cohort folder, sorted by name.

    A folder with ``manifest.csv`` (the synthetic cohort) is read from it; otherwise the real layouts are
    scanned: CAMELYON17 (``centre_K/patient_XXX_node_Y.tif``, ``lesion_annotations/``, ``stage_labels.csv``)
    and CAMELYON16 (``tumor/``, ``normal/``, ``lesion_annotations/``, either directly in ``root`` or under
    ``camelyon16/training/``).

    Raises:
        FileNotFoundError: the folder holds no slide in any known layout.
    """
    root = Path(root)
    if (root / "manifest.csv").is_file():
        records = _from_manifest(root)
    else:
        records = _scan_camelyon17(root) + _scan_camelyon16(root) + _scan_camelyon16(root / "camelyon16" / "training")
    if not records:
        raise FileNotFoundError(
            f"{root}: no slides found (expected manifest.csv, centre_K/patient_XXX_node_Y.tif or tumor/, normal/)"
        )
    return sorted(records, key=lambda r: (r.dataset, r.slide))


def _from_manifest(root: Path) -> list[SlideRecord]:
    with (root / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = []
    for row in rows:
        label = row["label"] or None
        if label is not None and label not in SLIDE_LABELS:
            raise LabelError(root / "manifest.csv", f"unknown slide label {label!r} for {row['slide']}")
        records.append(
            SlideRecord(
                slide=row["slide"],
                path=root / row["path"],
                annotation=root / row["annotation"] if row["annotation"] else None,
                dataset=row["dataset"],  # type: ignore[arg-type]
                patient=row["patient"] or Path(row["slide"]).stem,
                label=label,  # type: ignore[arg-type]
                has_tumour=None if label is None else label != "negative",
                centre=int(row["centre"]) if row.get("centre") else None,
            )
        )
    return records


def _scan_camelyon17(root: Path) -> list[SlideRecord]:
    labels_csv = root / "stage_labels.csv"
    labels = {n.slide: n.label for p in read_stage_labels(labels_csv) for n in p.nodes} if labels_csv.is_file() else {}
    records = []
    for path in sorted(root.glob("centre_*/patient_*_node_*.tif")):
        patient = patient_of_node(path.name)
        if patient is None:
            continue
        label = labels.get(path.name)
        xml = root / "lesion_annotations" / f"{path.stem}.xml"
        records.append(
            SlideRecord(
                path.name, path, xml if xml.is_file() else None, "camelyon17", patient, label,
                None if label is None else label != "negative", int(path.parent.name.split("_")[1]),
            )
        )  # fmt: skip
    return records


def _scan_camelyon16(root: Path) -> list[SlideRecord]:
    records = []
    for kind in ("tumor", "normal"):
        for path in sorted((root / kind).glob(f"{kind}_*.tif")) if (root / kind).is_dir() else []:
            xml = root / "lesion_annotations" / f"{path.stem}.xml"
            records.append(
                SlideRecord(
                    path.name, path, xml if xml.is_file() else None, "camelyon16", path.stem,
                    None if kind == "tumor" else "negative", kind == "tumor",
                )
            )  # fmt: skip
    return records


def select_training_slides(
    records: Iterable[SlideRecord],
    tumour_from: Iterable[str] = ("camelyon16", "camelyon17"),
    normal_from: Iterable[str] = ("camelyon17",),
) -> list[SlideRecord]:
    """The slides that feed patch sampling, as in the paper's update.

    Tumour slides need a lesion annotation (tumour patches must be known pixel by pixel); normal slides are
    the slides known to be negative. Tumour slides without annotation are left out: their unannotated
    regions are not guaranteed normal.

    Args:
        records: the cohort.
        tumour_from: datasets whose annotated tumour slides are used.
        normal_from: datasets whose negative slides are used.
    """
    tumour_from, normal_from = set(tumour_from), set(normal_from)
    chosen = []
    for r in records:
        usable_tumour = r.has_tumour and r.annotation is not None and r.dataset in tumour_from
        if usable_tumour or (r.has_tumour is False and r.dataset in normal_from):
            chosen.append(r)
    return chosen
