"""Writing ASAP XML: structure ASAP accepts, round trip, colours and atomic replacement."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # parses only files this test wrote itself

import numpy as np
import pytest

from wsiseg.annotations import Annotation, read_asap_xml, write_asap_xml

from .asap_files import square

ANNOTATIONS = [
    Annotation(
        "Annotation 0",
        "_0",
        "tumor",
        [(12711.2998, 88778.1016), (12612.8, 88895.5), (12597.7002, 89050.7969)],
    ),
    Annotation("cut <1>", "_2", "exclude", square(10.125, 20.5, 30.75, 40.0)),
    Annotation("Annotation 2", "_1", "tumor", square(1e5, 2e5, 1e5 + 0.001, 2e5 + 0.001), kind="Spline"),
    Annotation("Annotation 3", "_0", "tumor", square(0, 0, 1, 1), kind="Rectangle"),
]


def test_round_trip(tmp_path):
    path = write_asap_xml(tmp_path / "out.xml", ANNOTATIONS)
    assert path == tmp_path / "out.xml"
    back = read_asap_xml(path)
    assert len(back) == len(ANNOTATIONS)
    for written, read in zip(ANNOTATIONS, back, strict=True):
        assert (read.name, read.group, read.role, read.kind) == (
            written.name,
            written.group,
            written.role,
            written.kind,
        )
        np.testing.assert_allclose(read.vertices_xy, written.vertices_xy, rtol=0, atol=1e-3)
        assert np.array_equal(read.vertices_xy, written.vertices_xy)  # shortest exact repr: no loss at all


def test_structure_and_groups(tmp_path):
    path = write_asap_xml(tmp_path / "out.xml", ANNOTATIONS, group_colors={"_2": "#00FF00"})
    root = ET.parse(path).getroot()
    assert root.tag == "ASAP_Annotations"
    assert [child.tag for child in root] == ["Annotations", "AnnotationGroups"]
    first = root.find("Annotations/Annotation")
    assert first.attrib == {
        "Name": "Annotation 0",
        "Type": "Polygon",
        "PartOfGroup": "_0",
        "Color": "#F4FA58",
    }
    coordinates = first.findall("Coordinates/Coordinate")
    assert [c.attrib for c in coordinates][0] == {"Order": "0", "X": "12711.2998", "Y": "88778.1016"}
    assert [c.get("Order") for c in coordinates] == ["0", "1", "2"]
    groups = root.findall("AnnotationGroups/Group")
    assert [g.attrib for g in groups] == [
        {"Name": "_0", "PartOfGroup": "None", "Color": "#F4FA58"},
        {"Name": "_2", "PartOfGroup": "None", "Color": "#00FF00"},
        {"Name": "_1", "PartOfGroup": "None", "Color": "#F4FA58"},
    ]
    assert all([child.tag for child in g] == ["Attributes"] for g in groups)
    assert root.find("Annotations/Annotation[@Name='cut <1>']").get("Color") == "#00FF00"
    assert "e+" not in path.read_text() and "e-" not in path.read_text()


def test_empty_file_reads_back_empty(tmp_path):
    path = write_asap_xml(tmp_path / "sub" / "empty.xml", [])
    assert read_asap_xml(path) == []


def test_atomic_replace_leaves_no_temp_files_and_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out.xml"
    write_asap_xml(path, ANNOTATIONS[:1])
    write_asap_xml(path, ANNOTATIONS)
    assert len(read_asap_xml(path)) == 4
    before = path.read_bytes()
    with pytest.raises(ValueError, match="#RRGGBB"):
        write_asap_xml(path, ANNOTATIONS[:1], group_colors={"_0": "red"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xml"]
