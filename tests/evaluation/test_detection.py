"""Detection scores: detections from a heatmap, the evaluation mask at level 5 of the slide, the FROC sweep,
and the slide ROC AUC over the slides of known tumour."""

import numpy as np
import pytest

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.evaluation import DetectionSettings, DetectionSlide, detection_scores, lesion_hits
from wsiseg.features import HeatmapRecord

SLIDE_MPP, HEATMAP_MPP = 0.243, 4.0


def heatmap_record(folder, name, heatmap):
    np.save(folder / f"{name}.npy", heatmap.astype(np.float16))
    np.save(folder / f"{name}_t.npy", np.ones(heatmap.shape, bool))
    return HeatmapRecord(
        name, f"{name}.tif", folder / f"{name}.npy", folder / f"{name}_t.npy", HEATMAP_MPP, SLIDE_MPP, folder / "x"
    )


@pytest.fixture
def tumour(tmp_path):
    """A tumour slide: a 389 um square lesion (level-0 x, y in [320, 1920)), a hit in it, a response beside it.

    The heatmap (4 um/px) is 0.6 at pixel (70, 70) (282 um: inside) and 0.8 at (70, 124): x = 498 um, level-0
    x = 2049.4, level-5 column int(2049.4 / 32) = 64. The lesion covers level-5 columns 10..59, grown by
    75 / (0.243 * 64) = 4.82 px to 6..63: the 0.8 is a false positive, 31.4 um from the lesion's edge. At the
    heatmap's 4 um/px (wsiseg before) the lesion covered columns 19..116, grown by 9.375 px to 125: a hit.
    """
    heatmap = np.zeros((150, 150))
    heatmap[70, 70], heatmap[70, 124] = 0.6, 0.8
    square = np.array([[320, 320], [1920, 320], [1920, 1920], [320, 1920]], float)
    xml = write_asap_xml(tmp_path / "tumor_001.xml", [Annotation("lesion", "metastases", "tumor", square)])
    return DetectionSlide(heatmap_record(tmp_path, "tumor_001", heatmap), "macro", xml, 0.8)


def test_the_evaluation_mask_is_at_level_5_of_the_slide(tumour):
    hits = lesion_hits(tumour.heatmap, tumour.annotation, DetectionSettings())
    assert hits.fp_probs.tolist() == [np.float16(0.8)] and hits.tp_probs.tolist() == [np.float16(0.6)]
    # level 4 (3.888 um/px): columns 20..119 grown by 9.645 px to 128, and int(2049.4 / 16) = 128: a hit
    finer = lesion_hits(tumour.heatmap, tumour.annotation, DetectionSettings(level=4))
    assert finer.fp_probs.tolist() == [] and finer.tp_probs.tolist() == [np.float16(0.8)]
    # a negative slide (no annotation): both detections are false positives
    normal = lesion_hits(tumour.heatmap, None, DetectionSettings())
    assert sorted(normal.fp_probs.tolist()) == [np.float16(0.6), np.float16(0.8)] and normal.tp_probs.size == 0


def test_the_score_follows_the_sweep_setting(tumour):
    # official: thresholds 0.6 (the lowest, skipped) and 0.8 -> (FP, TP) = (1, 0), then (0, 0): sensitivity 0
    official = detection_scores([tumour], DetectionSettings())
    assert official.as_dict() == {
        "slides": 1, "auc_slides": 1, "scope": "", "froc": 0.0,
        "froc_at": dict.fromkeys((0.25, 0.5, 1.0, 2.0, 4.0, 8.0), 0.0), "lesions": 1, "froc_sweep": "official",
    }  # fmt: skip
    # all: 0.6 -> (1, 1), 0.8 -> (1, 0), then (0, 0): 0 at 1/4 and 1/2, 1 from 1 FP per slide on: 4/6
    every = detection_scores([tumour], DetectionSettings(sweep="all"))
    assert every.curve.score == pytest.approx(4 / 6) and every.as_dict()["froc_sweep"] == "all"


def test_the_auc_counts_every_slide_of_known_tumour_and_the_froc_the_annotated_ones(tumour, tmp_path):
    blank = heatmap_record(tmp_path, "normal", np.zeros((150, 150)))
    proba = {"negative": [0.2, 0.1, 0.3, 0.4], "n1": [0.9, 0.1, 0.0, 0.0], "n2": [0.7, 0.3, 0.0, 0.0]}
    slides = [
        DetectionSlide(tumour.heatmap, "macro", tumour.annotation, 0.5, np.array(proba["negative"])),
        DetectionSlide(blank, "negative", None, 0.2, np.array(proba["n1"])),
        DetectionSlide(blank, "negative", None, 0.6, np.array(proba["n2"])),
        DetectionSlide(blank, "micro", None, 0.9, np.array(proba["n1"])),  # tumour, no annotation: AUC, no FROC
        DetectionSlide(blank, None, None, 0.9, np.array(proba["n1"])),  # unknown: left out
    ]
    result = detection_scores(slides, DetectionSettings())
    # max_prob: tumours 0.5 and 0.9 against negatives 0.2 and 0.6: 3 of 4 pairs in order, AUC 3/4; classifier,
    # P(tumour) 0.8 and 0.1 against 0.1 and 0.3: 2 pairs in order, one tie (1/2), one not: AUC 2.5/4
    assert (result.slides, result.auc_max_prob, result.auc_classifier) == (3, 0.75, 0.625)
    assert result.auc_slides == 4 and result.curve.n_slides == 3 and result.curve.n_lesions == 1
    no_proba = detection_scores(
        [DetectionSlide(s.heatmap, s.label, s.annotation, s.max_prob) for s in slides], DetectionSettings()
    )
    assert no_proba.auc_classifier is None and "auc_classifier" not in no_proba.as_dict()
    assert detection_scores(slides[3:], DetectionSettings()).as_dict() == {"slides": 0, "auc_slides": 1, "scope": ""}


def test_a_test_slide_known_as_tumour_only_counts_in_the_auc(tumour, tmp_path):
    """CAMELYON16's reference says Tumor without a size class: the slide has no label but is a tumour slide."""
    blank = heatmap_record(tmp_path, "normal", np.zeros((150, 150)))
    slides = [DetectionSlide(blank, None, None, 0.9, has_tumour=True), DetectionSlide(blank, "negative", None, 0.3)]
    result = detection_scores(slides, DetectionSettings(), n_boot=200)
    assert (result.auc_slides, result.auc_max_prob, result.slides) == (2, 1.0, 1)
    assert result.auc_max_prob_ci is not None and result.auc_max_prob_ci.n_boot == 200


def test_settings_are_checked():
    with pytest.raises(ValueError, match="unknown FROC sweep 'every'"):
        DetectionSettings(sweep="every")
    with pytest.raises(ValueError, match="level must be 0 or more"):
        DetectionSettings(level=-1)
