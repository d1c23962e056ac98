import pytest

from wsiseg.labels import read_stage_labels
from wsiseg.staging import pn_stage, stage_complete_patients, stage_patients


def test_reproduces_all_100_training_patients(reference):
    patients = read_stage_labels(reference / "camelyon17_stage_labels.csv")
    predicted = [pn_stage([n.label for n in p.nodes]) for p in patients]
    assert predicted == [p.stage for p in patients]


def test_a_macro_only_rule_would_get_94(reference):
    """The known pitfall: counting only macros as positive nodes mis-stages 6 patients."""
    patients = read_stage_labels(reference / "camelyon17_stage_labels.csv")
    wrong = 0
    for p in patients:
        labels = [n.label for n in p.nodes]
        macros = labels.count("macro")
        macro_rule = ("pN2" if macros >= 4 else "pN1") if macros else pn_stage(labels)
        wrong += macro_rule != p.stage
    assert wrong == 6


@pytest.mark.parametrize(
    ("labels", "stage"),
    [
        (["negative"] * 5, "pN0"),
        (["itc", "negative", "negative", "negative", "itc"], "pN0(i+)"),
        (["itc", "micro", "negative", "negative", "negative"], "pN1mi"),
        (["macro", "micro", "micro", "negative", "itc"], "pN1"),
        (["macro", "micro", "micro", "micro", "negative"], "pN2"),
        (["macro", "itc", "itc", "itc", "itc"], "pN1"),
    ],
)
def test_rules(labels, stage):
    assert pn_stage(labels) == stage


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="Macro"):
        pn_stage(["Macro", "negative"])


def test_stage_patients_groups_by_patient():
    labels = {f"patient_001_node_{i}.tif": "negative" for i in range(5)}
    labels["patient_000_node_3.tif"] = "macro"
    labels.update({f"patient_000_node_{i}.tif": "negative" for i in (0, 1, 2, 4)})
    patients = stage_patients(labels)
    assert [(p.patient, p.stage) for p in patients] == [("patient_000", "pN1"), ("patient_001", "pN0")]
    assert [n.slide for n in patients[0].nodes][3] == "patient_000_node_3.tif"


def test_stage_patients_refuses_a_name_that_is_not_a_node_slide():
    with pytest.raises(ValueError, match="'tumor_001.tif' is not a CAMELYON17 node slide name"):
        stage_patients({"tumor_001.tif": "macro"})


def test_only_patients_with_five_node_slides_are_complete():
    labels = {f"patient_001_node_{i}.tif": "negative" for i in range(5)}
    labels |= {"patient_000_node_3.tif": "macro", "tumor_001.tif": "macro"}  # a CAMELYON16 slide: left out
    complete, partial = stage_complete_patients(labels)
    assert [(p.patient, p.stage) for p in complete] == [("patient_001", "pN0")]
    assert [(p.patient, p.stage, len(p.nodes)) for p in partial] == [("patient_000", "pN1", 1)]
