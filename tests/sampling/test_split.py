"""The patient split recomputed from a stored data config (checkpoints that record no split)."""

from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose_config
from wsiseg.cohorts import SlideRecord
from wsiseg.sampling import split_from_data_config
from wsiseg.sampling.split import SPLIT_KEYS

XML = Path("x.xml")


def record(slide, dataset, label, annotation=XML):
    has_tumour = None if label is None and dataset == "camelyon17" else label != "negative"
    return SlideRecord(slide, Path(slide), annotation, dataset, Path(slide).stem, label, has_tumour)


@pytest.fixture
def cohort():
    """10 negative and 5 annotated macro CAMELYON17 patients, one unannotated micro; 5 + 5 CAMELYON16 slides."""
    c17 = [record(f"p{i:02d}.tif", "camelyon17", "negative", None) for i in range(10)]
    c17 += [record(f"p{i:02d}.tif", "camelyon17", "macro") for i in range(10, 15)]
    c17 += [record("p15.tif", "camelyon17", "micro", None)]  # tumour without annotation: never sampled
    c16 = [record(f"normal_{i:03d}.tif", "camelyon16", "negative", None) for i in range(5)]
    c16 += [record(f"tumor_{i:03d}.tif", "camelyon16", None) for i in range(5)]
    return c17 + c16


DATA = {"tumour_from": ["camelyon16", "camelyon17"], "normal_from": ["camelyon17"], "val_fraction": 0.2,
        "test_fraction": 0.2, "split_seed": 0, "batch_size": 32}  # fmt: skip


def test_the_split_covers_the_training_slides_stratum_by_stratum(cohort):
    split = split_from_data_config(DATA, cohort)
    # CAMELYON16 normals are not in normal_from, p15 has no annotation: 20 patients in three strata of 5, 10, 5;
    # each stratum gives 20 % to test and 20 % to val: 1 + 2 + 1 of each
    assert set(split) == {f"p{i:02d}" for i in range(15)} | {f"tumor_{i:03d}" for i in range(5)}
    assert Counter(split.values()) == {"train": 12, "val": 4, "test": 4}
    for group in (range(10), range(10, 15)):
        assert Counter(split[f"p{i:02d}"] for i in group) == {"train": 3 * len(group) // 5, "val": len(group) // 5,
                                                              "test": len(group) // 5}  # fmt: skip
    assert Counter(split[f"tumor_{i:03d}"] for i in range(5)) == {"train": 3, "val": 1, "test": 1}
    assert split_from_data_config(dict(DATA), cohort) == split  # deterministic for a seed
    assert split_from_data_config(DATA | {"split_seed": 1}, cohort) != split


def test_the_cohorts_of_the_config_decide_the_slides(cohort):
    split = split_from_data_config(DATA | {"normal_from": ["camelyon16", "camelyon17"], "tumour_from": []}, cohort)
    assert set(split) == {f"p{i:02d}" for i in range(10)} | {f"normal_{i:03d}" for i in range(5)}


def test_a_config_without_the_split_keys_is_refused(cohort):
    with pytest.raises(ValueError, match="lacks split_seed: the patient split cannot be recomputed"):
        split_from_data_config({k: v for k, v in DATA.items() if k != "split_seed"}, cohort)


def test_todays_training_config_recomputes_the_same_split(cohort):
    data = OmegaConf.to_container(compose_config("train", ["paths.output_dir=unused"]).data, resolve=False)
    assert {"tumour_from", "normal_from"} <= set(data) and set(data["split"]) >= {"val_fraction", "test_fraction"}
    nested = {k: v for k, v in DATA.items() if k not in SPLIT_KEYS[2:]}
    nested["split"] = {"val_fraction": 0.2, "test_fraction": 0.2, "seed": 0}
    assert split_from_data_config(nested, cohort) == split_from_data_config(DATA, cohort)
    nested["split"]["seed"] = 1
    assert split_from_data_config(nested, cohort) == split_from_data_config(DATA | {"split_seed": 1}, cohort)
