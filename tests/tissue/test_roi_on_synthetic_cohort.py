"""The tissue ROI recovers the synthetic cohort's tissue sections (ground truth from the generator)."""

import numpy as np
import pytest

from wsiseg.annotations import polygon_mask
from wsiseg.slide import open_slide
from wsiseg.synth import plan_cohort, plan_scene
from wsiseg.tissue import save_roi_figure, tissue_roi

THUMB_MPP = 8.0


@pytest.fixture(scope="module")
def jobs(tiny_spec):
    return plan_cohort(tiny_spec, seed=0)[1]


def test_roi_iou_at_least_0_9_on_every_tiny_slide(tiny_cohort, tiny_spec, jobs):
    ious = []
    for job in jobs:
        scene = plan_scene(job.name, job.label, tiny_spec, job.centre, job.seed)
        with open_slide(tiny_cohort / job.tif) as slide:
            roi = tissue_roi(slide, mpp=THUMB_MPP)
        truth = polygon_mask(scene.tissue_xy, roi.mask.shape, downsample=THUMB_MPP / scene.mpp)
        ious.append((roi.mask & truth).sum() / (roi.mask | truth).sum())
    assert min(ious) >= 0.9, ious
    assert np.mean(ious) >= 0.95


def test_pen_marks_stay_out_of_the_roi(tiny_cohort, tiny_spec, jobs):
    """Pen strokes drawn on the glass are not tissue (checked where the stroke is off the sections)."""
    checked = 0
    for job in jobs:
        scene = plan_scene(job.name, job.label, tiny_spec, job.centre, job.seed)
        for stroke in scene.pen_strokes:
            with open_slide(tiny_cohort / job.tif) as slide:
                roi = tissue_roi(slide, mpp=THUMB_MPP)
            points = stroke.points_xy
            sections = polygon_mask(scene.tissue_xy, roi.mask.shape, downsample=THUMB_MPP / scene.mpp)
            scale = scene.mpp / THUMB_MPP
            rc = np.clip((points[:, ::-1] * scale).astype(int), 0, np.array(roi.mask.shape) - 1)
            off_tissue = ~sections[rc[:, 0], rc[:, 1]]
            assert not roi.mask[rc[off_tissue, 0], rc[off_tissue, 1]].any()
            checked += int(off_tissue.sum())
    assert checked > 0


def test_roi_figure_of_a_synthetic_slide(tiny_cohort, tmp_path):
    with open_slide(tiny_cohort / "centre_1/patient_001_node_1.tif") as slide:
        thumb = slide.thumbnail(THUMB_MPP)
        roi = tissue_roi(slide, mpp=THUMB_MPP)
    out = save_roi_figure(tmp_path / "roi.png", thumb, roi)
    assert out.stat().st_size > 1000
