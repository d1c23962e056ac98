"""The inventory's checks: slides that do not open, annotations off their slide, of unknown groups, in GeoJSON."""

import pytest
from shapely.geometry import Polygon

from tests.cohorts import downloads
from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.annotations.geojson import GeoAnnotation, write_geojson
from wsiseg.cohorts import CohortOptions, read_inventory
from wsiseg.slide import open_slide


@pytest.fixture
def c17(tiny_cohort, tmp_path):
    return downloads.camelyon17_challenge(tiny_cohort, tmp_path)


def annotated_slide(top):
    """A training slide with a lesion annotation, and that annotation."""
    xml = sorted((top / "training" / "lesion_annotations").glob("*.xml"))[0]
    return next(top.glob(f"training/center_*/{xml.stem}.tif")), xml


def test_a_truncated_download_is_left_out_by_name_with_the_reason(c17):
    slide = next(iter(sorted(c17.glob("training/center_3/*.tif"))))
    data = slide.read_bytes()
    slide.write_bytes(data[: len(data) // 3])
    inventory = read_inventory(c17)
    (left,) = inventory.excluded
    assert (left.name, left.reason) == (slide.name, "unreadable") and "truncated" in left.detail
    assert slide.name not in {r.slide for r in inventory.records} and len(inventory.records) == 49
    assert len(read_inventory(c17, check_slides=False).records) == 50  # not opened: not known to be bad


def test_an_annotation_entirely_off_its_slide_is_dropped_from_it(c17):
    slide, xml = annotated_slide(c17)
    with open_slide(slide) as opened:
        width, _ = opened.dimensions
    write_asap_xml(xml, [Annotation("a", "metastases", "tumor", [[width + 10, 5], [width + 90, 5], [width + 50, 60]])])
    inventory = read_inventory(c17)
    (left,) = inventory.excluded
    assert (left.name, left.reason) == (xml.name, "annotation outside its slide")
    assert next(r for r in inventory.records if r.slide == slide.name).annotation is None


def test_an_unknown_group_is_named_with_the_config_key_that_maps_it(c17):
    slide, xml = annotated_slide(c17)
    write_asap_xml(xml, [Annotation("a", "Metastasis", "tumor", [[5, 5], [90, 5], [50, 60]])])
    (left,) = read_inventory(c17, check_slides=False).excluded
    assert (left.name, left.reason) == (xml.name, "unknown annotation group")
    assert "'Metastasis'" in left.detail and "cohorts.group_roles={Metastasis: tumor}" in left.detail
    mapped = read_inventory(c17, CohortOptions(group_roles={"Metastasis": "tumor"}), check_slides=False)
    record = next(r for r in mapped.records if r.slide == slide.name)
    assert mapped.excluded == () and record.annotation == xml and record.group_roles == (("Metastasis", "tumor"),)
    assert [a.role for a in record.annotations()] == ["tumor"]
    with pytest.raises(ValueError, match="must map to one of tumor, exclude, ignore"):
        CohortOptions(group_roles={"Metastasis": "tumour"})


def test_qupath_geojson_annotations_are_found_by_stem_and_read_with_their_holes(c17):
    slide, xml = annotated_slide(c17)
    xml.unlink()
    square = Polygon([(0, 0), (400, 0), (400, 400), (0, 400)], [[(100, 100), (200, 100), (200, 200), (100, 200)]])
    geojson = c17 / "qupath export" / f"{slide.stem}.geojson"
    write_geojson(geojson, [GeoAnnotation(square, "Tumor")])
    record = next(r for r in read_inventory(c17, check_slides=False).records if r.slide == slide.name)
    assert record.annotation == geojson
    assert [(a.role, len(a.vertices_xy)) for a in record.annotations()] == [("tumor", 4), ("exclude", 4)]


def test_a_slide_twice_is_used_once_and_the_copy_named(c17):
    slide = next(iter(sorted(c17.glob("training/center_1/*.tif"))))
    downloads._copy(slide, c17 / "training" / "center_1" / "copies" / slide.name)
    inventory = read_inventory(c17, check_slides=False)
    (left,) = inventory.excluded
    assert (left.reason, left.path.parent.name) == ("duplicate", "copies")  # the shallower path is kept
    assert next(r for r in inventory.records if r.slide == slide.name).path == slide
