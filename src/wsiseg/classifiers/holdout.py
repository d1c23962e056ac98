"""Which slides the slide classifier may fit: the U-Net's test patients are held out, read from its checkpoint.

With a classifier fitted earlier (:func:`score_unfitted`), every slide it did not fit is scored instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsiseg.classifiers.rows import SlideRow
from wsiseg.cohorts import SlideRecord
from wsiseg.errors import CheckpointError
from wsiseg.sampling import split_from_data_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRun:
    """The checkpoint behind the heatmaps and its TensorBoard folder, when known and still there."""

    checkpoint: Path | None = None
    tensorboard: Path | None = None

    def as_dict(self) -> dict[str, str]:
        """The known paths, by name."""
        return {k: str(v) for k, v in (("checkpoint", self.checkpoint), ("tensorboard", self.tensorboard)) if v}


def heatmaps_checkpoints(rows: Sequence[SlideRow]) -> tuple[Path, ...] | None:
    """The checkpoints that made every heatmap (an ensemble's members, or one), when all heatmaps name the same."""
    named = {r.heatmap.checkpoints for r in rows} - {()}
    return tuple(Path(p) for p in named.pop()) if len(named) == 1 else None


def load_checkpoints(checkpoints: Sequence[Path] | None, required: bool) -> list[dict[str, Any]] | None:
    """Every member's contents (see :func:`load_checkpoint`); ``None`` when one of them is unusable."""
    if not checkpoints:
        return None
    states = [load_checkpoint(c, required) for c in checkpoints]
    return None if any(s is None for s in states) else states


def load_checkpoint(checkpoint: Path | None, required: bool) -> dict[str, Any] | None:
    """The checkpoint's contents, loaded once, weights-only, with its model record checked.

    ``None`` when there is none, or when it is unreadable or refused and not ``required``.
    """
    if checkpoint is None or not checkpoint.is_file():
        return None
    from wsiseg.model.checkpoint import read_checkpoint, stored_split  # torch: only this path needs it

    try:
        state = read_checkpoint(checkpoint)
        stored_split(state, checkpoint)  # a crafted record is refused here, before anything is used
    except CheckpointError as err:
        if required:
            raise
        log.warning("not using the checkpoint: %s", err)
        return None
    return state


def checkpoint_split(
    checkpoint: Path, cohort: Sequence[SlideRecord] | None, state: dict[str, Any] | None = None
) -> dict[str, str]:
    """The patient split the U-Net was trained with.

    Read from the checkpoint's record (or ``PatchDataModule.state_dict`` of older checkpoints); for a
    checkpoint with neither, recomputed from its stored data config over the ``cohort``'s slides
    (:func:`~wsiseg.sampling.split_from_data_config`). ``state``: the checkpoint's contents when already loaded.

    Raises:
        FileNotFoundError: No such checkpoint.
        CheckpointError: The checkpoint is refused (pickled objects, a crafted model record).
        ValueError: It records no split and none can be recomputed.
    """
    from wsiseg.model.checkpoint import CONFIG_KEY, stored_split

    if state is None:
        state = load_checkpoint(checkpoint, required=True)
    if state is None:
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    saved = stored_split(state, checkpoint)
    if saved:
        return saved
    config = state.get(CONFIG_KEY)
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict) or cohort is None:
        raise ValueError(f"{checkpoint} records no patient split; run stage.py with holdout=none")
    try:
        return split_from_data_config(data, cohort)
    except ValueError as err:
        raise ValueError(f"{checkpoint} records no patient split and {err}; run stage.py with holdout=none") from err


def heldout_patients(
    checkpoints: Sequence[Path], cohort: Sequence[SlideRecord] | None, states: Sequence[dict[str, Any]]
) -> set[str]:
    """The patients no member of the model saw in training: in the test split of every member.

    One checkpoint: its test patients. An ensemble whose members were trained on other splits holds out only
    the patients all of them held out (a patient any member trained or validated on is not held out).
    """
    return _common_test([checkpoint_split(c, cohort, s) for c, s in zip(checkpoints, states, strict=True)])


def _common_test(splits: Sequence[dict[str, str]]) -> set[str]:
    tests = [{p for p, part in split.items() if part == "test"} for split in splits]
    common = set.intersection(*tests)
    if len(tests) > 1 and any(t != common for t in tests):
        log.warning("the ensemble's members hold out different patients (%s): only the %d held out by every "
                    "member are scored as held out", ", ".join(str(len(t)) for t in tests), len(common))  # fmt: skip
    return common


def mark_holdout(
    rows: Sequence[SlideRow], holdout: str, cohort: Sequence[SlideRecord] | None, checkpoints: Sequence[Path] | None,
    states: Sequence[dict[str, Any]] | None,
) -> None:  # fmt: skip
    """Mark the slides of held-out patients (``holdout=checkpoint``) as ``test``, the U-Net's own as ``trained_on``.

    Held out: the patients of the U-Net's test split, and the test-set patients it never saw (in no split of the
    checkpoint: CAMELYON17's patients 100-199, CAMELYON16's ``test_XXX``). Other slides it never saw (e.g.
    CAMELYON16's normal slides when ``data.normal_from`` left them out) may fit the slide classifier.
    """
    if holdout == "none":
        return
    if holdout != "checkpoint":
        raise ValueError(f"holdout must be 'checkpoint' or 'none', got {holdout!r}")
    if not checkpoints:
        found = sorted({r.heatmap.checkpoints for r in rows})
        raise ValueError(f"holdout=checkpoint needs heatmaps from one model, found {found}; use holdout=none")
    if states is None:
        raise FileNotFoundError(f"the heatmaps' checkpoint is gone ({', '.join(map(str, checkpoints))}); "
                                "use holdout=none")  # fmt: skip
    splits = [checkpoint_split(c, cohort, s) for c, s in zip(checkpoints, states, strict=True)]
    held_out, trained = _common_test(splits), {p for split in splits for p, part in split.items() if part != "test"}
    for row in rows:
        row.trained_on = row.patient in trained
        unseen_test = row.subset == "testing" and not row.trained_on
        row.part = "test" if row.patient in held_out or unseen_test else "fit"
    patients = {r.patient for r in rows}
    tested = {r.patient for r in rows if r.part == "test"}
    log.info("held-out patients: %d of %d (the U-Net's test split, and the test-set patients it never saw)",
             len(tested), len(patients))  # fmt: skip


def training_run(checkpoints: Sequence[Path] | None, states: Sequence[dict[str, Any]] | None) -> TrainingRun:
    """The (first) checkpoint behind the heatmaps and its TensorBoard folder, when known and still there."""
    if not checkpoints or not states:
        return TrainingRun()
    from wsiseg.model.checkpoint import tensorboard_folder

    # absolute, like every other path of the report (predict.py records the checkpoint as it was given)
    return TrainingRun(Path(checkpoints[0]).resolve(), tensorboard_folder(states[0]))


def score_unfitted(rows: Sequence[SlideRow], fitted_on: Sequence[str], holdout: str) -> None:
    """With a classifier fitted earlier: every slide it did not fit is scored (``test``), none it did fit.

    Under ``holdout=checkpoint`` the slides whose patients the U-Net trained on stay unscored (``fit``) too.
    """
    seen = {name.lower() for name in fitted_on}
    for row in rows:
        in_sample = row.heatmap.name.lower() in seen or (holdout == "checkpoint" and row.trained_on)
        row.part = "fit" if in_sample else "test"
    scored = sum(r.part == "test" for r in rows)
    log.info("the fitted classifier scores %d of %d slides (%d it was fitted on)", scored, len(rows), len(seen))
