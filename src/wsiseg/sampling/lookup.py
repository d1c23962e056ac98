"""What a cohort knows about a slide, looked up by file name: its patient, dataset, label and annotation.

Later stages (the slide classifier, its scores) get their slides from elsewhere (heatmaps, predictions)
and join them to the cohort here, by the slide's file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wsiseg.annotations import read_asap_xml
from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.labels import SlideLabel, patient_of_node, size_label
from wsiseg.sampling.cohort import Dataset, SlideRecord, read_cohort

#: Where a slide's label came from: the cohort's labels, its largest annotated lesion, or nowhere.
LabelSource = Literal["labels", "annotation", ""]


@dataclass(frozen=True)
class SlideInfo:
    """What the cohort says about one slide.

    Attributes:
        patient: the patient (from the cohort; else from a CAMELYON17 node name; else the slide's stem).
        dataset: ``camelyon16`` / ``camelyon17``; ``None`` for a slide the cohort does not hold.
        label: the slide label when known.
        label_source: ``labels`` (the cohort's labels), ``annotation`` (a CAMELYON16 tumour slide labelled by
            the size of its largest annotated lesion) or ``""`` (no label).
        annotation: the slide's ASAP XML lesion annotation, if any.
    """

    patient: str
    dataset: Dataset | None = None
    label: SlideLabel | None = None
    label_source: LabelSource = ""
    annotation: Path | None = None


def cohort_index(root: str | Path | None) -> dict[str, SlideRecord]:
    """The slides of the cohort folder ``root`` by file name; empty when there is no cohort (``None``).

    Raises:
        FileNotFoundError: ``root`` holds no slide (see :func:`~wsiseg.sampling.cohort.read_cohort`).
    """
    return {r.slide: r for r in read_cohort(root)} if root else {}


def slide_info(
    slide: str, slide_mpp: float, index: Mapping[str, SlideRecord], camelyon16_labels: bool = True
) -> SlideInfo:
    """What the cohort ``index`` (see :func:`cohort_index`) says about the slide file ``slide``.

    Args:
        slide: the slide's file name (``patient_004_node_4.tif``, ``tumor_001.tif``).
        slide_mpp: its level-0 micrometres per pixel, to measure an annotated lesion.
        index: the cohort's slides by file name.
        camelyon16_labels: label CAMELYON16 tumour slides (which have no slide label) from their annotation,
            by :func:`label_from_annotation`; otherwise they stay unlabelled.
    """
    record = index.get(slide)
    if record is None:
        return SlideInfo(patient_of_node(slide) or Path(slide).stem)
    if record.label is not None:
        return SlideInfo(record.patient, record.dataset, record.label, "labels", record.annotation)
    if camelyon16_labels and record.dataset == "camelyon16" and record.has_tumour and record.annotation is not None:
        label = label_from_annotation(record.annotation, slide_mpp)
        return SlideInfo(record.patient, record.dataset, label, "annotation", record.annotation)
    return SlideInfo(record.patient, record.dataset, annotation=record.annotation)


def label_from_annotation(xml: str | Path, slide_mpp: float) -> SlideLabel:
    """The slide label of a tumour slide from its annotation: the size rule on the largest annotated lesion.

    CAMELYON16 tumour slides have no slide label. Their lesions' largest maximum Feret diameter (level-0
    pixels times ``slide_mpp``, in mm) gives it (:func:`~wsiseg.labels.size_label`); a tumour slide without a
    measurable tumour annotation is ``itc``, the smallest positive label.
    """
    tumour = [a for a in read_asap_xml(xml) if a.role == "tumor"]
    longest = max((max_feret_diameter(a.vertices_xy) for a in tumour), default=0.0) * slide_mpp / 1000
    return size_label(longest) if longest > 0 else "itc"
