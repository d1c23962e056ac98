"""What a cohort knows about a slide, looked up by its name: its patient, dataset, label and annotation.

Later stages (the slide classifier, its scores) get their slides from elsewhere (heatmaps, predictions)
and join them to the cohort here, by the slide's stem in any letter case (``patient_101_node_1.svs`` and its
heatmap ``patient_101_node_1`` are one slide).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wsiseg.annotations import GroupRole, read_annotations
from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.cohorts.names import parse_slide_name
from wsiseg.cohorts.records import Dataset, SlideRecord, Subset
from wsiseg.labels import SlideLabel, patient_of_node, size_label

#: Where a slide's label came from: the cohort's labels, its largest annotated lesion, or nowhere.
LabelSource = Literal["labels", "annotation", ""]


@dataclass(frozen=True)
class SlideInfo:
    """What the cohort says about one slide.

    Attributes:
        patient: the patient (from the cohort; else from a CAMELYON17 node name; else the slide's stem).
        dataset: ``camelyon16`` / ``camelyon17`` / ``folder``; ``None`` for a slide the cohort does not hold.
        label: the slide label when known.
        label_source: ``labels`` (the cohort's labels), ``annotation`` (a CAMELYON16 tumour slide labelled by
            the size of its largest annotated lesion) or ``""`` (no label).
        annotation: the slide's lesion annotation, if any.
        has_tumour: whether it holds tumour, when known (also for a tumour slide of unknown size class).
        group_roles: the annotation's group roles on top of the CAMELYON names (see ``SlideRecord``).
        subset: ``training`` or ``testing`` (the cohort's, else what a challenge name says).
    """

    patient: str
    dataset: Dataset | None = None
    label: SlideLabel | None = None
    label_source: LabelSource = ""
    annotation: Path | None = None
    has_tumour: bool | None = None
    group_roles: tuple[tuple[str, GroupRole], ...] = ()
    subset: Subset = "training"


def cohort_index(records: Iterable[SlideRecord]) -> dict[str, SlideRecord]:
    """The slides by stem in lower case (how :func:`slide_info` looks them up)."""
    return {r.stem.lower(): r for r in records}


def slide_info(
    slide: str, slide_mpp: float, index: Mapping[str, SlideRecord], camelyon16_labels: bool = True
) -> SlideInfo:
    """What the cohort ``index`` (see :func:`cohort_index`) says about the slide file ``slide``.

    Args:
        slide: the slide's file name (``patient_004_node_4.tif``, ``tumor_001.tif``), or its stem.
        slide_mpp: its level-0 micrometres per pixel, to measure an annotated lesion.
        index: the cohort's slides by stem.
        camelyon16_labels: label CAMELYON16 tumour slides (which have no slide label) from their annotation,
            by :func:`label_from_annotation`; otherwise they stay unlabelled.
    """
    record = index.get(Path(slide).stem.lower())
    if record is None:
        name = parse_slide_name(Path(slide).stem)
        return SlideInfo(patient_of_node(slide) or Path(slide).stem, subset=name.subset if name else "training")
    known = {"annotation": record.annotation, "has_tumour": record.has_tumour, "group_roles": record.group_roles,
             "subset": record.subset}  # fmt: skip
    if record.label is not None:
        return SlideInfo(record.patient, record.dataset, record.label, "labels", **known)
    if camelyon16_labels and record.dataset == "camelyon16" and record.has_tumour and record.annotation is not None:
        label = label_from_annotation(record.annotation, slide_mpp, record.roles)
        return SlideInfo(record.patient, record.dataset, label, "annotation", **known)
    return SlideInfo(record.patient, record.dataset, **known)


def label_from_annotation(
    path: str | Path, slide_mpp: float, group_roles: Mapping[str, GroupRole] | None = None
) -> SlideLabel:
    """The slide label of a tumour slide from its annotation: the size rule on the largest annotated lesion.

    CAMELYON16 tumour slides have no slide label. Their lesions' largest maximum Feret diameter (level-0
    pixels times ``slide_mpp``, in mm) gives it (:func:`~wsiseg.labels.size_label`); a tumour slide without a
    measurable tumour annotation is ``itc``, the smallest positive label.
    """
    tumour = [a for a in read_annotations(path, group_roles) if a.role == "tumor"]
    longest = max((max_feret_diameter(a.vertices_xy) for a in tumour), default=0.0) * slide_mpp / 1000
    return size_label(longest) if longest > 0 else "itc"
