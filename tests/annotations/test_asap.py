"""Reading ASAP XML: the real CAMELYON17 file, both CAMELYON dialects, group lookup and bad input."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from wsiseg.annotations import Annotation, max_feret_diameter, read_asap_xml
from wsiseg.errors import AnnotationError

from .asap_files import square

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "patient_004_node_4.xml"
MPP = 0.243  # um/px, 3DHistech scanner
# Largest vertex distance of each polygon, in um (vertices 0-3, 2-9 and 0-6).
REFERENCE_DIAMETERS_UM = [92.9658435527884, 114.77235886300743, 124.61694424335721]


def test_reference_file_has_three_tumour_polygons():
    annotations = read_asap_xml(REFERENCE)
    assert [len(a.vertices_xy) for a in annotations] == [8, 15, 12]
    assert [a.name for a in annotations] == ["Annotation 0", "Annotation 1", "Annotation 2"]
    assert {(a.group, a.role, a.kind) for a in annotations} == {("Tumor", "tumor", "Polygon")}
    assert annotations[0].vertices_xy[0].tolist() == [12711.2998, 88778.1016]
    assert annotations[2].vertices_xy[-1].tolist() == [10789.5, 75390.7031]
    assert annotations[0].vertices_xy.dtype == np.float64


def test_reference_file_diameters_are_itc_sized():
    for annotation, expected_um in zip(read_asap_xml(REFERENCE), REFERENCE_DIAMETERS_UM, strict=True):
        vertices = annotation.vertices_xy.tolist()
        brute_px = max(math.dist(p, q) for p in vertices for q in vertices)
        diameter_um = max_feret_diameter(annotation.vertices_xy) * MPP
        assert diameter_um == pytest.approx(brute_px * MPP, abs=1e-6)
        assert diameter_um == pytest.approx(expected_um, abs=1e-6)
        assert diameter_um < 200.0  # the slide's label is itc
    first = read_asap_xml(REFERENCE)[0].vertices_xy
    assert math.hypot(12711.2998 - 12703.7002, 88778.1016 - 89160.6016) * MPP == pytest.approx(
        max_feret_diameter(first) * MPP, abs=1e-6
    )


def test_vertices_are_sorted_by_order_and_read_only(write_xml):
    vertices = [(0, 0), (10, 0), (10, 10), (5, 15), (0, 10)]
    shuffle = [3, 0, 4, 1, 2]
    shuffled = [vertices[i] for i in shuffle]
    [annotation] = read_asap_xml(write_xml([("a", "Polygon", "_0", shuffled)], orders=[shuffle]))
    assert annotation.vertices_xy.tolist() == [[0, 0], [10, 0], [10, 10], [5, 15], [0, 10]]
    with pytest.raises(ValueError, match="read-only"):
        annotation.vertices_xy[0, 0] = 1.0


def test_camelyon16_dialect(write_xml):
    specs = [("t0", "Polygon", "_0", square(0, 0, 9, 9)), ("t1", "Spline", "_1", square(20, 20, 29, 29))]
    specs.append(("cut", "Polygon", "_2", square(2, 2, 4, 4)))
    annotations = read_asap_xml(write_xml(specs))
    assert [(a.group, a.role, a.kind) for a in annotations] == [
        ("_0", "tumor", "Polygon"),
        ("_1", "tumor", "Spline"),
        ("_2", "exclude", "Polygon"),
    ]


def test_camelyon17_dialect_and_case_insensitive_lookup(write_xml):
    specs = [
        ("m", "Polygon", "metastases", square(0, 0, 9, 9)),
        ("n", "Polygon", "normal", square(2, 2, 4, 4)),
        ("M", "Rectangle", "METASTASES", square(20, 20, 29, 29)),
        ("e", "Polygon", "exclusion", square(22, 22, 24, 24)),
    ]
    annotations = read_asap_xml(write_xml(specs))
    assert [a.role for a in annotations] == ["tumor", "exclude", "tumor", "exclude"]
    assert annotations[2].kind == "Rectangle"


def test_exact_group_match_wins_over_case_insensitive(write_xml):
    path = write_xml([("a", "Polygon", "Tumor", square(0, 0, 5, 5)), ("b", "Polygon", "TUMOR", square(0, 0, 5, 5))])
    roles = {"tumor": "tumor", "Tumor": "ignore"}
    assert [a.role for a in read_asap_xml(path, roles)] == ["ignore", "tumor"]


def test_unknown_group_names_file_group_and_remedy(write_xml):
    path = write_xml([("lesion 7", "Polygon", "Lymphocytes", square(0, 0, 5, 5))])
    with pytest.raises(AnnotationError) as caught:
        read_asap_xml(path)
    message = str(caught.value)
    assert str(path) in message and "'Lymphocytes'" in message and "group_roles" in message
    assert "'lesion 7'" in message
    assert [a.role for a in read_asap_xml(path, {"Lymphocytes": "ignore"})] == ["ignore"]


def test_ungrouped_annotation_is_not_guessed(write_xml):
    with pytest.raises(AnnotationError, match="'None'"):
        read_asap_xml(write_xml([("a", "Polygon", "None", square(0, 0, 5, 5))]))


def test_points_are_skipped_even_in_unmapped_groups(write_xml):
    specs = [
        ("dot", "Dot", "Cells", [(3.0, 4.0)]),
        ("set", "PointSet", "_0", [(1, 1), (2, 2), (3, 1), (4, 4)]),
        ("keep", "Polygon", "_0", square(0, 0, 5, 5)),
    ]
    assert [a.name for a in read_asap_xml(write_xml(specs))] == ["keep"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<ASAP_Annotations><Annotations>", "not well-formed"),
        ("<Annotations></Annotations>", "root element is <Annotations>"),
        ("", "not well-formed"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=match) as caught:
        read_asap_xml(path)
    assert caught.value.path == path and str(caught.value).startswith(str(path))


def test_missing_file_and_directory(tmp_path):
    for path in (tmp_path / "nope.xml", tmp_path):
        with pytest.raises(AnnotationError, match="not found") as caught:
            read_asap_xml(path)
        assert caught.value.path == path


@pytest.mark.parametrize(
    ("vertices", "match"),
    [
        ([(0, 0), ("abc", 1), (1, 1)], "non-numeric"),
        ([(0, 0), (float("nan"), 1), (1, 1)], "non-finite"),
        ([(0, 0), (1, 1)], "'short' has 2 vertices"),
    ],
)
def test_bad_coordinates(write_xml, vertices, match):
    with pytest.raises(AnnotationError, match=match):
        read_asap_xml(write_xml([("short", "Polygon", "_0", vertices)]))


def test_duplicate_order_and_unknown_type(write_xml):
    with pytest.raises(AnnotationError, match="repeats a Coordinate Order"):
        read_asap_xml(write_xml([("a", "Polygon", "_0", square(0, 0, 1, 1))], orders=[[0, 1, 1, 2]]))
    with pytest.raises(AnnotationError, match="Type 'Ellipse'"):
        read_asap_xml(write_xml([("a", "Ellipse", "_0", square(0, 0, 1, 1))]))


def test_billion_laughs_is_refused_not_expanded(tmp_path):
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doctype = "<!DOCTYPE ASAP_Annotations [" + "".join(entities) + "]>"
    path = tmp_path / "laughs.xml"
    path.write_text(f'<?xml version="1.0"?>{doctype}<ASAP_Annotations name="&lol9;"/>')
    start = time.perf_counter()
    with pytest.raises(AnnotationError, match="refused unsafe XML") as caught:
        read_asap_xml(path)
    assert time.perf_counter() - start < 1.0
    assert str(path) in str(caught.value)


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<ASAP_Annotations><Annotations><Annotation Name="&x;"/></Annotations></ASAP_Annotations>'
    )
    with pytest.raises(AnnotationError, match="refused unsafe XML"):
        read_asap_xml(path)


def test_annotation_record_validates():
    with pytest.raises(ValueError, match="shape"):
        Annotation("a", "g", "tumor", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="role"):
        Annotation("a", "g", "tumour", square(0, 0, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        Annotation("a", "g", "tumor", [(0, 0), (1, np.inf), (1, 1)])
    source = np.array(square(0, 0, 1, 1), dtype=float)
    annotation = Annotation("a", "g", "tumor", source)
    source[0, 0] = 99.0
    assert annotation.vertices_xy[0, 0] == 0.0  # the record keeps its own copy
