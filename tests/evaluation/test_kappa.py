import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from wsiseg.errors import LabelError
from wsiseg.evaluation import camelyon17_kappa, read_patient_stages, stage_kappa
from wsiseg.evaluation.kappa import quadratic_kappa_of_confusions
from wsiseg.labels import PN_STAGES, read_stage_labels, write_stage_labels


def write(path, stages: dict[str, str], nodes: bool = False):
    lines = ["patient,stage"]
    for patient, stage in stages.items():
        lines.append(f"{patient}.zip,{stage}")
        lines += [f"{patient}_node_{i}.tif,negative" for i in range(5)] if nodes else []
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_labels_against_themselves_score_one(reference):
    labels = reference / "camelyon17_stage_labels.csv"
    assert camelyon17_kappa(labels, labels) == 1.0


def test_the_public_five_patient_example_and_the_label_order_pitfall(tmp_path):
    patients = [f"patient_{i:03d}" for i in range(5)]
    truth = write(tmp_path / "ref.csv", dict(zip(patients, PN_STAGES, strict=True)))
    guess = ["pN0", "pN0(i+)", "pN0(i+)", "pN1", "pN1"]
    sub = write(tmp_path / "sub.csv", dict(zip(patients, guess, strict=True)))
    assert camelyon17_kappa(truth, sub) == pytest.approx(0.8889, abs=1e-4)
    assert cohen_kappa_score(list(PN_STAGES), guess, weights="quadratic") == pytest.approx(0.5)  # alphabetical: wrong


@pytest.mark.parametrize("seed", range(5))
def test_equals_scikit_learn_with_the_ordinal_labels(reference, tmp_path, seed):
    """Random perturbations of the real labels, node rows included, shuffled row order."""
    rng = np.random.default_rng(seed)
    truth = {p.patient: p.stage for p in read_stage_labels(reference / "camelyon17_stage_labels.csv")}
    guess = {p: (s if rng.random() < 0.7 else str(rng.choice(PN_STAGES))) for p, s in truth.items()}
    order = list(guess)
    rng.shuffle(order)
    sub = write(tmp_path / "sub.csv", {p.upper(): guess[p] for p in order}, nodes=True)
    expected = cohen_kappa_score(
        list(truth.values()), [guess[p] for p in truth], labels=list(PN_STAGES), weights="quadratic"
    )
    assert camelyon17_kappa(reference / "camelyon17_stage_labels.csv", sub) == pytest.approx(expected)


def test_missing_patient_is_a_clear_error(reference, tmp_path):
    stages = read_patient_stages(reference / "camelyon17_stage_labels.csv")
    del stages["patient_042"]
    sub = write(tmp_path / "sub.csv", stages)
    with pytest.raises(LabelError, match="sub.csv.*1 patients of the reference are missing: patient_042"):
        camelyon17_kappa(reference / "camelyon17_stage_labels.csv", sub)


def test_stages_in_any_letter_case_score_as_the_official_spelling(tmp_path):
    # evaluate.py lower-cases both stage columns ("pn0", "pn0(i+)", ...): PN1 and pn0(i+) are pN1 and pN0(i+).
    # The five-patient example by hand: reference pN0 .. pN2 (classes 0..4), submission classes 0, 1, 1, 3, 3;
    # quadratic weights (i - j)^2 / 16; observed sum w * O = (1 + 1) / 16; expected, with the submission's
    # class counts 1, 2, 0, 2, 0: (30 * 1 + 15 * 2 + 15 * 2) / (16 * 5) = 9 / 8; kappa = 1 - (1/8) / (9/8) = 8/9
    patients = [f"patient_{i:03d}" for i in range(5)]
    truth = write(tmp_path / "ref.csv", dict(zip(patients, ["PN0", "pn0(I+)", "pN1MI", "pn1", "PN2"], strict=True)))
    guess = ["pn0", "PN0(i+)", "pN0(i+)", "PN1", " pn1 "]
    sub = write(tmp_path / "sub.csv", dict(zip(patients, guess, strict=True)))
    assert read_patient_stages(sub) == dict(zip(patients, ["pN0", "pN0(i+)", "pN0(i+)", "pN1", "pN1"], strict=True))
    assert camelyon17_kappa(truth, sub) == pytest.approx(8 / 9)
    assert camelyon17_kappa(sub, sub) == 1.0


def test_bad_spelling_and_duplicates(tmp_path):
    with pytest.raises(LabelError, match=r"a.csv: line 2: unknown pN stage 'pN3'; expected one of .*any letter case"):
        read_patient_stages(write(tmp_path / "a.csv", {"patient_000": "pN3"}))
    path = tmp_path / "b.csv"
    path.write_text("patient,stage\npatient_000.zip,pN0\npatient_001.zip,pN0\nPATIENT_000.zip,PN0\n")
    # a patient twice is ambiguous even with the same stage: refused, both lines named
    with pytest.raises(LabelError, match=r"b.csv: line 4: patient_000 is listed twice \(first on line 2\)"):
        read_patient_stages(path)


def test_a_written_submission_scores_with_its_node_rows(reference, tmp_path):
    patients = read_stage_labels(reference / "camelyon17_stage_labels.csv")
    out = write_stage_labels(tmp_path / "submission.csv", patients)
    assert camelyon17_kappa(reference / "camelyon17_stage_labels.csv", out) == 1.0


def test_patients_restrict_the_score(reference, tmp_path):
    patients = read_stage_labels(reference / "camelyon17_stage_labels.csv")
    wrong = [type(p)(p.patient, "pN2" if p.stage == "pN0" else p.stage, p.nodes) for p in patients]
    sub = write_stage_labels(tmp_path / "sub.csv", wrong)
    ref = reference / "camelyon17_stage_labels.csv"
    right = [p.patient for p in patients if p.stage != "pN0"]
    assert camelyon17_kappa(ref, sub, patients=right) == 1.0
    assert camelyon17_kappa(ref, sub) < 0.5
    with pytest.raises(LabelError, match="not in the reference"):
        camelyon17_kappa(ref, sub, patients=["patient_999"])


def test_the_vectorised_kappa_of_confusions_equals_stage_kappa():
    rng = np.random.default_rng(0)
    reference = [list(rng.choice(PN_STAGES, size=n, p=[0.5, 0.1, 0.15, 0.2, 0.05])) for n in rng.integers(1, 20, 300)]
    predicted = [[s if rng.random() < 0.6 else rng.choice(PN_STAGES) for s in r] for r in reference]
    reference += [["pN1"] * 4, ["pN0"] * 3]  # one and the same stage everywhere: undefined (NaN)
    predicted += [["pN1"] * 4, ["pN0"] * 3]
    confusions = np.zeros((len(reference), 5, 5))
    for b, (ref, pred) in enumerate(zip(reference, predicted, strict=True)):
        for r, p in zip(ref, pred, strict=True):
            confusions[b, PN_STAGES.index(r), PN_STAGES.index(p)] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on the undefined ones
        expected = np.array([stage_kappa(r, p) for r, p in zip(reference, predicted, strict=True)])
    got = quadratic_kappa_of_confusions(confusions)
    assert np.isnan(got[-2:]).all() and np.isnan(expected[-2:]).all()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, equal_nan=True)
    assert np.isfinite(got[:-2]).sum() > 250  # most draws are defined: the comparison is real
