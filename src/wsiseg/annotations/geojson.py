"""QuPath GeoJSON: annotations as a ``FeatureCollection`` of polygons in level-0 pixels, read and written.

QuPath imports (File > Import objects, or drag and drop) and exports this layout: each ``Feature`` has a
``Polygon`` or ``MultiPolygon`` geometry in the image's level-0 pixel coordinates, and ``properties`` with
``objectType: "annotation"``, a ``classification`` (``name`` and ``color`` as ``[r, g, b]``), an optional
``name`` and a ``measurements`` mapping of name to number, which QuPath shows in its measurement table.
Rings are closed (first vertex repeated last) and follow RFC 7946's right-hand rule (exteriors
counter-clockwise, holes clockwise, in the coordinates' own axes). Geometry goes through shapely: polygons
are checked for validity on the way in and out, holes are interior rings. File-level information (the
slide, its predicted label, the patient's stage) is a ``properties`` member of the ``FeatureCollection``,
which GeoJSON readers keep as a foreign member and QuPath ignores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from wsiseg.atomic import write_text_atomic
from wsiseg.errors import AnnotationError

Area = Polygon | MultiPolygon


@dataclass(frozen=True, eq=False)
class GeoAnnotation:
    """One area annotation as QuPath holds it.

    Attributes:
        geometry: a valid, non-empty shapely ``Polygon`` or ``MultiPolygon`` in level-0 pixels.
        classification: the class name (QuPath's ``PathClass``), e.g. ``micro``.
        color: the class colour, ``(r, g, b)`` 0-255.
        name: the object's name shown by QuPath.
        measurements: name -> finite number (QuPath's measurement list).
    """

    geometry: Area
    classification: str
    color: tuple[int, int, int] = (255, 0, 0)
    name: str = ""
    measurements: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Polygon | MultiPolygon) or self.geometry.is_empty:
            raise ValueError(f"annotation {self.name!r}: geometry must be a non-empty Polygon or MultiPolygon")
        if not self.geometry.is_valid:
            reason = shapely.is_valid_reason(self.geometry)
            raise ValueError(f"annotation {self.name!r}: invalid geometry ({reason})")
        if len(self.color) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in self.color):
            raise ValueError(f"annotation {self.name!r}: color must be three integers 0-255, got {self.color!r}")
        bad = [k for k, v in self.measurements.items() if not math.isfinite(float(v))]
        if bad:
            raise ValueError(f"annotation {self.name!r}: measurements {bad} are not finite numbers")


def right_hand(geometry: Area) -> Area:
    """The geometry with RFC 7946 ring orientation: exteriors counter-clockwise, holes clockwise."""
    if isinstance(geometry, Polygon):
        return orient(geometry, sign=1.0)
    return MultiPolygon([orient(part, sign=1.0) for part in geometry.geoms])


def feature(annotation: GeoAnnotation) -> dict[str, Any]:
    """The GeoJSON ``Feature`` of an annotation, in QuPath's layout."""
    properties: dict[str, Any] = {
        "objectType": "annotation",
        "classification": {"name": annotation.classification, "color": list(annotation.color)},
        "isLocked": False,
    }
    if annotation.name:
        properties["name"] = annotation.name
    if annotation.measurements:
        properties["measurements"] = {k: float(v) for k, v in annotation.measurements.items()}
    return {"type": "Feature", "geometry": mapping(right_hand(annotation.geometry)), "properties": properties}


def write_geojson(
    path: str | Path, annotations: Iterable[GeoAnnotation], properties: Mapping[str, Any] | None = None
) -> Path:
    """Write annotations as a QuPath GeoJSON ``FeatureCollection``, atomically.

    Args:
        path: the ``.geojson`` file (its folder is created if missing).
        annotations: the annotations, in this order.
        properties: file-level information, a ``properties`` member of the collection (JSON values).
    """
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": [feature(a) for a in annotations]}
    if properties:
        collection["properties"] = dict(properties)
    return write_text_atomic(path, json.dumps(collection, indent=1, allow_nan=False))


def read_geojson(path: str | Path) -> tuple[list[GeoAnnotation], dict[str, Any]]:
    """The area annotations of a GeoJSON file (QuPath's export, or :func:`write_geojson`'s) and its properties.

    Features without an area geometry (points, lines) are skipped; a ``Feature`` may also be the whole file.

    Raises:
        AnnotationError: the file is missing, not JSON, not GeoJSON, or holds an invalid polygon.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise AnnotationError(path, "GeoJSON file not found; check the path") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AnnotationError(path, f"not a readable JSON file ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        raise AnnotationError(path, "not GeoJSON: expected a FeatureCollection or a Feature at the top level")
    features = data.get("features", []) if data["type"] == "FeatureCollection" else [data]
    annotations = []
    for index, item in enumerate(features):
        try:
            geometry = shape(item["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as err:
            raise AnnotationError(path, f"feature {index} has no readable geometry ({err})") from err
        if not isinstance(geometry, Polygon | MultiPolygon):
            continue
        props = item.get("properties") or {}
        classification = props.get("classification") or {}
        color = tuple(int(c) for c in classification.get("color", (255, 0, 0)))
        name = str(props.get("name", ""))
        measurements = props.get("measurements") or {}
        if isinstance(measurements, list):  # QuPath 0.2 wrote [{"name": ..., "value": ...}, ...]
            measurements = {m["name"]: m["value"] for m in measurements if isinstance(m, dict) and "name" in m}
        try:
            annotations.append(GeoAnnotation(geometry, str(classification.get("name", "")), color, name,
                                             {str(k): float(v) for k, v in dict(measurements).items()}))  # fmt: skip
        except (TypeError, ValueError) as err:
            raise AnnotationError(path, f"feature {index}: {err}") from err
    return annotations, dict(data.get("properties") or {})
