"""Stage 1a: which slides, which split, which patches (the paper's ROI-filtered sampling with oversampling)."""

from wsiseg.sampling.cohort import SlideRecord, read_cohort, select_training_slides
from wsiseg.sampling.lookup import SlideInfo, cohort_index, label_from_annotation, slide_info
from wsiseg.sampling.placement import covering_patches, normal_candidates, oversample
from wsiseg.sampling.sampler import PatchRecord, SlidePlan, draw_patches, plan_slide, plan_slides
from wsiseg.sampling.spec import MAGNIFICATIONS, SamplingSpec, magnification_mpp
from wsiseg.sampling.split import SplitSpec, patient_split, split_from_data_config

__all__ = [
    "MAGNIFICATIONS",
    "PatchRecord",
    "SamplingSpec",
    "SlidePlan",
    "SlideInfo",
    "SlideRecord",
    "SplitSpec",
    "cohort_index",
    "covering_patches",
    "draw_patches",
    "label_from_annotation",
    "magnification_mpp",
    "normal_candidates",
    "oversample",
    "patient_split",
    "plan_slide",
    "plan_slides",
    "read_cohort",
    "select_training_slides",
    "slide_info",
    "split_from_data_config",
]
