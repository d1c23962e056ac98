"""A staging run's pictures besides its plots: a gallery of heatmap overlays and the tissue ROI of one slide."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from wsiseg.classifiers import SlideRow
from wsiseg.evaluation.gallery import save_gallery
from wsiseg.labels import SLIDE_LABELS
from wsiseg.slide import open_slide
from wsiseg.tissue import DEFAULT_PARAMS, TissueParams, detect_tissue, save_roi_figure

log = logging.getLogger(__name__)


def save_pictures(
    rows: Sequence[SlideRow], out: Path, per_label: int = 3, roi_figure: bool = True,
    tissue: TissueParams = DEFAULT_PARAMS,
) -> dict[str, str]:  # fmt: skip
    """The gallery of overlays (``per_label`` slides per reference label) and the tissue ROI figure of one slide.

    ``tissue``: the detector settings of the ROI figure (the run's ``conf/tissue`` node, as in training and
    prediction).
    """
    made: dict[str, str] = {}
    if per_label > 0:
        gallery = {
            label: [(r.heatmap.overlay, f"{r.heatmap.name}\npredicted {r.predicted}")
                    for r in rows if r.label == label and r.heatmap.overlay and r.heatmap.overlay.is_file()][:per_label]
            for label in SLIDE_LABELS
        }  # fmt: skip
        if any(gallery.values()):
            made["gallery"] = str(save_gallery(out / "gallery.png", gallery))
    if roi_figure:
        order = sorted(rows, key=lambda r: SLIDE_LABELS.index(r.label) if r.label else -1, reverse=True)
        for r in order:
            if r.heatmap.slide_path.is_file():
                try:
                    with open_slide(r.heatmap.slide_path) as slide:
                        thumbnail = slide.thumbnail(tissue.thumbnail_mpp)
                        roi = detect_tissue(thumbnail, tissue.thumbnail_mpp, tissue, slide_mpp=slide.mpp)
                    made["roi"] = str(save_roi_figure(out / f"roi_{r.heatmap.name}.png", thumbnail, roi))
                except (OSError, ValueError) as err:
                    log.warning("no ROI figure for %s: %s", r.heatmap.slide_path, err)
                break
    return made
