"""Patient-level pN staging by the simplified CAMELYON17 rules (stage 5 of the pipeline; no training).

Every patient found is staged from its five nodes' labels; a node without a heatmap is named with its reason
(:mod:`~wsiseg.staging.nodes`) and stops the run or counts negative (:mod:`~wsiseg.staging.complete`).
"""

from wsiseg.staging.complete import MissingNode, MissingNodes, MissingNodesError, fill_missing, missing_nodes
from wsiseg.staging.nodes import find_missing_nodes, stage_complete
from wsiseg.staging.rules import pn_stage, stage_complete_patients, stage_patients

__all__ = [
    "MissingNode",
    "MissingNodes",
    "MissingNodesError",
    "fill_missing",
    "find_missing_nodes",
    "missing_nodes",
    "pn_stage",
    "stage_complete",
    "stage_complete_patients",
    "stage_patients",
]
