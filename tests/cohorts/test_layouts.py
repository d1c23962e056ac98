"""Cohorts found by the challenges' file names in every layout they are downloaded in, and printed as an inventory."""

import json

import pytest

from tests.cohorts import downloads
from wsiseg.cohorts import CohortOptions, read_inventory
from wsiseg.cohorts.__main__ import main
from wsiseg.errors import LabelError
from wsiseg.labels import read_stage_labels

CENTRES = {f"patient_00{p}": p for p in range(5)}  # the tiny cohort: one patient a centre


def slides_of(inventory, dataset):
    return {r.slide: r for r in inventory.records if r.dataset == dataset}


@pytest.mark.parametrize("bom_crlf", [False, True])
def test_the_challenge_folders_of_camelyon17_as_downloaded(tiny_cohort, tmp_path, bom_crlf):
    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path, bom_crlf=bom_crlf)
    inventory = read_inventory(top, check_slides=False)
    nodes = slides_of(inventory, "camelyon17")
    training = {s: r for s, r in nodes.items() if r.subset == "training"}
    truth = {n.slide: n.label for p in read_stage_labels(tiny_cohort / "stage_labels.csv") for n in p.nodes}
    assert {s: r.label for s, r in training.items()} == truth  # every label, from training/stage_labels.csv
    assert all(r.centre == CENTRES[r.patient] for r in training.values())  # from center_K (American spelling)
    annotated = {s for s, r in training.items() if r.annotation is not None}
    assert annotated == {p.stem + ".tif" for p in (tiny_cohort / "lesion_annotations").glob("*.xml")}
    assert all(r.annotation.parent.name == "lesion_annotations" for r in training.values() if r.annotation)
    # the test set, flat in testing/patients: 25 unlabelled slides of patients 100-104, centre from the number
    test = [r for r in nodes.values() if r.subset == "testing"]
    assert len(test) == 25 and {r.patient for r in test} == {f"patient_10{p}" for p in range(5)}
    assert all(r.label is None and r.has_tumour is None and r.centre == 0 for r in test)
    assert inventory.excluded == () and inventory.layouts == {str(top): ("camelyon17",)}


def test_the_open_data_bucket_layout_of_camelyon17(tiny_cohort, tmp_path):
    top = downloads.camelyon17_bucket(tiny_cohort, tmp_path)
    nodes = slides_of(read_inventory(top, check_slides=False), "camelyon17")
    assert len(nodes) == 25 and all(r.label is not None for r in nodes.values())  # labels from stages.csv
    assert all(r.centre == 0 for r in nodes.values())  # no centre folder: 20 patients a centre, 000-004 -> 0
    annotated = {r.stem for r in nodes.values() if r.annotation is not None}  # annotations/ beside images/
    assert annotated == {p.stem for p in (tiny_cohort / "lesion_annotations").glob("*.xml")}


def test_per_patient_archives_unpacked_in_place(tiny_cohort, tmp_path):
    top = downloads.camelyon17_zips_unpacked(tiny_cohort, tmp_path)
    inventory = read_inventory(top, check_slides=False)
    assert len(inventory.records) == 25 and inventory.excluded == ()  # the zips' slides are there: nothing to say
    (top / "training" / "center_0" / "patient_000").rename(top / "elsewhere")  # patient_000 was never unpacked
    (top / "elsewhere").rename(tmp_path / "gone")
    again = read_inventory(top, check_slides=False)
    reasons = {(e.name, e.reason) for e in again.excluded}
    assert ("patient_000.zip", "archive not unpacked") in reasons
    assert {(f"patient_000_node_{n}.tif", "label without slide") for n in range(5)} <= reasons


@pytest.mark.parametrize("layout", [downloads.camelyon16_challenge, downloads.camelyon16_bucket])
def test_camelyon16_training_and_test_sets(tiny_cohort, tmp_path, layout):
    top = layout(tiny_cohort, tmp_path)
    slides = slides_of(read_inventory(top, check_slides=False), "camelyon16")
    assert sorted(slides) == ["normal_001.tif", "test_001.tif", "test_002.tif", "tumor_001.tif"]
    test_1, test_2 = slides["test_001.tif"], slides["test_002.tif"]
    assert (test_1.subset, test_1.label, test_1.has_tumour) == ("testing", "macro", True)  # Tumor,Macro
    assert (test_2.label, test_2.has_tumour) == ("negative", False)  # Normal
    assert test_1.annotation is not None and test_1.annotation.name == "test_001.xml"
    assert (slides["tumor_001.tif"].label, slides["tumor_001.tif"].has_tumour) == (None, True)  # size: annotation
    assert slides["tumor_001.tif"].annotation.name == "tumor_001.xml"


def test_both_challenges_in_one_data_folder_and_other_formats(tiny_cohort, tmp_path):
    downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    downloads.camelyon16_challenge(tiny_cohort, tmp_path)
    svs = tmp_path / "CAMELYON17" / "testing" / "patients" / "patient_101_node_1.tif"
    svs.rename(svs.with_suffix(".svs"))  # one node scanned in another format
    (svs.parent / "patient_103_node_2.tif").rename(svs.parent / "patient_103_node_2.tif.part")  # unfinished download
    (tmp_path / "CAMELYON16" / "training" / "tumor_001_mask.tif").write_bytes(b"")  # a mask, no slide
    inventory = read_inventory(tmp_path, check_slides=False)
    assert inventory.layouts == {str(tmp_path): ("camelyon16", "camelyon17")}
    by_name = {r.slide: r for r in inventory.records}
    assert by_name["patient_101_node_1.svs"].patient == "patient_101"  # its patient's node, not a patient of its own
    left = {e.name: e.reason for e in inventory.excluded}
    assert left == {"patient_103_node_2.tif.part": "unsupported format", "tumor_001_mask.tif": "other name"}


def test_a_labels_file_and_a_disagreeing_copy(tiny_cohort, tmp_path):
    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    text = (top / "training" / "stage_labels.csv").read_text()
    (top / "stages.csv").write_text(text)  # the same labels twice: fine
    assert len(read_inventory(top, check_slides=False).records) == 50
    node = next(line.split(",")[0] for line in text.splitlines() if line.endswith(",negative"))
    (top / "stages.csv").write_text(text.replace(f"{node},negative", f"{node},macro"))
    with pytest.raises(LabelError, match=rf"{node} is macro here but negative in .*stage_labels.csv"):
        read_inventory(top, check_slides=False)


def test_a_folder_without_any_slide_says_what_it_found(tmp_path):
    (tmp_path / "patient_000.zip").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no slides found: .*patient_XXX_node_Y.*\(found: 1 .zip\)"):
        read_inventory(tmp_path)


def test_the_inventory_prints_without_running_anything(tiny_cohort, tmp_path, capsys):
    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    (top / "training" / "center_2" / "patient_002_node_1.tif").unlink()
    assert main([str(top), "--json", str(tmp_path / "inventory.json")]) == 1  # a file is left out: status 1
    out = capsys.readouterr().out
    assert "camelyon17  training       2       4" in out  # dataset, subset, centre, slides
    assert "left out, label without slide (1):" in out and "patient_002_node_1.tif: listed in" in out
    written = json.loads((tmp_path / "inventory.json").read_text())
    annotated = (top / "training" / "lesion_annotations" / "patient_002_node_1.xml").is_file()
    expected = {"label without slide": 1} | ({"annotation without slide": 1} if annotated else {})
    assert written["left_out"] == expected and len(written["slides"]) == 49
    assert main([str(tmp_path / "nowhere")]) == 2


def test_a_plain_folder_with_a_labels_csv(tiny_cohort, tmp_path):
    sources = sorted((tiny_cohort / "centre_1").glob("*.tif"))[:3]
    for i, source in enumerate(sources):
        downloads._copy(source, tmp_path / "scans" / f"scan {i}.tif")
    (tmp_path / "scans" / "labels.csv").write_text("slide,label,patient\nscan 0.tif,macro,A\nscan 1,Normal,A\n")
    inventory = read_inventory(tmp_path / "scans", check_slides=False)
    assert inventory.layouts == {str(tmp_path / "scans"): ("folder",)}
    got = {r.slide: (r.dataset, r.patient, r.label, r.has_tumour) for r in inventory.records}
    assert got == {"scan 0.tif": ("folder", "A", "macro", True), "scan 1.tif": ("folder", "A", "negative", False),
                   "scan 2.tif": ("folder", "scan 2", None, None)}  # fmt: skip
    options = CohortOptions(labels=str(tmp_path / "scans" / "labels.csv"))
    assert read_inventory(tmp_path / "scans", options, check_slides=False).records == inventory.records


def test_only_some_slides_for_a_dry_run(tiny_cohort, tmp_path, capsys):
    top = downloads.camelyon17_challenge(tiny_cohort, tmp_path)
    (top / "training" / "center_3" / "patient_003_node_1.tif").unlink()  # outside the patterns: not read, not told
    options = CohortOptions(only=["patient_00[01]_*", "PATIENT_102_*"])
    inventory = read_inventory(top, options, check_slides=False)
    assert sorted({r.patient for r in inventory.records}) == ["patient_000", "patient_001", "patient_102"]
    assert len(inventory.records) == 15 and inventory.excluded == ()
    assert sorted(inventory.stages) == ["patient_000", "patient_001"]  # the labels of the patients kept
    assert main([str(top), "--no-open", "--only", "patient_003_*", "--only", "tumor_*"]) == 1  # now told
    assert "patient_003_node_1.tif: listed in" in capsys.readouterr().out


def test_the_real_labels_file_and_annotation_with_a_few_slides(tiny_cohort, tmp_path, reference):
    """CAMELYON17's real stage_labels.csv and patient_004_node_4.xml, with five slides of patient_004 present."""
    training = tmp_path / "CAMELYON17" / "training"
    sources = sorted((tiny_cohort / "centre_0").glob("*.tif"))
    for node, source in enumerate(sources):
        downloads._copy(source, training / "center_0" / f"patient_004_node_{node}.tif")
    downloads._copy(reference / "camelyon17_stage_labels.csv", training / "stage_labels.csv")
    downloads._copy(reference / "patient_004_node_4.xml", training / "lesion_annotations" / "patient_004_node_4.xml")
    unopened = read_inventory(tmp_path / "CAMELYON17", check_slides=False)
    truth = {n.slide: n.label for p in read_stage_labels(reference / "camelyon17_stage_labels.csv") for n in p.nodes}
    present = [f"patient_004_node_{n}.tif" for n in range(5)]
    assert {r.slide: r.label for r in unopened.records} == {s: truth[s] for s in present}  # 4 negative, 1 itc
    assert unopened.reasons() == {"label without slide": 495} and len(unopened.stages) == 100
    node_4 = next(r for r in unopened.records if r.slide == "patient_004_node_4.tif")
    assert [a.group for a in node_4.annotations()] == ["Tumor"] * 3  # the real file's group, read as tumour
    # opened, the tiny slide is far smaller than the real one the outlines were drawn on (x ~12,700, y ~88,000)
    opened = read_inventory(tmp_path / "CAMELYON17")
    assert {e.reason for e in opened.excluded if e.name == "patient_004_node_4.xml"} == {"annotation outside its slide"}


def test_hostile_labels_files_are_refused_naming_file_and_line(tiny_cohort, tmp_path):
    top = downloads.camelyon16_challenge(tiny_cohort, tmp_path)
    reference = top / "testing" / "reference.csv"
    reference.write_text("test_001,Tumor,Macro,Primary\ntest_002,Maybe\n")
    with pytest.raises(LabelError, match=r"reference.csv: line 2: class 'maybe'; expected Tumor or Normal"):
        read_inventory(top, check_slides=False)
    reference.write_text("test_001,Tumor\n../../etc/passwd,Normal\n")
    with pytest.raises(LabelError, match=r"line 2: '../../etc/passwd' is not a CAMELYON16 slide name"):
        read_inventory(top, check_slides=False)
    folder = tmp_path / "mine"
    downloads._copy(sorted((tiny_cohort / "centre_1").glob("*.tif"))[0], folder / "a.tif")
    (folder / "labels.csv").write_text("name,class\na.tif,macro\n")
    with pytest.raises(LabelError, match=r"needs the columns slide and label"):
        read_inventory(folder, check_slides=False)
    (folder / "labels.csv").write_text("slide,label\na.tif,malignant\n")
    with pytest.raises(LabelError, match=r"line 2: unknown label 'malignant'"):
        read_inventory(folder, check_slides=False)
    (folder / "labels.csv").write_text("slide,label\na.tif,macro\n")
    (folder / "a.json").write_text('{"not": "geojson"}')  # a JSON file named after the slide: not an annotation
    (record,) = read_inventory(folder, check_slides=False).records
    assert record.annotation is None and record.label == "macro"
