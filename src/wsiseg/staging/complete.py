"""Complete submissions: every patient found is staged, and each node a patient lacks is named with its reason.

A missing node either stops the run or counts as negative, as the ``missing_nodes`` setting says (the report
then lists every node counted so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from wsiseg.errors import WsisegError
from wsiseg.labels import NODES_PER_PATIENT, SlideLabel, node_slide, parse_node

#: What a node without a prediction does: stop the run (``fail``), or count as a ``negative`` node.
MissingNodes = Literal["fail", "negative"]


class MissingNodesError(WsisegError):
    """Patients lack node predictions, so no complete submission can be written; ``missing`` names them."""

    def __init__(self, missing: list[MissingNode], advice: str) -> None:
        self.missing = missing
        patients = sorted({m.patient for m in missing})
        lines = [f"  {m.patient} node {m.node}: {m.reason}" for m in missing[:20]]
        more = [f"  ... {len(missing) - 20} more nodes"] if len(missing) > 20 else []
        super().__init__("\n".join([
            f"{len(patients)} patients lack {len(missing)} node slides, so no submission was written (the "
            "challenge scores every patient's five nodes):", *lines, *more, advice,
        ]))  # fmt: skip


@dataclass(frozen=True)
class MissingNode:
    """A node of a patient without a slide prediction, and why it has none."""

    patient: str
    node: int
    reason: str

    @property
    def slide(self) -> str:
        """The node's name in the submission (``patient_004_node_4.tif``)."""
        return node_slide(self.patient, self.node)

    def as_dict(self, counted_as: str | None = None) -> dict[str, object]:
        """JSON-ready values (with what the node was counted as, when it was)."""
        return {"patient": self.patient, "node": self.node, "slide": self.slide, "reason": self.reason,
                "counted_as": counted_as}  # fmt: skip


def missing_nodes(
    predicted: Iterable[str], patients: Iterable[str], reasons: Mapping[str, str], default: str
) -> list[MissingNode]:
    """Nodes 0-4 of each of ``patients`` that ``predicted`` lacks, sorted, each with its reason.

    Args:
        predicted: the slides with a prediction (node names with any extension; other names are ignored).
        patients: every patient that must be staged (``patient_XXX``).
        reasons: node stem (``patient_004_node_4``, lower case) -> why it has no prediction.
        default: the reason of a node ``reasons`` does not know.
    """
    have = {parsed for name in predicted if (parsed := parse_node(name))}
    return [
        MissingNode(p, n, reasons.get(f"{p}_node_{n}", default))
        for p in sorted(set(patients)) for n in range(NODES_PER_PATIENT) if (p, n) not in have
    ]  # fmt: skip


def fill_missing(missing: list[MissingNode], policy: MissingNodes, advice: str = "") -> dict[str, SlideLabel]:
    """The label each missing node counts as: ``negative`` (``policy="negative"``), by its submission name.

    Raises:
        MissingNodesError: ``policy="fail"`` and a node is missing (``advice`` ends the message).
        ValueError: an unknown policy.
    """
    policy = str(getattr(policy, "value", policy))  # type: ignore[assignment] - a typed config hands a str enum
    if policy not in ("fail", "negative"):
        raise ValueError(f"missing_nodes must be fail or negative, got {policy!r}")
    if missing and policy == "fail":
        raise MissingNodesError(missing, advice)
    return {m.slide: "negative" for m in missing}
