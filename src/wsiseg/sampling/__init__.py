"""Stage 1a: which slides train, which split, which patches (the paper's ROI-filtered sampling with oversampling)."""

from wsiseg.sampling.placement import covering_patches, normal_candidates, oversample
from wsiseg.sampling.sampler import PatchRecord, SlidePlan, draw_patches, plan_slide, plan_slides
from wsiseg.sampling.selection import select_training_slides, training_selection
from wsiseg.sampling.spec import MAGNIFICATIONS, SamplingSpec, magnification_mpp
from wsiseg.sampling.split import SplitSpec, patient_split, split_from_data_config

__all__ = [
    "MAGNIFICATIONS",
    "PatchRecord",
    "SamplingSpec",
    "SlidePlan",
    "SplitSpec",
    "covering_patches",
    "draw_patches",
    "magnification_mpp",
    "normal_candidates",
    "oversample",
    "patient_split",
    "plan_slide",
    "plan_slides",
    "select_training_slides",
    "split_from_data_config",
    "training_selection",
]
