"""Reading and writing ASAP XML annotation files (the CAMELYON16/17 lesion annotation format).

Layout: ``ASAP_Annotations/Annotations/Annotation[@Name, @Type, @PartOfGroup, @Color]/Coordinates/
Coordinate[@Order, @X, @Y]`` plus ``AnnotationGroups/Group[@Name]``; coordinates are level-0 pixels.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # writing only; reading goes through defusedxml
from collections.abc import Iterable, Mapping
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET
import numpy as np

from wsiseg.annotations.records import AREA_KINDS, DEFAULT_GROUP_ROLES, Annotation, GroupRole, lookup_role
from wsiseg.atomic import atomic_path
from wsiseg.errors import AnnotationError, UnknownGroupError

POINT_KINDS = ("Dot", "PointSet", "Measurement")
"""ASAP types without an area; the reader skips them."""

ROLE_COLORS: Mapping[GroupRole, str] = {"tumor": "#F4FA58", "exclude": "#64FE2E", "ignore": "#A4A4A4"}
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def read_asap_xml(path: str | Path, group_roles: Mapping[str, GroupRole] | None = None) -> list[Annotation]:
    """Reads the area annotations of an ASAP XML file.

    Polygon, Spline (read as the polygon of its points) and Rectangle annotations are returned with their
    vertices sorted by ``Order``. Dot, PointSet and Measurement annotations enclose no area and are skipped
    before their group is looked up. Entity declarations are refused (defusedxml), never expanded.

    Args:
        path: The ``.xml`` file.
        group_roles: Group name to role, matched exactly first, then case-insensitively;
            defaults to ``DEFAULT_GROUP_ROLES`` (the CAMELYON16/17 group names).

    Returns:
        The annotations in file order.

    Raises:
        AnnotationError: The file is missing, not well-formed XML, declares entities, is not an
            ``ASAP_Annotations`` document, uses an unmapped group or an unknown type, or has a polygon with
            fewer than 3 vertices or a non-numeric coordinate.
    """
    path = Path(path)
    roles = DEFAULT_GROUP_ROLES if group_roles is None else group_roles
    root = _parse_root(path)
    annotations = []
    for index, element in enumerate(root.findall("Annotations/Annotation")):
        name = element.get("Name", f"Annotation {index}")
        kind = element.get("Type", "Polygon")
        if kind in POINT_KINDS:
            continue
        if kind not in AREA_KINDS:
            raise AnnotationError(
                path,
                f"annotation {name!r} has Type {kind!r}; expected one of {AREA_KINDS + POINT_KINDS}",
            )
        group = element.get("PartOfGroup", "None")
        role = lookup_role(group, roles)
        if role is None:
            raise unknown_group(path, name, group, roles)
        vertices_xy = _read_vertices(path, name, element)
        annotations.append(Annotation(name=name, group=group, role=role, vertices_xy=vertices_xy, kind=kind))
    return annotations


def unknown_group(path: Path, name: str, group: str, roles: Mapping[str, GroupRole]) -> UnknownGroupError:
    """The error of an annotation whose group has no role, naming the group and the two ways to give it one."""
    return UnknownGroupError(
        path,
        group,
        f"annotation {name!r} is in group {group!r}, which has no role; give it one in the config "
        f"(cohorts.group_roles={{{group}: tumor}}, or exclude / ignore) or pass group_roles={{{group!r}: 'tumor' | "
        f"'exclude' | 'ignore', ...}} to read_annotations (groups known now: {sorted(roles)})",
    )


def _parse_root(path: Path) -> ET.Element:
    """Parses the file safely and checks its root element."""
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found (or not a file); check the path")
    try:
        root = SafeET.parse(path).getroot()
    except defusedxml.DefusedXmlException as error:
        raise AnnotationError(
            path, f"refused unsafe XML ({type(error).__name__}); ASAP files never declare entities"
        ) from error
    except ET.ParseError as error:
        raise AnnotationError(path, f"not well-formed XML ({error}); re-export it from ASAP") from error
    except OSError as error:
        raise AnnotationError(path, f"cannot read the file ({error}); check its permissions") from error
    if root.tag != "ASAP_Annotations":
        raise AnnotationError(
            path,
            f"root element is <{root.tag}>, expected <ASAP_Annotations>; is this an ASAP annotation file?",
        )
    return root


def _read_vertices(path: Path, name: str, element: ET.Element) -> np.ndarray:
    """Returns one annotation's (N, 2) vertices sorted by their ``Order`` attribute."""
    rows = []
    for coordinate in element.findall("Coordinates/Coordinate"):
        try:
            order = int(coordinate.get("Order", ""))
            x, y = float(coordinate.get("X", "")), float(coordinate.get("Y", ""))
        except ValueError as error:
            raise AnnotationError(
                path,
                f"annotation {name!r} has a Coordinate with a missing or non-numeric Order/X/Y: "
                f"{dict(coordinate.attrib)}; fix or remove it",
            ) from error
        if not (np.isfinite(x) and np.isfinite(y)):
            raise AnnotationError(path, f"annotation {name!r} has a non-finite coordinate ({x}, {y}); fix it")
        rows.append((order, x, y))
    if len(rows) < 3:
        raise AnnotationError(
            path,
            f"annotation {name!r} has {len(rows)} vertices, a polygon needs at least 3; fix or delete it",
        )
    orders = [row[0] for row in rows]
    if len(set(orders)) != len(orders):
        raise AnnotationError(path, f"annotation {name!r} repeats a Coordinate Order; the vertex order is ambiguous")
    rows.sort(key=lambda row: row[0])
    return np.array([row[1:] for row in rows], dtype=np.float64)  # (N, 2)


def write_asap_xml(
    path: str | Path, annotations: Iterable[Annotation], group_colors: Mapping[str, str] | None = None
) -> Path:
    """Writes annotations as an ASAP XML file, atomically (a temporary file in the same folder, then replace).

    Every group used gets a ``<Group>`` entry; an annotation takes its group's colour.

    Args:
        path: The ``.xml`` file to write; its folder is created if missing.
        annotations: The annotations, written in this order with vertices in their array order.
        group_colors: Group name to ``#RRGGBB`` colour; groups not in it are coloured by role.

    Returns:
        The path written.

    Raises:
        ValueError: A colour is not of the form ``#RRGGBB``.
    """
    path = Path(path)
    tree = ET.ElementTree(_build_tree(list(annotations), group_colors or {}))
    ET.indent(tree, space="\t")
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        tree.write(stream, encoding="utf-8", xml_declaration=True)
    return path


def _build_tree(annotations: list[Annotation], group_colors: Mapping[str, str]) -> ET.Element:
    """Builds the ``ASAP_Annotations`` element."""
    colors: dict[str, str] = {}
    for annotation in annotations:
        if annotation.group not in colors:
            colors[annotation.group] = group_colors.get(annotation.group, ROLE_COLORS[annotation.role])
    for group, color in colors.items():
        if not _COLOR.match(color):
            raise ValueError(f"group {group!r}: colour {color!r} is not of the form #RRGGBB")
    root = ET.Element("ASAP_Annotations")
    container = ET.SubElement(root, "Annotations")
    for annotation in annotations:
        attributes = {
            "Name": annotation.name,
            "Type": annotation.kind,
            "PartOfGroup": annotation.group,
            "Color": colors[annotation.group],
        }
        coordinates = ET.SubElement(ET.SubElement(container, "Annotation", attributes), "Coordinates")
        for order, (x, y) in enumerate(annotation.vertices_xy):
            ET.SubElement(coordinates, "Coordinate", {"Order": str(order), "X": _number(x), "Y": _number(y)})
    groups = ET.SubElement(root, "AnnotationGroups")
    for group, color in colors.items():
        element = ET.SubElement(groups, "Group", {"Name": group, "PartOfGroup": "None", "Color": color})
        ET.SubElement(element, "Attributes")
    return root


def _number(value: float) -> str:
    """Formats a coordinate without exponent, with the fewest digits that read back exactly."""
    return np.format_float_positional(float(value), trim="-")
