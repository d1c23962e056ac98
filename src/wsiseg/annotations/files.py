"""One reader for every lesion annotation file a cohort may hold: ASAP XML, or GeoJSON exported from QuPath.

Both come back as :class:`~wsiseg.annotations.Annotation` records in level-0 pixels, their group looked up in
one group-to-role mapping (the CAMELYON names, plus whatever the config adds under ``cohorts.group_roles``).
A QuPath object's group is its classification's name (``Unclassified`` when it has none); the holes of a
QuPath polygon are ``exclude`` areas cut out of it, as CAMELYON's ``_2`` / ``normal`` groups are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shapely.geometry import Polygon

from wsiseg.annotations.asap import read_asap_xml, unknown_group
from wsiseg.annotations.geojson import read_geojson
from wsiseg.annotations.records import DEFAULT_GROUP_ROLES, Annotation, GroupRole, lookup_role
from wsiseg.errors import AnnotationError

#: File suffixes :func:`read_annotations` reads (``.json`` only when the file is GeoJSON).
ANNOTATION_SUFFIXES = (".xml", ".geojson", ".json")
#: The group of a QuPath object without a classification.
UNCLASSIFIED = "Unclassified"


def read_annotations(path: str | Path, group_roles: Mapping[str, GroupRole] | None = None) -> list[Annotation]:
    """The area annotations of an ASAP XML (``.xml``) or GeoJSON (``.geojson`` / ``.json``) file.

    Args:
        path: the annotation file.
        group_roles: group name to role (exact, then case-insensitive); default :data:`DEFAULT_GROUP_ROLES`.

    Raises:
        AnnotationError: the file is missing, malformed, of another suffix, or uses a group without a role
            (:class:`~wsiseg.errors.UnknownGroupError`, which names the group).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return read_asap_xml(path, group_roles)
    if suffix in (".geojson", ".json"):
        return _from_geojson(path, DEFAULT_GROUP_ROLES if group_roles is None else group_roles)
    raise AnnotationError(path, f"not an annotation file: expected one of {', '.join(ANNOTATION_SUFFIXES)}")


def _from_geojson(path: Path, roles: Mapping[str, GroupRole]) -> list[Annotation]:
    """QuPath's objects as annotations: each polygon's outline in its class's role, its holes excluded."""
    objects, _ = read_geojson(path)
    annotations: list[Annotation] = []
    for index, item in enumerate(objects):
        group = item.classification or UNCLASSIFIED
        role = lookup_role(group, roles)
        name = item.name or f"Annotation {index}"
        if role is None:
            raise unknown_group(path, name, group, roles)
        parts = list(getattr(item.geometry, "geoms", [item.geometry]))
        for part_index, part in enumerate(parts):
            label = name if len(parts) == 1 else f"{name} part {part_index}"
            annotations += _polygon(part, label, group, role)
    return annotations


def _polygon(polygon: Polygon, name: str, group: str, role: GroupRole) -> list[Annotation]:
    """A polygon's exterior (without the repeated closing vertex) and its holes as ``exclude`` areas."""
    outline = [Annotation(name, group, role, list(polygon.exterior.coords)[:-1])]
    if role != "tumor":
        return outline  # a hole in an exclusion or ignored area changes nothing
    return outline + [
        Annotation(f"{name} hole {i}", group, "exclude", list(ring.coords)[:-1])
        for i, ring in enumerate(polygon.interiors)
    ]
