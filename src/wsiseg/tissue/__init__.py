"""Stage 1a: the tissue region of interest of a slide, by Otsu's threshold and contours (paper 3.1, Fig. 2).

``detect_tissue`` works on a thumbnail array; ``tissue_roi`` reads the thumbnail from a slide. The result,
a :class:`TissueROI`, answers which level-0 points and boxes are tissue, for the patch samplers.
"""

from __future__ import annotations

from wsiseg.tissue.figure import render_roi_figure, save_roi_figure
from wsiseg.tissue.params import DEFAULT_PARAMS, TissueParams
from wsiseg.tissue.roi import SlideLike, TissueROI, detect_tissue, tissue_roi

__all__ = [
    "DEFAULT_PARAMS",
    "SlideLike",
    "TissueParams",
    "TissueROI",
    "detect_tissue",
    "render_roi_figure",
    "save_roi_figure",
    "tissue_roi",
]
