"""What the ``stage.py`` task knows and reports: one row per slide, and the run's report record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from wsiseg.features import HeatmapRecord
from wsiseg.labels import SlideLabel
from wsiseg.sampling import SlideInfo
from wsiseg.sampling.lookup import LabelSource

#: ``fit``: the slide classifier may learn from the slide; ``test``: a held-out patient's slide.
Part = Literal["fit", "test"]


@dataclass
class SlideRow:
    """Everything known about one slide with a heatmap, filled in step by step.

    Attributes:
        heatmap: the slide's heatmap.
        patient, dataset, label, annotation, label_source: what the cohort says (see
            :class:`~wsiseg.sampling.SlideInfo`).
        part: ``fit`` or ``test`` (a held-out patient).
        features: the heatmap's features by name.
        predicted: the classifier's label.
        oof: the out-of-fold prediction (fitted slides with labels), ``""`` if none.
        proba: the classifier's class probabilities, in :data:`~wsiseg.labels.SLIDE_LABELS` order, if given.
    """

    heatmap: HeatmapRecord
    patient: str
    dataset: str = ""
    label: SlideLabel | None = None
    annotation: Path | None = None
    label_source: LabelSource = ""
    part: Part = "fit"
    features: dict[str, float] = field(default_factory=dict)
    predicted: str = ""
    oof: str = ""
    proba: np.ndarray | None = None

    @classmethod
    def of(cls, heatmap: HeatmapRecord, info: SlideInfo) -> SlideRow:
        """A heatmap's row, with what the cohort says about its slide."""
        return cls(heatmap, info.patient, info.dataset or "", info.label, info.annotation, info.label_source)
