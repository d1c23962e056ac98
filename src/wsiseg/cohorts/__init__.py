"""Stage 1, cohorts: which slides a downloaded folder holds, what is known of them, and what is left out.

Found by the challenges' file names, not by one folder layout: CAMELYON17 (:mod:`~wsiseg.cohorts.camelyon17`),
CAMELYON16 (:mod:`~wsiseg.cohorts.camelyon16`), the synthetic cohort's manifest (:mod:`~wsiseg.cohorts.manifest`)
and a plain folder with a labels CSV (:mod:`~wsiseg.cohorts.folder`). :func:`read_inventory` reads one or
several folders into an :class:`Inventory`; ``python -m wsiseg.cohorts <folder>`` prints it.
"""

from wsiseg.cohorts.inventory import Inventory
from wsiseg.cohorts.lookup import LabelSource, SlideInfo, cohort_index, label_from_annotation, slide_info
from wsiseg.cohorts.names import SLIDE_SUFFIXES, SlideName, parse_slide_name
from wsiseg.cohorts.options import CohortOptions
from wsiseg.cohorts.read import read_inventory
from wsiseg.cohorts.records import BAD_DATA, REASONS, Dataset, Excluded, Reason, SlideRecord, Subset

__all__ = [
    "BAD_DATA",
    "REASONS",
    "SLIDE_SUFFIXES",
    "CohortOptions",
    "Dataset",
    "Excluded",
    "Inventory",
    "LabelSource",
    "Reason",
    "SlideInfo",
    "SlideName",
    "SlideRecord",
    "Subset",
    "cohort_index",
    "label_from_annotation",
    "parse_slide_name",
    "read_cohort",
    "read_inventory",
    "slide_info",
]


def read_cohort(root, options: CohortOptions | None = None) -> list[SlideRecord]:
    """The slides of a cohort folder (its inventory's records, slides not opened), sorted by dataset and name."""
    return list(read_inventory(root, options, check_slides=False).records)
