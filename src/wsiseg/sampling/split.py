"""Train / validation / test split by patient, stratified, deterministic for a seed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from wsiseg.cohorts import SlideRecord
from wsiseg.labels import SLIDE_LABELS
from wsiseg.sampling.selection import select_training_slides

Split = Literal["train", "val", "test"]
#: The data-config keys (``conf/data/*.yaml``) that decide the patient split.
SPLIT_KEYS = ("tumour_from", "normal_from", "val_fraction", "test_fraction", "split_seed")


@dataclass(frozen=True)
class SplitSpec:
    """Patients held out for validation (U-Net) and test (slide classifier / kappa).

    Attributes:
        val_fraction: share of patients for validation, per stratum.
        test_fraction: share of patients held out for testing, per stratum.
        seed: seed of the shuffle.
        test_centres: hold whole centres out instead: every slide of these centres is a test slide (a scanner
            and staining the model never saw); ``test_fraction`` must then be 0.
    """

    val_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    test_centres: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        """Check the fractions."""
        object.__setattr__(self, "test_centres", tuple(int(c) for c in self.test_centres))
        if not (
            0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1
        ):
            raise ValueError(f"val_fraction + test_fraction must be in [0, 1), got {self}")
        if self.test_centres and self.test_fraction:
            raise ValueError("test_centres holds whole centres out; set test_fraction to 0 with it")


def _stratum(slides: list[SlideRecord]) -> str:
    """A patient's stratum: its dataset and worst slide label (so every split sees every kind)."""
    worst = max((SLIDE_LABELS.index(s.label) for s in slides if s.label), default=-1)
    tumour = any(s.has_tumour for s in slides)
    return f"{slides[0].dataset}:{worst}:{tumour}"


def patient_split(records: Iterable[SlideRecord], spec: SplitSpec) -> dict[str, Split]:
    """Assign every patient to train, val or test.

    Patients are grouped by stratum (dataset and worst slide label), shuffled with ``spec.seed`` and dealt
    so that each stratum contributes about ``val_fraction`` / ``test_fraction`` of its patients; the
    fractional patients a stratum owes (or cannot give, being too small) are carried to the next one.
    Patients scanned at one of ``spec.test_centres`` are test patients before any of this.

    Returns:
        patient id -> split.
    """
    by_patient: dict[str, list[SlideRecord]] = defaultdict(list)
    for r in records:
        by_patient[r.patient].append(r)
    held = {p for p, slides in by_patient.items() if any(s.centre in spec.test_centres for s in slides)}
    assignment: dict[str, Split] = dict.fromkeys(sorted(held), "test")
    strata: dict[str, list[str]] = defaultdict(list)
    for patient in sorted(set(by_patient) - held):
        strata[_stratum(by_patient[patient])].append(patient)
    rng = np.random.default_rng(spec.seed)
    carry = {"val": 0.0, "test": 0.0}  # fractional patients owed across strata
    for key in sorted(strata):
        patients = list(rng.permutation(strata[key]))
        counts, room = {}, len(patients)
        for split, fraction in (("test", spec.test_fraction), ("val", spec.val_fraction)):
            exact = len(patients) * fraction + carry[split]
            counts[split] = min(int(np.floor(exact + 1e-9)), room)  # a stratum too small passes the rest on
            carry[split] = exact - counts[split]
            room -= counts[split]
        for i, patient in enumerate(patients):
            assignment[str(patient)] = (
                "test" if i < counts["test"] else "val" if i < counts["test"] + counts["val"] else "train"
            )
    return assignment


def split_from_data_config(data: Mapping[str, Any], records: Iterable[SlideRecord]) -> dict[str, Split]:
    """The patient split a datamodule with the data config ``data`` makes of the cohort ``records``.

    The split of a training run that recorded none (older checkpoints) is recomputed this way from the data
    config stored with it: the training slides (:func:`~wsiseg.sampling.selection.select_training_slides` with
    ``tumour_from`` / ``normal_from``) split by :func:`patient_split` with ``val_fraction``,
    ``test_fraction`` and ``split_seed`` (the older flat config), or with the ``split`` node
    (``val_fraction``, ``test_fraction``, ``seed``) of today's config.

    Args:
        data: a data config as plain values (other keys than :data:`SPLIT_KEYS` and ``split`` are ignored).
        records: the cohort the run was trained on.

    Raises:
        ValueError: ``data`` lacks one of :data:`SPLIT_KEYS`, or its fractions are out of range.
    """
    node = data.get("split")
    nested = isinstance(node, Mapping)  # today's config: data.split is a SplitSpec node
    missing = [key for key in (SPLIT_KEYS[:2] if nested else SPLIT_KEYS) if key not in data]
    if missing:
        raise ValueError(f"the data config lacks {', '.join(missing)}: the patient split cannot be recomputed")
    fields = ("val_fraction", "test_fraction", "seed", "test_centres")
    spec = (
        SplitSpec(**{k: node[k] for k in fields if k in node})
        if nested
        else SplitSpec(*(data[k] for k in SPLIT_KEYS[2:]))
    )
    chosen = select_training_slides(records, data["tumour_from"], data["normal_from"])
    return patient_split(chosen, spec)
