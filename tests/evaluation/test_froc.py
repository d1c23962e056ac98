import numpy as np
import pytest

from wsiseg.evaluation import EVAL_FPS, SlideHits, evaluation_mask, froc, itc_lesions, slide_hits

MPP = 5.0  # um per mask pixel


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


def um(row, col):
    return ((col + 0.5) * MPP, (row + 0.5) * MPP)


def test_slide_hits_ignores_itc_keeps_best_hit_and_counts_misses():
    lesions = evaluation_mask(lesion_mask(), MPP)
    detections = np.array(
        [
            [*um(100, 100), 0.7],
            [*um(110, 95), 0.9],  # second hit on the same lesion: the best one counts, not a false positive
            [*um(80, 300), 0.95],  # on the ITC: ignored
            [*um(200, 20), 0.4],  # background: false positive
            [*um(5000, 5000), 0.2],  # outside the mask: false positive
        ]
    )
    hits = slide_hits(detections, lesions, MPP)
    assert sorted(hits.fp_probs) == [0.2, 0.4]
    assert sorted(hits.tp_probs) == [0.0, 0.9]  # the lesion at (300, 300) was missed
    normal = slide_hits(detections, None, MPP)
    assert len(normal.fp_probs) == 5 and len(normal.tp_probs) == 0


def test_froc_hand_made_case_with_known_answer():
    # slide A: two lesions hit at 0.9 and 0.4, a false positive at 0.6; B, C: normal with FPs 0.3 / 0.5, 0.2
    # thresholds 0.2 0.3 0.4 0.5 0.6 0.9 give FPs 4 3 2 2 1 0 and TPs 2 2 2 1 1 1, then (0, 0)
    # FP/slide: 4/3, 1, 2/3, 2/3, 1/3, 0, 0; sensitivity 1, 1, 1, .5, .5, .5, 0
    # read at 1/4, 1/2 -> 0.5; at 1, 2, 4, 8 -> 1: score = 5/6
    result = froc(
        [
            SlideHits(np.array([0.6]), np.array([0.9, 0.4])),
            SlideHits(np.array([0.3]), np.zeros(0)),
            SlideHits(np.array([0.5, 0.2]), np.zeros(0)),
        ]
    )
    np.testing.assert_allclose(result.fps_per_slide, [4 / 3, 1, 2 / 3, 2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(result.sensitivity, [1, 1, 1, 0.5, 0.5, 0.5, 0])
    assert result.at == pytest.approx(dict(zip(EVAL_FPS, [0.5, 0.5, 1, 1, 1, 1], strict=True)))
    assert result.score == pytest.approx(5 / 6)
    assert (result.n_slides, result.n_lesions) == (3, 2)


def test_froc_perfect_and_undefined():
    perfect = froc([SlideHits(np.zeros(0), np.array([0.8, 0.9])), SlideHits(np.zeros(0), np.zeros(0))])
    assert perfect.score == pytest.approx(1.0)
    none = froc([SlideHits(np.array([0.5]), np.zeros(0))])
    assert np.isnan(none.score)
    with pytest.raises(ValueError):
        froc([])


def test_lowest_detection_is_kept_when_nothing_is_missed():
    # the official script drops the lowest probability (meant to be a missed lesion's 0): not a real one here
    result = froc([SlideHits(np.zeros(0), np.array([0.8, 0.9]))])
    assert result.sensitivity[0] == 1.0 and result.score == 1.0
