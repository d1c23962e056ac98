import numpy as np
import pytest

from wsiseg.evaluation import SlideHits, class_report, froc, save_confusion_png, save_froc_png
from wsiseg.labels import SLIDE_LABELS


def test_class_report_counts_and_scores():
    ref = ["negative", "negative", "itc", "micro", "macro", "macro"]
    pred = ["negative", "itc", "negative", "micro", "macro", "micro"]
    report = class_report(ref, pred, SLIDE_LABELS)
    np.testing.assert_array_equal(report.confusion, [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]])
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.recall.tolist() == pytest.approx([0.5, 0.0, 1.0, 0.5])
    assert report.precision.tolist() == pytest.approx([0.5, 0.0, 0.5, 1.0])
    table = report.table()
    assert "| itc | 0.000 | 0.000 | 0.000 | 1 |" in table and "| macro | 1.000 | 0.500 | 0.667 | 2 |" in table
    assert report.as_dict()["per_class"]["micro"]["support"] == 1
    with pytest.raises(ValueError):
        class_report(ref, pred[:-1], SLIDE_LABELS)


def test_pictures_are_png_files(tmp_path):
    report = class_report(["negative", "macro"], ["negative", "micro"], SLIDE_LABELS)
    path = save_confusion_png(report, tmp_path / "cm.png", "test")
    curve = froc([SlideHits(np.array([0.4]), np.array([0.9, 0.0]))])
    froc_path = save_froc_png(curve, tmp_path / "froc.png")
    for p in (path, froc_path):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cm.png", "froc.png"]  # no temporary left
