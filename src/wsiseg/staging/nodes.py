"""Which patients a staging run must stage, why each node it has no heatmap for is missing, and the staging."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from wsiseg.cohorts import Inventory
from wsiseg.features import predict_failures
from wsiseg.labels import PatientRecord, parse_node
from wsiseg.staging.complete import MissingNode, missing_nodes
from wsiseg.staging.rules import stage_complete_patients

log = logging.getLogger(__name__)


def find_missing_nodes(slides: Sequence[str], inventory: Inventory | None, heatmaps: Path) -> list[MissingNode]:
    """The nodes without a heatmap of every patient found, each with the most telling reason known.

    ``slides``: the slides with a heatmap (in ``heatmaps``, ``predict.py``'s folder).

    Patients found: those with a node heatmap, a node slide in the cohort, or a node file the cohort left out.
    Reasons, most telling first: ``predict.py``'s failure, the cohort's reason for leaving the file out, a
    slide of the cohort not predicted (yet), a slide the labels list that is not on disk, no file at all.
    """
    patients = {p for s in slides if (p := _patient(s))}
    reasons: dict[str, str] = {}
    if inventory is not None:
        patients |= {p for r in inventory.records if (p := _patient(r.slide))}
        for e in inventory.excluded:
            if (p := _patient(e.name)) and e.reason != "annotation without slide" and not e.name.endswith(".zip"):
                patients.add(p)
                reasons.setdefault(_stem(e.name), f"{e.name} left out of the cohort: {e.reason} ({e.detail})")
        for r in inventory.records:
            reasons.setdefault(_stem(r.slide), f"{r.path} has no heatmap in {heatmaps}: not predicted (yet)")
    for name, reason in predict_failures(heatmaps).items():
        reasons[_stem(name)] = f"predict.py failed on it: {reason}"
    where = f"the cohort {inventory.roots[0]}" if inventory is not None else f"the heatmaps {heatmaps}"
    default = f"no slide file of this node in {where}"
    return missing_nodes(slides, patients, reasons, default)


def _patient(name: str) -> str | None:
    node = parse_node(Path(name).name.split(".")[0])
    return node[0] if node else None


def _stem(name: str) -> str:
    return Path(name).name.split(".")[0].lower()


def stage_complete(labels: Mapping[str, str]) -> list[PatientRecord]:
    """Stage the CAMELYON17 patients that have all five node slides; warn about the others."""
    complete, partial = stage_complete_patients(labels)  # type: ignore[arg-type]
    if partial:
        log.warning(
            "%d patients lack node slides and are not staged: %s", len(partial), [p.patient for p in partial][:10]
        )
    return complete
