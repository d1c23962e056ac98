"""Which slides feed patch sampling: every other one named with its reason, none dropped without a word."""

from pathlib import Path

from wsiseg.cohorts import SlideRecord
from wsiseg.sampling import training_selection

XML = Path("x.xml")


def record(name, dataset, label, has_tumour, annotation=None, subset="training"):
    return SlideRecord(f"{name}.tif", Path(f"{name}.tif"), annotation, dataset, name, label, has_tumour, 0, subset)


def test_every_slide_left_out_has_its_reason():
    records = [
        record("patient_000_node_0", "camelyon17", "negative", False),
        record("patient_000_node_1", "camelyon17", "macro", True, XML),
        record("patient_000_node_2", "camelyon17", "micro", True),  # positive, no annotation
        record("patient_100_node_0", "camelyon17", None, None, subset="testing"),
        record("patient_001_node_0", "camelyon17", None, None),  # no label
        record("tumor_001", "camelyon16", None, True, XML),
        record("normal_001", "camelyon16", "negative", False),  # not in normal_from
        record("test_001", "camelyon16", "macro", True, XML, subset="testing"),  # labelled, but the test set
    ]
    chosen, left_out = training_selection(records, ["camelyon16", "camelyon17"], ["camelyon17"])
    assert [r.stem for r in chosen] == ["patient_000_node_0", "patient_000_node_1", "tumor_001"]
    assert {e.name: e.reason for e in left_out} == {
        "patient_000_node_2.tif": "positive slide without annotation",
        "patient_100_node_0.tif": "test set",
        "patient_001_node_0.tif": "no label",
        "normal_001.tif": "dataset not used",
        "test_001.tif": "test set",
    }
    (unused,) = [e for e in left_out if e.reason == "dataset not used"]
    assert "data.normal_from=['camelyon17']" in unused.detail
    # a positive slide without annotation gives no normal patch either: it is not among the slides sampled at all
    assert "neither tumour nor normal patches" in next(e.detail for e in left_out if e.name.endswith("node_2.tif"))
