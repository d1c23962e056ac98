"""Small ASAP XML files and shapes for the annotation tests."""

from __future__ import annotations

from collections.abc import Sequence

Spec = tuple[str, str, str, Sequence[tuple[float, float]]]  # (name, Type, PartOfGroup, vertices_xy)


def asap_xml(specs: Sequence[Spec], orders: Sequence[Sequence[int]] | None = None) -> str:
    """ASAP XML text for annotations; orders[i] gives the Order attribute of each vertex of annotation i."""
    lines = ['<?xml version="1.0"?>', "<ASAP_Annotations>", "\t<Annotations>"]
    for index, (name, kind, group, vertices) in enumerate(specs):
        lines.append(f'\t\t<Annotation Name="{name}" Type="{kind}" PartOfGroup="{group}" Color="#F4FA58">')
        lines.append("\t\t\t<Coordinates>")
        vertex_orders = orders[index] if orders else range(len(vertices))
        for order, (x, y) in zip(vertex_orders, vertices, strict=True):
            lines.append(f'\t\t\t\t<Coordinate Order="{order}" X="{x}" Y="{y}" />')
        lines += ["\t\t\t</Coordinates>", "\t\t</Annotation>"]
    lines += ["\t</Annotations>", "\t<AnnotationGroups>"]
    for group in dict.fromkeys(spec[2] for spec in specs):
        lines.append(f'\t\t<Group Name="{group}" PartOfGroup="None" Color="#FF0000"><Attributes /></Group>')
    lines += ["\t</AnnotationGroups>", "</ASAP_Annotations>", ""]
    return "\n".join(lines)


def square(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """The four corners of an axis-aligned rectangle, clockwise on screen (y down)."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
