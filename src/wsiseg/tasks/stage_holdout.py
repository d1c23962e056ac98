"""Which patients ``stage.py`` holds out: the U-Net's test patients, read from the heatmaps' checkpoint."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsiseg.errors import CheckpointError
from wsiseg.sampling import read_cohort, split_from_data_config
from wsiseg.tasks.stage_record import SlideRow, TrainingRun

log = logging.getLogger(__name__)


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
    checkpoint: Path, cohort: str | Path | None, state: dict[str, Any] | None = None
) -> dict[str, str]:
    """The patient split the U-Net was trained with.

    Read from the checkpoint's record (or ``PatchDataModule.state_dict`` of older checkpoints); for a
    checkpoint with neither, recomputed from its stored data config over ``cohort``
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
        return split_from_data_config(data, read_cohort(cohort))
    except ValueError as err:
        raise ValueError(f"{checkpoint} records no patient split and {err}; run stage.py with holdout=none") from err


def heldout_patients(
    checkpoints: Sequence[Path], cohort: str | Path | None, states: Sequence[dict[str, Any]]
) -> set[str]:
    """The patients no member of the model saw in training: in the test split of every member.

    One checkpoint: its test patients. An ensemble whose members were trained on other splits holds out only
    the patients all of them held out (a patient any member trained or validated on is not held out).
    """
    splits = [checkpoint_split(c, cohort, s) for c, s in zip(checkpoints, states, strict=True)]
    tests = [{p for p, part in split.items() if part == "test"} for split in splits]
    common = set.intersection(*tests)
    if len(tests) > 1 and any(t != common for t in tests):
        log.warning("the ensemble's members hold out different patients (%s): only the %d held out by every "
                    "member are scored as held out", ", ".join(str(len(t)) for t in tests), len(common))  # fmt: skip
    return common


def mark_holdout(
    rows: Sequence[SlideRow], holdout: str, cohort: str | None, checkpoints: Sequence[Path] | None,
    states: Sequence[dict[str, Any]] | None,
) -> None:  # fmt: skip
    """Mark the slides of held-out patients (``holdout=checkpoint``) as ``test``."""
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
    held_out = heldout_patients(checkpoints, cohort, states)
    for row in rows:
        row.part = "test" if row.patient in held_out else "fit"
    log.info(
        "held-out patients (the U-Net's test split): %d of %d",
        len({r.patient for r in rows if r.part == "test"}),
        len({r.patient for r in rows}),
    )


def training_run(checkpoints: Sequence[Path] | None, states: Sequence[dict[str, Any]] | None) -> TrainingRun:
    """The (first) checkpoint behind the heatmaps and its TensorBoard folder, when known and still there."""
    if not checkpoints or not states:
        return TrainingRun()
    from wsiseg.model.checkpoint import tensorboard_folder

    # absolute, like every other path of the report (predict.py records the checkpoint as it was given)
    return TrainingRun(Path(checkpoints[0]).resolve(), tensorboard_folder(states[0]))
