"""Between shapely polygons and ASAP annotation records: exteriors in one group, holes in another."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from shapely import union_all
from shapely.geometry import MultiPolygon, Polygon

from wsiseg.annotations.records import Annotation, GroupRole

Area = Polygon | MultiPolygon


def parts(geometry: Area) -> list[Polygon]:
    """The polygons of a Polygon or MultiPolygon."""
    return [geometry] if isinstance(geometry, Polygon) else list(geometry.geoms)


def ring_vertices(ring) -> np.ndarray:
    """A shapely ring's vertices as an (N, 2) array, without the closing repeat of the first."""
    return np.asarray(ring.coords, dtype=np.float64)[:-1]


def polygon_annotations(
    geometry: Area, name: str, group: str, holes_group: str, role: GroupRole = "tumor"
) -> list[Annotation]:
    """ASAP records of a geometry: each part's exterior in ``group``, each hole in ``holes_group`` (cut out).

    ASAP polygons have no holes; like CAMELYON16's ``_2`` group, holes are polygons of a group whose role is
    ``exclude``, so :func:`~wsiseg.annotations.rasterize` draws the same area as the geometry.

    Args:
        geometry: a Polygon or MultiPolygon (level-0 pixels).
        name: the base name; parts and holes are numbered after it when there are several.
        group: the exteriors' group.
        holes_group: the holes' group.
        role: the exteriors' role (the holes' is ``exclude``).
    """
    out: list[Annotation] = []
    polygons = parts(geometry)
    for i, polygon in enumerate(polygons):
        part = name if len(polygons) == 1 else f"{name}.{i + 1}"
        out.append(Annotation(part, group, role, ring_vertices(polygon.exterior)))
        for j, hole in enumerate(polygon.interiors):
            out.append(Annotation(f"{part} hole {j + 1}", holes_group, "exclude", ring_vertices(hole)))
    return out


def annotations_area(annotations: Iterable[Annotation]) -> Area | Polygon:
    """The area the records draw: the union of the tumour polygons minus the exclude polygons (may be empty)."""
    annotations = list(annotations)
    tumour = [Polygon(a.vertices_xy).buffer(0) for a in annotations if a.role == "tumor"]
    cut = [Polygon(a.vertices_xy).buffer(0) for a in annotations if a.role == "exclude"]
    return union_all(tumour).difference(union_all(cut)) if tumour else Polygon()
