"""The annotation record and the roles that annotation groups play in a tumour mask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

GroupRole = Literal["tumor", "exclude", "ignore"]
"""What an annotation group means for the tumour mask: filled, cut out of it, or skipped."""

AreaKind = Literal["Polygon", "Spline", "Rectangle"]
"""ASAP annotation types that enclose an area (a spline is treated as the polygon of its control points)."""

GROUP_ROLES: tuple[GroupRole, ...] = get_args(GroupRole)
AREA_KINDS: tuple[AreaKind, ...] = get_args(AreaKind)

DEFAULT_GROUP_ROLES: Mapping[str, GroupRole] = MappingProxyType(
    {
        # CAMELYON16: _0 and _1 are tumour, _2 marks non-tumour areas cut out of them.
        "_0": "tumor",
        "_1": "tumor",
        "_2": "exclude",
        # CAMELYON17: metastases are tumour, normal marks cut-outs; some copies say Tumor / Exclusion.
        "metastases": "tumor",
        "Tumor": "tumor",
        "tumor": "tumor",
        "normal": "exclude",
        "Exclusion": "exclude",
        # QuPath's class for areas to leave out.
        "Ignore*": "ignore",
        # wsiseg's predicted lesions (stage.py): one group per size class, holes cut out of them.
        "itc": "tumor",
        "micro": "tumor",
        "macro": "tumor",
        "holes": "exclude",
    }
)
"""CAMELYON16/17 group names and their roles (looked up exactly, then case-insensitively)."""


@dataclass(frozen=True, eq=False)
class Annotation:
    """One closed area annotation in level-0 slide coordinates.

    Records compare by identity (``eq=False``): compare ``vertices_xy`` with ``np.allclose`` instead.

    Attributes:
        name: The annotation's name (ASAP ``Name``).
        group: The group it belongs to (ASAP ``PartOfGroup``).
        role: What the group means for the tumour mask.
        vertices_xy: (N, 2) float64 read-only array of (x, y) level-0 pixels, N >= 3, in drawing order;
            the polygon is implicitly closed (the last vertex joins the first).
        kind: The ASAP ``Type`` it was drawn as.

    Raises:
        ValueError: ``vertices_xy`` is not a finite (N, 2) array with N >= 3, or role / kind is unknown.
    """

    name: str
    group: str
    role: GroupRole
    vertices_xy: np.ndarray
    kind: AreaKind = "Polygon"

    def __post_init__(self) -> None:
        if self.role not in GROUP_ROLES:
            raise ValueError(f"annotation {self.name!r}: role {self.role!r} is not one of {GROUP_ROLES}")
        if self.kind not in AREA_KINDS:
            raise ValueError(f"annotation {self.name!r}: kind {self.kind!r} is not one of {AREA_KINDS}")
        vertices = np.array(self.vertices_xy, dtype=np.float64)  # (N, 2), always a private copy
        if vertices.ndim != 2 or vertices.shape[1] != 2 or vertices.shape[0] < 3:
            raise ValueError(f"annotation {self.name!r}: vertices_xy must have shape (N >= 3, 2), got {vertices.shape}")
        if not np.isfinite(vertices).all():
            raise ValueError(f"annotation {self.name!r}: vertices_xy contains NaN or infinite values")
        vertices.setflags(write=False)
        object.__setattr__(self, "vertices_xy", vertices)


def lookup_role(group: str, group_roles: Mapping[str, GroupRole]) -> GroupRole | None:
    """Finds a group's role: an exact match first, then a case-insensitive one.

    Args:
        group: The group name as written in the annotation file.
        group_roles: Group name to role.

    Returns:
        The role, or None when the group is not in ``group_roles`` under any capitalisation.
    """
    if group in group_roles:
        return group_roles[group]
    folded = group.casefold()
    for name, role in group_roles.items():
        if name.casefold() == folded:
            return role
    return None
