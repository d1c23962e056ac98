"""Patient-level pN staging by the simplified CAMELYON17 rules (stage 5 of the pipeline; no training)."""

from wsiseg.staging.complete import MissingNode, MissingNodes, MissingNodesError, fill_missing, missing_nodes
from wsiseg.staging.rules import pn_stage, stage_complete_patients, stage_patients

__all__ = [
    "MissingNode",
    "MissingNodes",
    "MissingNodesError",
    "fill_missing",
    "missing_nodes",
    "pn_stage",
    "stage_complete_patients",
    "stage_patients",
]
