"""QuPath GeoJSON: the layout QuPath reads, RFC 7946 rings, holes, and a round trip through the file."""

import json

import pytest
from shapely.geometry import MultiPolygon, Polygon

from wsiseg.annotations.geojson import GeoAnnotation, read_geojson, write_geojson
from wsiseg.errors import AnnotationError

# drawn clockwise in x-right / y-down pixel coordinates, with a hole drawn counter-clockwise: the writer re-orients
SQUARE_WITH_HOLE = Polygon([(0, 0), (0, 10), (10, 10), (10, 0)], [[(3, 3), (6, 3), (6, 6), (3, 6)]])
TWO_PARTS = MultiPolygon([Polygon([(20, 0), (22, 0), (22, 2), (20, 2)]), Polygon([(22, 2), (24, 2), (24, 4), (22, 4)])])


def test_round_trip_keeps_geometry_holes_classes_and_measurements(tmp_path):
    annotations = [
        GeoAnnotation(SQUARE_WITH_HOLE, "macro", (220, 0, 0), "lesion 1", {"Area mm^2": 2.5, "Max probability": 0.9}),
        GeoAnnotation(TWO_PARTS, "itc", (250, 220, 0), "lesion 2"),
    ]
    path = write_geojson(tmp_path / "s.lesions.geojson", annotations, {"slide": "s.tif", "predicted_label": "macro"})
    back, properties = read_geojson(path)
    assert properties == {"slide": "s.tif", "predicted_label": "macro"}
    assert [a.classification for a in back] == ["macro", "itc"] and back[0].color == (220, 0, 0)
    assert back[0].geometry.equals(SQUARE_WITH_HOLE) and len(back[0].geometry.interiors) == 1
    assert back[1].geometry.equals(TWO_PARTS) and back[0].measurements == {"Area mm^2": 2.5, "Max probability": 0.9}
    assert back[1].name == "lesion 2" and back[1].measurements == {}


def test_the_file_is_geojson_in_qupaths_layout(tmp_path):
    path = write_geojson(tmp_path / "s.geojson", [GeoAnnotation(SQUARE_WITH_HOLE, "micro", (255, 128, 0), "a")])
    data = json.loads(path.read_text())
    assert data["type"] == "FeatureCollection" and "properties" not in data
    (feature,) = data["features"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    assert feature["properties"]["objectType"] == "annotation"
    assert feature["properties"]["classification"] == {"name": "micro", "color": [255, 128, 0]}
    exterior, hole = (ring for ring in feature["geometry"]["coordinates"])
    for ring in (exterior, hole):
        assert ring[0] == ring[-1] and len(ring) >= 4  # closed linear rings
    assert _signed_area(exterior) > 0 > _signed_area(hole)  # RFC 7946: exterior counter-clockwise, holes clockwise


def _signed_area(ring):
    """Shoelace area: positive for a counter-clockwise ring in the coordinates' own axes."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False)) / 2


def test_bad_geometry_and_files_are_refused(tmp_path):
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # self-intersecting
    with pytest.raises(ValueError, match="invalid geometry"):
        GeoAnnotation(bowtie, "itc")
    with pytest.raises(ValueError, match="color"):
        GeoAnnotation(SQUARE_WITH_HOLE, "itc", (300, 0, 0))
    (tmp_path / "x.geojson").write_text('{"type": "Topology"}')
    with pytest.raises(AnnotationError, match="not GeoJSON"):
        read_geojson(tmp_path / "x.geojson")
    (tmp_path / "y.geojson").write_text("{")
    with pytest.raises(AnnotationError, match="not a readable JSON"):
        read_geojson(tmp_path / "y.geojson")
    with pytest.raises(AnnotationError, match="not found"):
        read_geojson(tmp_path / "missing.geojson")


def test_qupath_02_measurement_lists_and_point_features_are_read(tmp_path):
    data = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}, "properties": {}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]]},
         "properties": {"classification": {"name": "Tumor", "colorRGB": -65536},
                        "measurements": [{"name": "Area", "value": 16.0}]}},
    ]}  # fmt: skip
    (tmp_path / "q.geojson").write_text(json.dumps(data))
    (annotation,), _ = read_geojson(tmp_path / "q.geojson")
    assert annotation.classification == "Tumor" and annotation.measurements == {"Area": 16.0}
    assert annotation.geometry.area == 16.0
