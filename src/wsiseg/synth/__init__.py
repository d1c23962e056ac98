"""The embedded default: a synthetic cohort laid out like CAMELYON17 (and CAMELYON16), with H&E-like slides.

Slides are drawn from physical models (nuclei sized in micrometres, lesions in millimetres, Beer-Lambert
staining per centre) so every stage of the pipeline runs, and is tested, without downloading real data.
"""

from wsiseg.synth.cohort import generate_cohort, node_labels, plan_cohort, render_slide, stage_quota
from wsiseg.synth.render import RenderedRegion, render_region, render_strip
from wsiseg.synth.scene import Lesion, SlideScene, plan_scene
from wsiseg.synth.spec import CAMELYON17_CENTRES, CAMELYON17_STAGE_COUNTS, Centre, CohortSpec

__all__ = [
    "CAMELYON17_CENTRES",
    "CAMELYON17_STAGE_COUNTS",
    "Centre",
    "CohortSpec",
    "Lesion",
    "RenderedRegion",
    "SlideScene",
    "generate_cohort",
    "node_labels",
    "plan_cohort",
    "plan_scene",
    "render_region",
    "render_slide",
    "render_strip",
    "stage_quota",
]
