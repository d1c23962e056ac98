"""A staging run's predicted lesions: per slide a QuPath GeoJSON and an ASAP XML file, and their overlap.

Written by ``stage.py`` (through :func:`wsiseg.features.export.write_lesion_files`), not ``predict.py``: the
files carry what only staging knows, the slide's predicted label and the patient's predicted pN stage (with
the reference ones where the cohort has them), and an
annotated slide's lesions are scored against its annotation here. In ``<out_dir>/lesions/``:

- ``<slide>.lesions.geojson``: a QuPath ``FeatureCollection``, one feature per lesion, classified ``itc`` /
  ``micro`` / ``macro`` by its maximum Feret diameter, with its area, diameter and probabilities as
  measurements; the slide-level labels and stages in the collection's ``properties``;
- ``<slide>.lesions.xml``: the same polygons for ASAP, a group per size class and holes in ``holes`` (cut out);
- ``summary.csv``: per slide its lesions by class and, where an annotation exists, the IoU of the exported
  lesions (rasterised back from the written polygons) with the annotation's tumour mask at heatmap resolution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wsiseg.annotations import DEFAULT_GROUP_ROLES, Annotation, rasterize, tumour_mask
from wsiseg.atomic import write_csv_atomic
from wsiseg.classifiers import SlideRow
from wsiseg.errors import AnnotationError
from wsiseg.features import load_heatmap
from wsiseg.features.export import CLASS_COLORS, write_lesion_files
from wsiseg.features.lesions import Lesion, LesionSearch, find_lesions
from wsiseg.labels import PatientRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LesionSettings:
    """``stage.yaml``'s ``lesions`` node.

    Attributes:
        write: write the files (false: none, and no IoU).
        threshold: a heatmap pixel is tumour at or above it.
        simplify_um: outline simplification tolerance (0: exact pixel outlines).
        min_area_um2: regions smaller than this are not written (0: every region).
        max_per_slide: at most this many lesions a slide, the largest: a fragmented heatmap (an undertrained
            model, a threshold too low) would otherwise write tens of thousands of specks, megabytes a slide
            that no viewer can review (``null``: no limit).
    """

    write: bool = True
    threshold: float = 0.5
    simplify_um: float = 2.0
    min_area_um2: float = 0.0
    max_per_slide: int | None = 1000


@dataclass(frozen=True)
class LesionMeasures:
    """One written lesion's class and measurements, as its GeoJSON feature carries them (for report.html)."""

    size_class: str
    area_mm2: float
    feret_mm: float
    max_prob: float
    mean_prob: float

    @classmethod
    def of(cls, lesion: Lesion) -> LesionMeasures:
        """A predicted lesion's measurements."""
        return cls(lesion.size_class, lesion.area_mm2, lesion.feret_mm, lesion.max_prob, lesion.mean_prob)


@dataclass(frozen=True)
class LesionSummary:
    """What was written: the folder, per slide its lesions by class and its IoU with its annotation (if any).

    ``measures``: per slide its lesions' measurements, largest first as in the files (not in ``report.json``:
    the files hold them; ``report.html`` lists them).
    """

    folder: Path | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    iou: dict[str, float] = field(default_factory=dict)
    measures: dict[str, tuple[LesionMeasures, ...]] = field(default_factory=dict)

    @property
    def mean_iou(self) -> float:
        """Mean IoU over the annotated slides (NaN without any)."""
        return float(np.mean(list(self.iou.values()))) if self.iou else math.nan

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values (``report.json``'s ``lesions``)."""
        return {"folder": str(self.folder) if self.folder else None, "slides": len(self.counts),
                "lesions": {c: sum(n.get(c, 0) for n in self.counts.values()) for c in CLASS_COLORS},
                "iou_with_annotations": self.iou,
                "mean_iou": None if math.isnan(self.mean_iou) else self.mean_iou}  # fmt: skip


def write_lesions(
    rows: Sequence[SlideRow], patients: Sequence[PatientRecord], settings: LesionSettings, out_dir: Path
) -> LesionSummary:
    """Write every slide's lesion files and ``summary.csv``; score the annotated slides."""
    if not settings.write or not rows:
        return LesionSummary()
    folder = out_dir / "lesions"
    stage_of = {p.patient: p.stage for p in patients}
    counts, iou, measures, capped = {}, {}, {}, {}
    for row in rows:
        heatmap, _ = load_heatmap(row.heatmap)
        search = find_lesions(heatmap, row.heatmap.mpp, row.heatmap.slide_mpp, settings.threshold,
                              settings.simplify_um, min_area_um2=settings.min_area_um2,
                              max_lesions=settings.max_per_slide)  # fmt: skip
        lesions = search.lesions
        if search.over_limit:
            capped[row.heatmap.name] = search.regions
        properties = _properties(row, stage_of.get(row.patient), settings, search)
        records = write_lesion_files(folder, row.heatmap.name, lesions, properties)
        counts[row.heatmap.name] = {c: sum(lesion.size_class == c for lesion in lesions) for c in CLASS_COLORS}
        measures[row.heatmap.name] = tuple(LesionMeasures.of(lesion) for lesion in lesions)
        if row.annotation is not None:
            score = _annotation_iou(row, records, heatmap.shape)
            if score is not None:
                iou[row.heatmap.name] = score
    if capped:
        worst = max(capped, key=capped.__getitem__)
        log.warning("%d slides have more than %d regions at or above %g (most: %d on %s): only the largest %d of "
                    "each are written. A heatmap this fragmented usually means an undertrained model or a threshold "
                    "too low (lesions.threshold, lesions.min_area_um2, lesions.max_per_slide)", len(capped),
                    settings.max_per_slide, settings.threshold, capped[worst], worst,
                    settings.max_per_slide)  # fmt: skip
    summary = LesionSummary(folder, counts, iou, measures)
    lines = [[name, *(n[c] for c in CLASS_COLORS), "" if (s := iou.get(name)) is None else f"{s:.4f}"]
             for name, n in counts.items()]  # fmt: skip
    write_csv_atomic(folder / "summary.csv", ["slide", *CLASS_COLORS, "iou_with_annotation"], lines)
    log.info("lesions of %d slides -> %s (mean IoU with annotations %.3f over %d slides)", len(counts), folder,
             summary.mean_iou, len(iou))  # fmt: skip
    return summary


def _properties(row: SlideRow, stage: str | None, settings: LesionSettings, search: LesionSearch) -> dict[str, Any]:
    return {
        "slide": row.heatmap.slide, "patient": row.patient, "predicted_label": row.predicted or None,
        "reference_label": row.label, "predicted_patient_stage": stage, "lesions": len(search.lesions),
        "regions_above_threshold": search.regions, "left_out_smaller_than_min_area": search.too_small,
        "left_out_beyond_max_per_slide": search.over_limit, "threshold": settings.threshold,
        "min_area_um2": settings.min_area_um2, "max_per_slide": settings.max_per_slide,
        "simplify_um": settings.simplify_um, "heatmap": str(row.heatmap.heatmap),
        "heatmap_mpp": row.heatmap.mpp, "slide_mpp": row.heatmap.slide_mpp, "coordinates": "level-0 pixels",
    }  # fmt: skip


def _annotation_iou(row: SlideRow, records: Sequence[Annotation], shape_hw: tuple[int, int]) -> float | None:
    """IoU of the written lesions with the annotation's tumour, both at heatmap resolution (None: no tumour)."""
    downsample = row.heatmap.mpp / row.heatmap.slide_mpp
    size_wh = (math.ceil(shape_hw[1] * downsample), math.ceil(shape_hw[0] * downsample))
    try:
        reference = tumour_mask(row.annotation, size_wh, downsample, {**DEFAULT_GROUP_ROLES, **dict(row.group_roles)})
    except AnnotationError as err:
        log.warning("%s: annotation not scored (%s)", row.heatmap.name, err)
        return None
    predicted = rasterize(records, size_wh, downsample)
    h, w = min(reference.shape[0], predicted.shape[0]), min(reference.shape[1], predicted.shape[1])
    reference, predicted = reference[:h, :w], predicted[:h, :w]
    union = np.count_nonzero(reference | predicted)
    if not reference.any():
        return None
    return float(np.count_nonzero(reference & predicted) / union)
