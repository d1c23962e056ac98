"""stage.py's FROC: detections from a heatmap, the evaluation mask at level 5 of the slide, the official sweep."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.features import HeatmapRecord
from wsiseg.tasks.stage import SlideRow, _detection_metrics, _lesion_hits

SLIDE_MPP, HEATMAP_MPP = 0.243, 4.0


@pytest.fixture
def row(tmp_path):
    """A tumour slide: a 389 um square lesion (level-0 x, y in [320, 1920)), a hit in it, a response beside it.

    The heatmap (4 um/px) is 0.6 at pixel (70, 70) (282 um: inside) and 0.8 at (70, 124): x = 498 um, level-0
    x = 2049.4, level-5 column int(2049.4 / 32) = 64. The lesion covers level-5 columns 10..59, grown by
    75 / (0.243 * 64) = 4.82 px to 6..63: the 0.8 is a false positive, 31.4 um from the lesion's edge. At the
    heatmap's 4 um/px (wsiseg before) the lesion covered columns 19..116, grown by 9.375 px to 125: a hit.
    """
    heatmap = np.zeros((150, 150), np.float16)
    heatmap[70, 70], heatmap[70, 124] = 0.6, 0.8
    np.save(tmp_path / "h.npy", heatmap)
    np.save(tmp_path / "t.npy", np.ones((150, 150), bool))
    square = np.array([[320, 320], [1920, 320], [1920, 1920], [320, 1920]], float)
    xml = write_asap_xml(tmp_path / "tumor_001.xml", [Annotation("lesion", "metastases", "tumor", square)])
    record = HeatmapRecord(
        "tumor_001", "tumor_001.tif", tmp_path / "h.npy", tmp_path / "t.npy", HEATMAP_MPP, SLIDE_MPP, tmp_path / "x"
    )
    return SlideRow(record, "tumor_001", "camelyon16", label="macro", annotation=xml)


def settings(**extra):
    return OmegaConf.create({"threshold": 0.5, "merge_um": 75, "sweep": "official", "level": 5, "l0_mpp": None} | extra)


def test_the_evaluation_mask_is_at_level_5_of_the_slide(row):
    hits = _lesion_hits(row, settings())
    assert hits.fp_probs.tolist() == [np.float16(0.8)] and hits.tp_probs.tolist() == [np.float16(0.6)]
    # level 4 (3.888 um/px): columns 20..119 grown by 9.645 px to 128, and int(2049.4 / 16) = 128: a hit
    finer = _lesion_hits(row, settings(level=4))
    assert finer.fp_probs.tolist() == [] and finer.tp_probs.tolist() == [np.float16(0.8)]


def test_the_score_follows_the_sweep_setting(row, tmp_path):
    # official: thresholds 0.6 (the lowest, skipped) and 0.8 -> (FP, TP) = (1, 0), then (0, 0): sensitivity 0
    official = _detection_metrics([row], settings(), tmp_path)
    assert official["froc"] == 0.0 and official["froc_sweep"] == "official" and official["lesions"] == 1
    # all: 0.6 -> (1, 1), 0.8 -> (1, 0), then (0, 0): 0 at 1/4 and 1/2, 1 from 1 FP per slide on: 4/6
    every = _detection_metrics([row], settings(sweep="all"), tmp_path)
    assert every["froc"] == pytest.approx(4 / 6) and every["froc_sweep"] == "all"
    assert (tmp_path / "froc.png").is_file()
