"""stage.py's lesion files: QuPath GeoJSON and ASAP XML per slide, read back, and their IoU with annotations."""

import csv
import json

import numpy as np
import pytest

from wsiseg.annotations import Annotation, rasterize, read_asap_xml, tumour_mask, write_asap_xml
from wsiseg.annotations.geojson import read_geojson
from wsiseg.annotations.shapes import polygon_annotations
from wsiseg.classifiers import SlideRow
from wsiseg.evaluation.lesions import LesionSettings, write_lesions
from wsiseg.features import HeatmapRecord
from wsiseg.labels import NodeRecord, PatientRecord

SLIDE_MPP, HEATMAP_MPP = 0.25, 4.0
DOWNSAMPLE = HEATMAP_MPP / SLIDE_MPP
SIZE_WH = (160 * 16, 120 * 16)  # level 0: a 120 x 160 px heatmap at 4 um/px


def slide_row(folder, name, heatmap, annotation=None, predicted="macro"):
    np.save(folder / f"{name}.heatmap.npy", heatmap.astype(np.float16))
    np.save(folder / f"{name}.tissue.npy", np.ones(heatmap.shape, bool))
    record = HeatmapRecord(name, f"{name}.tif", folder / f"{name}.heatmap.npy", folder / f"{name}.tissue.npy",
                           HEATMAP_MPP, SLIDE_MPP, folder / f"{name}.tif")  # fmt: skip
    return SlideRow(record, name.rsplit("_node_", 1)[0], label="macro" if annotation else "negative",
                    annotation=annotation, predicted=predicted)  # fmt: skip


@pytest.fixture
def annotated(tmp_path):
    """A slide annotated with a 0.4 x 0.32 mm lesion with a 0.1 mm square hole, and a heatmap that finds it."""
    tumour = np.array([[400, 320], [2000, 320], [2000, 1600], [400, 1600]], float)  # level-0 px
    hole = np.array([[1000, 800], [1400, 800], [1400, 1200], [1000, 1200]], float)
    xml = write_asap_xml(tmp_path / "patient_000_node_1.xml", [Annotation("t", "metastases", "tumor", tumour),
                                                               Annotation("h", "normal", "exclude", hole)])  # fmt: skip
    heatmap = tumour_mask(xml, SIZE_WH, DOWNSAMPLE) * 0.9  # the annotation at heatmap resolution
    heatmap[5:8, 150:155] = 0.7  # and a small false positive
    return slide_row(tmp_path, "patient_000_node_1", heatmap, xml), heatmap


def test_every_slide_gets_both_files_with_its_labels_and_stage(tmp_path, annotated):
    row, heatmap = annotated
    clean = slide_row(tmp_path, "patient_000_node_2", np.zeros_like(heatmap), predicted="negative")
    patients = [PatientRecord("patient_000", "pN1", tuple(NodeRecord(f"patient_000_node_{i}.tif", "negative")
                                                        for i in range(5)))]  # fmt: skip
    summary = write_lesions([row, clean], patients, LesionSettings(), tmp_path / "out")
    folder = tmp_path / "out" / "lesions"
    lesions, properties = read_geojson(folder / "patient_000_node_1.lesions.geojson")
    assert properties["predicted_label"] == "macro" and properties["predicted_patient_stage"] == "pN1"
    assert properties["slide"] == "patient_000_node_1.tif" and properties["lesions"] == 2
    assert [a.classification for a in lesions] == ["micro", "itc"] and [a.name for a in lesions] == [
        "lesion 1",
        "lesion 2",
    ]
    big = lesions[0]
    assert len(big.geometry.interiors) == 1  # the annotation's hole is a hole of the predicted lesion
    assert big.measurements["Max Feret diameter mm"] == pytest.approx(np.hypot(100, 80) * 0.004, abs=0.01)
    assert big.measurements["Area mm^2"] == pytest.approx((100 * 80 - 25 * 25) * 16e-6, rel=0.01)
    assert read_geojson(folder / "patient_000_node_2.lesions.geojson")[0] == []
    # ASAP: the same area, read with wsiseg's reader and its default group roles (itc / micro / macro / holes)
    records = read_asap_xml(folder / "patient_000_node_1.lesions.xml")
    assert {r.group for r in records} == {"micro", "itc", "holes"}
    geojson_records = [r for i, a in enumerate(lesions) for r in polygon_annotations(a.geometry, str(i), "x", "h")]
    assert np.array_equal(rasterize(records, SIZE_WH, DOWNSAMPLE), rasterize(geojson_records, SIZE_WH, DOWNSAMPLE))
    # the lesions against the annotation: everything but the 15-pixel false positive
    assert set(summary.iou) == {"patient_000_node_1"}
    expected = (heatmap >= 0.8).sum() / (heatmap >= 0.5).sum()
    assert summary.iou["patient_000_node_1"] == pytest.approx(expected, abs=1e-3) and expected > 0.99
    table = list(csv.DictReader((folder / "summary.csv").read_text().splitlines()))
    assert [(r["slide"], r["micro"], r["itc"], r["iou_with_annotation"][:5]) for r in table] == [
        ("patient_000_node_1", "1", "1", f"{expected:.4f}"[:5]),
        ("patient_000_node_2", "0", "0", ""),
    ]
    assert json.loads(json.dumps(summary.as_dict()))["lesions"] == {"itc": 1, "micro": 1, "macro": 0}
    # the measurements the files carry, in the record for report.html (largest first)
    measured = summary.measures["patient_000_node_1"]
    assert [m.size_class for m in measured] == ["micro", "itc"] and summary.measures["patient_000_node_2"] == ()
    assert [m.feret_mm for m in measured] == [a.measurements["Max Feret diameter mm"] for a in lesions]


def test_lesions_can_be_switched_off(tmp_path, annotated):
    row, _ = annotated
    summary = write_lesions([row], [], LesionSettings(write=False), tmp_path / "out")
    assert summary.folder is None and not (tmp_path / "out" / "lesions").exists()


def test_a_fragmented_heatmap_writes_its_largest_lesions_and_says_so(tmp_path, annotated, caplog):
    """An undertrained model's specks: at most max_per_slide lesions, the counts left out in the file, a warning."""
    row, heatmap = annotated
    heatmap = heatmap.copy()
    heatmap[::4, ::4] = np.maximum(heatmap[::4, ::4], 0.6)  # one-pixel specks all over the slide
    row = slide_row(tmp_path, "patient_000_node_1", heatmap, row.annotation)
    settings = LesionSettings(max_per_slide=3)
    with caplog.at_level("WARNING"):
        summary = write_lesions([row], [], settings, tmp_path / "out")
    lesions, properties = read_geojson(tmp_path / "out" / "lesions" / "patient_000_node_1.lesions.geojson")
    assert len(lesions) == 3 and properties["lesions"] == 3
    assert lesions[0].classification == "micro"  # the annotated lesion comes first
    assert properties["left_out_beyond_max_per_slide"] == properties["regions_above_threshold"] - 3 > 600
    assert properties["left_out_smaller_than_min_area"] == 0 and properties["max_per_slide"] == 3
    assert sum(summary.counts["patient_000_node_1"].values()) == 3
    assert "1 slides have more than 3 regions" in caplog.text and "undertrained model" in caplog.text
    small = write_lesions([row], [], LesionSettings(min_area_um2=20.0), tmp_path / "small")
    _, properties = read_geojson(tmp_path / "small" / "lesions" / "patient_000_node_1.lesions.geojson")
    assert properties["lesions"] == 2 and properties["left_out_beyond_max_per_slide"] == 0  # + the 15 px one
    assert properties["left_out_smaller_than_min_area"] == properties["regions_above_threshold"] - 2
    assert small.iou["patient_000_node_1"] > 0.99  # the specks left out, the lesion as annotated
