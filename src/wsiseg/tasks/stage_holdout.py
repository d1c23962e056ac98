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


def heatmaps_checkpoint(rows: Sequence[SlideRow]) -> Path | None:
    """The checkpoint that made every heatmap, when they name exactly one."""
    checkpoints = {r.heatmap.checkpoint for r in rows} - {None}
    return Path(checkpoints.pop()) if len(checkpoints) == 1 else None


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


def mark_holdout(
    rows: Sequence[SlideRow], holdout: str, cohort: str | None, checkpoint: Path | None, state: dict[str, Any] | None
) -> None:
    """Mark the slides of held-out patients (``holdout=checkpoint``) as ``test``."""
    if holdout == "none":
        return
    if holdout != "checkpoint":
        raise ValueError(f"holdout must be 'checkpoint' or 'none', got {holdout!r}")
    if checkpoint is None:
        found = sorted({r.heatmap.checkpoint for r in rows} - {None})
        raise ValueError(f"holdout=checkpoint needs heatmaps from one checkpoint, found {found}; use holdout=none")
    if state is None:
        raise FileNotFoundError(f"the heatmaps' checkpoint {checkpoint} is gone; use holdout=none")
    split = checkpoint_split(checkpoint, cohort, state)
    for row in rows:
        row.part = "test" if split.get(row.patient) == "test" else "fit"
    log.info(
        "held-out patients (the U-Net's test split): %d of %d",
        len({r.patient for r in rows if r.part == "test"}),
        len({r.patient for r in rows}),
    )


def training_run(checkpoint: Path | None, state: dict[str, Any] | None) -> TrainingRun:
    """The checkpoint behind the heatmaps and its TensorBoard folder, when they are known and still there."""
    if checkpoint is None or state is None:
        return TrainingRun()
    from wsiseg.model.checkpoint import tensorboard_folder

    return TrainingRun(checkpoint, tensorboard_folder(state))
