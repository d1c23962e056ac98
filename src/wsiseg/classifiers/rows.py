"""The slide table a staging run classifies: one row per slide with a heatmap, and its CSV files.

A row joins a heatmap with what the cohort says about its slide (patient, label, annotation), is marked
``fit`` or ``test`` (:mod:`wsiseg.classifiers.holdout`), gets its heatmap's features and then the classifier's
label and probabilities (:mod:`wsiseg.classifiers.fitting`). ``features.csv`` and ``predictions.csv`` are the
table as written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from wsiseg.annotations import GroupRole
from wsiseg.atomic import write_csv_atomic
from wsiseg.cohorts import LabelSource, SlideInfo, SlideRecord, Subset, slide_info
from wsiseg.features import HeatmapRecord
from wsiseg.labels import SLIDE_LABELS, SlideLabel

log = logging.getLogger(__name__)

#: ``fit``: the slide classifier may learn from the slide; ``test``: a held-out patient's slide.
Part = Literal["fit", "test"]


@dataclass
class SlideRow:
    """Everything known about one slide with a heatmap, filled in step by step.

    Attributes:
        heatmap: the slide's heatmap.
        patient, dataset, label, annotation, label_source, has_tumour, group_roles: what the cohort says (see
            :class:`~wsiseg.cohorts.SlideInfo`).
        subset: ``training`` or ``testing`` (the challenge's test set, by the cohort or the slide's name).
        part: ``fit`` or ``test`` (a held-out patient, or a slide the classifier did not fit).
        trained_on: whether the U-Net trained (or validated) on the slide's patient, when its split is known.
        features: the heatmap's features by name.
        predicted: the classifier's label.
        oof: the out-of-fold prediction (fitted slides with labels), ``""`` if none.
        proba: the classifier's class probabilities, in :data:`~wsiseg.labels.SLIDE_LABELS` order, if given.
        oof_proba: the out-of-fold class probabilities of a fitted slide, if given.
    """

    heatmap: HeatmapRecord
    patient: str
    dataset: str = ""
    label: SlideLabel | None = None
    annotation: Path | None = None
    label_source: LabelSource = ""
    has_tumour: bool | None = None
    group_roles: tuple[tuple[str, GroupRole], ...] = ()
    subset: Subset = "training"
    part: Part = "fit"
    trained_on: bool = False
    features: dict[str, float] = field(default_factory=dict)
    predicted: str = ""
    oof: str = ""
    proba: np.ndarray | None = None
    oof_proba: np.ndarray | None = None

    @classmethod
    def of(cls, heatmap: HeatmapRecord, info: SlideInfo) -> SlideRow:
        """A heatmap's row, with what the cohort says about its slide."""
        return cls(heatmap, info.patient, info.dataset or "", info.label, info.annotation, info.label_source,
                   info.has_tumour, info.group_roles, info.subset)  # fmt: skip


def slide_rows(
    heatmaps: Sequence[HeatmapRecord], index: Mapping[str, SlideRecord], labels_by_size: bool, cohort: Any = None
) -> list[SlideRow]:
    """Join heatmaps with the cohort's labels, patients and annotations (slides match by stem, any case).

    ``index``: the cohort's slides by lower-case stem (:func:`~wsiseg.cohorts.cohort_index`; empty: no cohort);
    ``labels_by_size``: CAMELYON16 tumour slides are labelled by their lesions' size; ``cohort``: the folder,
    named in the warning about heatmaps without a slide in it.
    """
    rows = [SlideRow.of(h, slide_info(h.slide, h.slide_mpp, index, labels_by_size)) for h in heatmaps]
    unmatched = [h.name for h in heatmaps if h.name.lower() not in index]
    if index and unmatched:
        log.warning("%d of %d heatmaps have no slide in the cohort %s (no label): %s", len(unmatched),
                    len(heatmaps), cohort, ", ".join(unmatched[:5]))  # fmt: skip
    return rows


def write_features(path: Path, rows: Sequence[SlideRow]) -> None:
    """``features.csv``: slide, patient, part (fit / test), label, then every named feature."""
    names = sorted(rows[0].features)
    lines = [
        [r.heatmap.slide, r.patient, r.part, r.label or ""] + [f"{r.features[n]:.6g}" for n in names] for r in rows
    ]
    write_csv_atomic(path, ["slide", "patient", "part", "label", *names], lines)


def write_predictions(path: Path, rows: Sequence[SlideRow]) -> None:
    """``predictions.csv``: per slide its label, prediction, out-of-fold prediction and class probabilities.

    ``p_<label>``: the probabilities of the classifier as used for the submission (in-sample for a slide it was
    fitted on); ``oof_p_<label>``: a fitted slide's out-of-fold ones, which its scores come from.
    """
    header = ["slide", "patient", "part", "label", "label_source", "predicted", "out_of_fold"]
    header += [f"p_{name}" for name in SLIDE_LABELS] + [f"oof_p_{name}" for name in SLIDE_LABELS]
    lines = []
    for r in rows:
        probs = [f"{v:.4f}" for v in r.proba] if r.proba is not None else [""] * len(SLIDE_LABELS)
        oof = [f"{v:.4f}" for v in r.oof_proba] if r.oof_proba is not None else [""] * len(SLIDE_LABELS)
        lines.append([r.heatmap.slide, r.patient, r.part, r.label or "", r.label_source, r.predicted, r.oof, *probs,
                      *oof])  # fmt: skip
    write_csv_atomic(path, header, lines)
