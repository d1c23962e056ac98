"""The CAMELYON16 FROC against hand-computed values, each quirk of the official ``Evaluation_FROC.py`` on its own.

The official script (Camelyon16 organisers, ``computationalpathologygroup/Camelyon16``, ``Evaluation_FROC.py``)
keeps true-positive probabilities in ``np.zeros((max_label,), dtype=np.float32)``, false positives as Python
floats, and sweeps ``for Thresh in all_probs[1:]`` over ``all_probs = sorted(set(FPs + TPs))``.
"""

import numpy as np
import pytest

from wsiseg.annotations import Annotation, tumour_mask, write_asap_xml
from wsiseg.evaluation import (
    EVAL_FPS,
    SlideHits,
    evaluation_mask,
    froc,
    itc_lesions,
    slide_hits,
    slide_hits_at_level,
)

MPP = 5.0  # um per mask pixel
SLIDE_MPP = 0.243  # the official L0_RESOLUTION
LEVEL5_MPP = SLIDE_MPP * 32  # 7.776 um per level-5 pixel
F32_07 = 0.699999988079071  # float32(0.7)
F32_09 = 0.8999999761581421  # float32(0.9)
F32_04 = 0.4000000059604645  # float32(0.4)


def lesion_mask(shape=(400, 400)):
    mask = np.zeros(shape, bool)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    mask |= np.hypot(xx - 100, yy - 100) < 60  # 600 um across: counted
    mask |= np.hypot(xx - 300, yy - 300) < 60  # counted
    mask |= np.hypot(xx - 300, yy - 80) < 5  # 50 um (+75 um growth): an ITC
    return mask


def test_evaluation_mask_grows_merges_and_flags_itcs():
    lesions = evaluation_mask(lesion_mask(), MPP)
    assert lesions.max() == 3
    itc = itc_lesions(lesions, MPP)
    assert itc == {int(lesions[80, 300])}
    # growth by 37.5 um = 7.5 px: a pixel 7 px outside the rim is inside, 9 px outside is not
    assert lesions[100, 100 + 60 + 6] > 0 and lesions[100, 100 + 60 + 9] == 0
    # two 1-px lesions 60 um apart (< 75 um) merge into one
    two = np.zeros((50, 50), bool)
    two[25, 10] = two[25, 22] = True
    assert evaluation_mask(two, MPP).max() == 1
    assert evaluation_mask(np.zeros((9, 9), bool), MPP).max() == 0


def test_level_5_rules_are_in_level_5_pixels():
    # growth: distance < 75 / (0.243 * 2**5 * 2) = 4.8225 px, i.e. dx^2 + dy^2 <= 23: a single tumour pixel
    # becomes 9 + 2 * (9 + 9 + 7 + 5) = 69 pixels (columns dx = 0, +-1, +-2, +-3, +-4)
    one = np.zeros((21, 21), bool)
    one[10, 10] = True
    grown = evaluation_mask(one, LEVEL5_MPP)
    assert grown.sum() == 69 and grown[10, 14] and not grown[10, 15] and grown[13, 13] and not grown[14, 13]
    # ITC: major axis < 275 / (0.243 * 2**5) = 35.365 px (the official docstring's 35.36). A 30 x 5 px bar
    # has the axis 4 * sqrt((30^2 - 1) / 12) = 34.62 px: ITC; a 31 x 5 bar 35.78 px: counted
    bars = np.zeros((20, 80), np.int32)
    bars[2:7, 5:35] = 1
    bars[12:17, 5:36] = 2
    assert itc_lesions(bars, LEVEL5_MPP) == {1}


def level5_lesions():
    """Level-5 tumour: a 50 x 50 px block (cols / rows 10..59, grown to 6..63), a missed 50 x 50 block, an ITC."""
    tumour = np.zeros((200, 200), bool)
    tumour[10:60, 10:60] = True
    tumour[10:60, 120:170] = True  # never hit
    tumour[100:102, 100:102] = True  # 2 x 2 px, grown to about 11 px: an ITC
    return evaluation_mask(tumour, LEVEL5_MPP)


def test_slide_hits_read_the_mask_at_int_x_over_32():
    lesions = level5_lesions()
    detections = np.array(
        [
            [32 * 30 + 5, 32 * 30 + 5, 0.7],  # lesion 1
            [32 * 20, 32 * 20, 0.9],  # lesion 1 again: the best hit counts, the other is no false positive
            [32 * 100 + 16, 32 * 100 + 16, 0.95],  # on the ITC: ignored
            [32 * 63 + 31.9, 32 * 30, 0.3],  # int(2047.9 / 32) = 63, the grown lesion's last column: a hit
            [32 * 64, 32 * 30, 0.4],  # int(2048 / 32) = 64: outside, a false positive
            [-1, 100, 0.2],  # negative coordinates: a false positive
            [1e6, 1e6, 0.1],  # outside the mask: a false positive
        ]
    )
    hits = slide_hits(detections, lesions, LEVEL5_MPP, downsample=32)
    assert sorted(hits.fp_probs) == [0.1, 0.2, 0.4]
    assert sorted(hits.tp_probs) == [0.0, 0.9] and hits.n_itc == 1  # the second block was missed
    normal = slide_hits(detections, None, LEVEL5_MPP, downsample=32)
    assert len(normal.fp_probs) == 7 and len(normal.tp_probs) == 0 and normal.n_itc == 0


def test_the_evaluation_mask_is_at_level_5_of_the_slide(tmp_path):
    # a square lesion of level-0 x, y in [320, 1920) (389 um), rasterised at 32 level-0 px per pixel: pixel
    # centres (c + 0.5) * 32 inside -> columns 10..59; grown by 4.82 px -> columns 6..63; column 64 starts at
    # level-0 x = 2048. A detection at x = 2048.5 (31.2 um from the lesion's edge, under 37.5 um) is therefore a
    # false positive at level 5, as in the official script; at level 4 (16 px, 3.888 um/px, growth 9.645 px:
    # columns 20..119 grown to 128, which starts at x = 2048) it is a hit.
    square = np.array([[320, 320], [1920, 320], [1920, 1920], [320, 1920]], float)
    xml = write_asap_xml(tmp_path / "tumor_001.xml", [Annotation("lesion", "metastases", "tumor", square)])
    inside, edge, outside = (32 * 30, 32 * 30, 0.9), (2047.5, 1000.5, 0.5), (2048.5, 1000.5, 0.3)
    detections_um = np.array([inside, edge, outside]) * [SLIDE_MPP, SLIDE_MPP, 1]
    level5 = slide_hits_at_level(detections_um, tumour_mask(xml, (2600, 2600), 32), SLIDE_MPP)
    assert level5.fp_probs.tolist() == [0.3] and level5.tp_probs.tolist() == [0.9] and level5.n_itc == 0
    level4 = slide_hits_at_level(detections_um, tumour_mask(xml, (2600, 2600), 16), SLIDE_MPP, level=4)
    assert level4.fp_probs.tolist() == [] and level4.tp_probs.tolist() == [0.9]
    # the official script converts the rules with 0.243 um/px whatever the slide: on a 0.226 um/px slide the
    # slide's own mpp grows by 75 / (0.226 * 64) = 5.19 px (column 64 joins: a hit), l0_mpp=0.243 by 4.82 px
    slide_226 = np.array([[2048.5, 1000.5, 0.3]]) * [0.226, 0.226, 1]
    assert slide_hits_at_level(slide_226, tumour_mask(xml, (2600, 2600), 32), 0.226).tp_probs.tolist() == [0.3]
    official = slide_hits_at_level(slide_226, tumour_mask(xml, (2600, 2600), 32), 0.226, l0_mpp=0.243)
    assert official.fp_probs.tolist() == [0.3]


def test_hand_made_case_under_both_sweeps():
    # slide A: two lesions hit at 0.9 and 0.4, a false positive at 0.6; B, C: normal with FPs 0.3 / 0.5, 0.2
    hits = [
        SlideHits(np.array([0.6]), np.array([0.9, 0.4])),
        SlideHits(np.array([0.3]), np.zeros(0)),
        SlideHits(np.array([0.5, 0.2]), np.zeros(0)),
    ]
    # all: thresholds 0.2 0.3 0.4 0.5 0.6 0.9 give FPs 4 3 2 2 1 0 and TPs 2 2 2 1 1 1, then (0, 0)
    # FP/slide: 4/3, 1, 2/3, 2/3, 1/3, 0, 0; sensitivity 1, 1, 1, .5, .5, .5, 0
    # read at 1/4, 1/2 -> 0.5; at 1, 2, 4, 8 -> 1: score = 5/6
    every = froc(hits, sweep="all")
    np.testing.assert_allclose(every.fps_per_slide, [4 / 3, 1, 2 / 3, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(every.sensitivity, [1, 1, 1, 0.5, 0.5, 0.5, 0])
    assert every.at == pytest.approx(dict(zip(EVAL_FPS, [0.5, 0.5, 1, 1, 1, 1], strict=True)))
    assert every.score == pytest.approx(5 / 6) and every.sweep == "all"
    # official: the unique values 0.2, 0.3, f32(0.4), 0.5, 0.6, f32(0.9) without the lowest (0.2):
    # FPs 3 2 2 1 0, TPs 2 2 1 1 1, then (0, 0); FP/slide 1, 2/3, 2/3, 1/3, 0, 0; sensitivity 1, 1, .5, .5, .5, 0
    official = froc(hits)
    assert official.thresholds.tolist() == [0.3, F32_04, 0.5, 0.6, F32_09]
    np.testing.assert_allclose(official.fps_per_slide, [1, 2 / 3, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(official.sensitivity, [1, 1, 0.5, 0.5, 0.5, 0])
    assert official.score == pytest.approx(5 / 6) and official.sweep == "official"
    assert (official.n_slides, official.n_lesions) == (3, 2)


def test_the_lowest_probability_is_skipped_even_when_it_is_a_real_hit():
    # no missed lesion, no ITC: slide A hits its two lesions at 0.9 and 0.6, normal slide B has a FP at 0.8
    hits = [SlideHits(np.zeros(0), np.array([0.9, 0.6])), SlideHits(np.array([0.8]), np.zeros(0))]
    # official: f32(0.6), 0.8, f32(0.9) minus the lowest -> (FP, TP) = (1, 1), (0, 1), then (0, 0)
    # FP/slide .5, 0, 0; sensitivity .5, .5, 0: 0.5 at every rate
    official = froc(hits)
    assert official.thresholds.tolist() == [0.8, F32_09]
    np.testing.assert_allclose(official.fps_per_slide, [0.5, 0, 0])
    np.testing.assert_allclose(official.sensitivity, [0.5, 0.5, 0])
    assert official.score == pytest.approx(0.5)
    # all: 0.6, 0.8, 0.9 -> (1, 2), (1, 1), (0, 1), (0, 0): FP/slide .5, .5, 0, 0, sensitivity 1, .5, .5, 0;
    # 0.5 at 1/4 and 1 from 1/2 on: (0.5 + 5) / 6 = 0.9167
    every = froc(hits, sweep="all")
    np.testing.assert_allclose(every.sensitivity, [1, 0.5, 0.5, 0])
    assert every.score == pytest.approx(5.5 / 6)
    # an ITC on slide A puts a 0 in the pool: the 0 is skipped, the curve is the full one, and ITCs are no lesions
    with_itc = froc([SlideHits(np.zeros(0), np.array([0.9, 0.6]), n_itc=1), hits[1]])
    np.testing.assert_allclose(with_itc.sensitivity, [1, 0.5, 0.5, 0])
    assert with_itc.score == pytest.approx(5.5 / 6) and with_itc.n_lesions == 2
    # perfect only once a 0 is there to skip
    assert froc([SlideHits(np.zeros(0), np.array([0.8, 0.9]))]).score == pytest.approx(0.5)
    assert froc([SlideHits(np.zeros(0), np.array([0.8, 0.9]), n_itc=1)]).score == pytest.approx(1.0)
    assert froc([SlideHits(np.zeros(0), np.array([0.8, 0.9]))], sweep="all").score == pytest.approx(1.0)


def test_true_positives_are_float32_so_0_7_is_two_thresholds_and_0_5_one():
    # one slide, a lesion hit at p and a false positive at p, an ITC (its 0 is the skipped lowest value)
    # p = 0.7: f32(0.7) = 0.69999999 and 0.7 are two thresholds, both (FP, TP) = (1, 1): FP/slide 1, 1, 0
    seven = froc([SlideHits(np.array([0.7]), np.array([0.7]), n_itc=1)])
    assert seven.thresholds.tolist() == [F32_07, 0.7]
    np.testing.assert_allclose(seven.fps_per_slide, [1, 1, 0])
    np.testing.assert_allclose(seven.sensitivity, [1, 1, 0])
    # p = 0.5 is exact in float32: one threshold
    half = froc([SlideHits(np.array([0.5]), np.array([0.5]), n_itc=1)])
    assert half.thresholds.tolist() == [0.5]
    np.testing.assert_allclose(half.fps_per_slide, [1, 0])
    # both: the line (0, 0) - (1, 1): 0.25, 0.5, then 1 at 1, 2, 4, 8 -> 4.75 / 6
    assert seven.score == pytest.approx(4.75 / 6) and half.score == pytest.approx(4.75 / 6)


def test_a_tie_without_a_zero_to_skip():
    # no ITC, no miss; a hit and a false positive at the same p on one slide
    # 0.7: two thresholds f32(0.7) < 0.7; the first is skipped, 0.7 keeps (1, 1): score 4.75 / 6
    # (float64 hits would make a single threshold 0.7, skipped: only (0, 0), score 0)
    seven = froc([SlideHits(np.array([0.7]), np.array([0.7]))])
    assert seven.thresholds.tolist() == [0.7] and seven.score == pytest.approx(4.75 / 6)
    # 0.5: one threshold, skipped: the curve is the point (0, 0) alone, score 0
    half = froc([SlideHits(np.array([0.5]), np.array([0.5]))])
    assert half.thresholds.tolist() == [] and half.sensitivity.tolist() == [0.0] and half.score == 0.0
    assert froc([SlideHits(np.array([0.5]), np.array([0.5]))], sweep="all").score == pytest.approx(4.75 / 6)


def test_a_float32_hit_no_longer_beats_a_false_positive_just_below_it():
    # a hit at 0.7 (float32: 0.699999988) and a false positive at 0.69999999 (float64), an ITC's 0 skipped
    hits = [SlideHits(np.array([0.69999999]), np.array([0.7]), n_itc=1)]
    # official: thresholds 0.699999988 and 0.69999999; at the second the hit still counts, since
    # float32(0.69999999) = 0.699999988: (1, 1), (1, 1), (0, 0) -> 4.75 / 6
    official = froc(hits)
    assert official.thresholds.tolist() == [F32_07, 0.69999999]
    np.testing.assert_allclose(official.fps_per_slide, [1, 1, 0])
    np.testing.assert_allclose(official.sensitivity, [1, 1, 0])
    assert official.score == pytest.approx(4.75 / 6)
    # float64: 0.7 is above the false positive: (1, 1), (0, 1), (0, 0) -> sensitivity 1 at every rate
    every = froc(hits, sweep="all")
    np.testing.assert_allclose(every.fps_per_slide, [1, 0, 0])
    assert every.score == pytest.approx(1.0)


def test_undefined_and_bad_input():
    none = froc([SlideHits(np.array([0.5]), np.zeros(0))])
    assert np.isnan(none.score) and none.n_lesions == 0
    with pytest.raises(ValueError, match="at least one slide"):
        froc([])
    with pytest.raises(ValueError, match="unknown FROC sweep 'offical'; expected one of official, all"):
        froc([SlideHits(np.zeros(0), np.array([0.5]))], sweep="offical")  # type: ignore[arg-type]
