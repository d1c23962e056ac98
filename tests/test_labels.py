from pathlib import Path

import pytest

from wsiseg.errors import LabelError
from wsiseg.labels import (
    PN_STAGES,
    SLIDE_LABELS,
    parse_node,
    parse_patient_stages,
    parse_stage_labels,
    patient_of_node,
    read_patient_stages,
    read_stage_labels,
    write_stage_labels,
)


def test_reads_the_real_camelyon17_labels(reference):
    patients = read_stage_labels(reference / "camelyon17_stage_labels.csv")
    assert len(patients) == 100
    slides = [n.label for p in patients for n in p.nodes]
    assert {lb: slides.count(lb) for lb in SLIDE_LABELS} == {"negative": 323, "itc": 35, "micro": 57, "macro": 85}
    stages = [p.stage for p in patients]
    assert {s: stages.count(s) for s in PN_STAGES} == {"pN0": 25, "pN0(i+)": 11, "pN1mi": 21, "pN1": 30, "pN2": 13}
    assert patients[4].patient == "patient_004" and patients[4].nodes[4].label == "itc"


def test_round_trip_is_byte_identical(reference, tmp_path):
    src = reference / "camelyon17_stage_labels.csv"
    out = write_stage_labels(tmp_path / "x.csv", read_stage_labels(src))
    assert out.read_text().split() == src.read_text().split()


GOOD = "patient,stage\npatient_000.zip,pN0\n" + "".join(f"patient_000_node_{i}.tif,negative\n" for i in range(5))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,label\n", "header"),
        (GOOD.replace("pN0\n", "pN3\n", 1), "unknown pN stage 'pN3'"),
        (GOOD.replace("node_4.tif,negative", "node_4.tif,huge"), "unknown slide label 'huge'"),
        (GOOD.replace("patient_000_node_4.tif,negative\n", ""), "expected exactly nodes 0-4"),
        (
            GOOD + "patient_000_node_4.tif,negative\n",
            "line 8: duplicate row for patient_000_node_4.tif (first on line 7)",
        ),
        (GOOD + "Patient_000.ZIP,pN0\n", "line 8: duplicate row for patient_000 (first on line 2)"),
        (GOOD + "patient_001_node_0.tif,negative\n", "no 'patient_001.zip' row"),
        (GOOD + "slide_9.tif,negative\n", "neither"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(text, message):
    with pytest.raises(LabelError, match="labels.csv") as err:
        parse_stage_labels(text, Path("labels.csv"))
    assert message in str(err.value)


def test_missing_file_is_a_label_error(tmp_path):
    with pytest.raises(LabelError, match="nope.csv"):
        read_stage_labels(tmp_path / "nope.csv")


def test_stages_and_labels_in_any_letter_case_read_as_the_official_spelling(tmp_path):
    # as the CAMELYON17 evaluate.py, which lower-cases the stages: PN1 / pn0(i+) are pN1 / pN0(i+)
    text = "patient,stage\nPatient_000.ZIP,PN1\n" + "".join(
        f"patient_000_node_{i}.tif,{label}\n"
        for i, label in enumerate(["NEGATIVE", "Macro", "itc", "MICRO", "negative"])
    )
    (patient,) = parse_stage_labels(text.replace("PN1", "pn0(I+)"))
    assert patient.stage == "pN0(i+)"
    (patient,) = parse_stage_labels(text)
    assert (patient.patient, patient.stage) == ("patient_000", "pN1")
    assert [n.label for n in patient.nodes] == ["negative", "macro", "itc", "micro", "negative"]
    written = write_stage_labels(tmp_path / "out.csv", [patient]).read_text()
    assert written.splitlines()[:3] == ["patient,stage", "patient_000.zip,pN1", "patient_000_node_0.tif,negative"]


@pytest.mark.parametrize(
    ("slide", "expected"),
    [
        ("patient_004_node_4.tif", ("patient_004", 4)),
        ("PATIENT_017_Node_0.TIF", ("patient_017", 0)),  # any case, the patient in lower case
        ("patient_101_node_1.svs", ("patient_101", 1)),  # a node scanned in another format is still node 1
        ("patient_004_node_4", ("patient_004", 4)),  # a stem (a heatmap's name)
        ("patient_004_node_4.xml", ("patient_004", 4)),  # the node a file is named after, whatever its suffix
        ("patient_004_node_4.tif.part", None),
        ("patient_04_node_4.tif", None),
        ("patient_004_node_10.tif", None),
        ("tumor_001.tif", None),
        ("x/patient_004_node_4.tif", None),  # a bare file name, not a path
    ],
)
def test_the_node_name_rule(slide, expected):
    assert parse_node(slide) == expected
    assert patient_of_node(slide) == (expected[0] if expected else None)


def test_the_official_reading_takes_patient_rows_only(tmp_path):
    # what the challenge's evaluate.py reads: .zip rows; node rows (even incomplete), extra columns ignored
    text = "Patient,Stage,comment\npatient_000.zip,pN1,x\npatient_000_node_3.tif,macro\nPATIENT_001.ZIP, pn0(I+) \n"
    assert parse_patient_stages(text) == {"patient_000": "pN1", "patient_001": "pN0(i+)"}
    with pytest.raises(LabelError, match="header"):
        parse_stage_labels(text)  # the strict reading wants two columns and five nodes per patient
    with pytest.raises(LabelError, match=r"nope.csv.*cannot read"):
        read_patient_stages(tmp_path / "nope.csv")
