"""Joining slides to a cohort by name (stem, any case): patient, dataset, label (CAMELYON16: from the annotation)."""

import numpy as np
import pytest

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.cohorts import SlideInfo, cohort_index, label_from_annotation, read_cohort, slide_info
from wsiseg.labels import NodeRecord, PatientRecord, write_stage_labels

# a 3000 x 4000 px lesion: its largest Feret diameter is the 5000 px diagonal
LESION = np.array([[100, 200], [3100, 200], [3100, 4200], [100, 4200]], float)
SMALL = np.array([[0, 0], [600, 0], [600, 800]], float)  # diameter 1000 px
CUT_OUT = np.array([[0, 0], [20000, 0], [20000, 20000], [0, 20000]], float)  # an exclusion: not a lesion


@pytest.fixture
def cohort(tmp_path):
    """CAMELYON16 tumour and normal slides, and one CAMELYON17 patient, in the real layouts."""
    for kind in ("tumor", "normal"):
        (tmp_path / kind).mkdir()
    for name in ("tumor/tumor_001.tif", "tumor/tumor_002.tif", "tumor/tumor_003.tif", "normal/normal_001.tif"):
        (tmp_path / name).write_bytes(b"")
    xml = tmp_path / "lesion_annotations"
    regions = [("_0", "tumor", SMALL), ("_1", "tumor", LESION), ("_2", "exclude", CUT_OUT)]
    write_asap_xml(xml / "tumor_001.xml", [Annotation(f"r{i}", *region) for i, region in enumerate(regions)])
    write_asap_xml(xml / "tumor_002.xml", [Annotation("c", "_2", "exclude", CUT_OUT)])
    (tmp_path / "centre_2").mkdir()
    labels = ["negative", "negative", "macro", "itc", "negative"]
    for i in range(5):
        (tmp_path / "centre_2" / f"patient_010_node_{i}.tif").write_bytes(b"")
    nodes = tuple(NodeRecord(f"patient_010_node_{i}.tif", lb) for i, lb in enumerate(labels))
    write_stage_labels(tmp_path / "stage_labels.csv", [PatientRecord("patient_010", "pN1", nodes)])
    return tmp_path


@pytest.mark.parametrize(("mpp", "label"), [(0.03, "itc"), (0.25, "micro"), (0.5, "macro")])
def test_the_largest_annotated_lesion_gives_the_label(cohort, mpp, label):
    # 5000 px * mpp: 0.15 mm (< 0.2: itc), 1.25 mm (< 2: micro), 2.5 mm (macro); the bigger cut-out is no lesion
    assert label_from_annotation(cohort / "lesion_annotations" / "tumor_001.xml", mpp) == label


def test_a_tumour_slide_without_a_tumour_region_is_itc(cohort):
    assert label_from_annotation(cohort / "lesion_annotations" / "tumor_002.xml", 0.25) == "itc"


def test_slides_join_the_cohort_by_name(cohort):
    index = cohort_index(read_cohort(cohort))
    assert len(index) == 9
    xml = cohort / "lesion_annotations" / "tumor_001.xml"
    assert slide_info("tumor_001.tif", 0.25, index) == SlideInfo(
        "tumor_001", "camelyon16", "micro", "annotation", xml, has_tumour=True
    )
    assert slide_info("tumor_001.tif", 0.25, index, camelyon16_labels=False) == SlideInfo(
        "tumor_001", "camelyon16", None, "", xml, has_tumour=True
    )
    no_annotation = SlideInfo("tumor_003", "camelyon16", has_tumour=True)
    assert slide_info("tumor_003.tif", 0.25, index) == no_annotation
    assert slide_info("normal_001.tif", 0.25, index) == SlideInfo(
        "normal_001", "camelyon16", "negative", "labels", has_tumour=False
    )
    node = SlideInfo("patient_010", "camelyon17", "macro", "labels", has_tumour=True)
    assert slide_info("patient_010_node_2.tif", 0.25, index) == node
    # by stem in any case: the heatmap of a node scanned as .svs, or a name typed in capitals, is the same slide
    assert slide_info("patient_010_node_2.svs", 0.25, index) == slide_info("PATIENT_010_NODE_2", 0.25, index) == node


def test_a_slide_outside_the_cohort_gets_only_a_patient(cohort):
    index = cohort_index(read_cohort(cohort))
    assert slide_info("PATIENT_042_node_1.tif", 0.25, index) == SlideInfo("patient_042")
    assert slide_info("scan_7.tif", 0.25, index) == SlideInfo("scan_7")
    assert cohort_index([]) == {} and slide_info("patient_010_node_2.tif", 0.25, {}) == SlideInfo("patient_010")
    assert slide_info("patient_042_node_1.svs", 0.25, index) == SlideInfo("patient_042")  # any extension
