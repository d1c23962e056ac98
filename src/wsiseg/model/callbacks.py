"""Callbacks of the segmentation training: prediction pictures in TensorBoard, the run config in checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from wsiseg.model.checkpoint import read_checkpoint, spec_of_run
from wsiseg.model.mosaic import prediction_grid
from wsiseg.model.plain import find_non_plain
from wsiseg.model.spec import CONFIG_KEY, MODEL_KEY
from wsiseg.tissue import TissueParams

PROVENANCE_KEY = "wsiseg_provenance"


class PredictionGridLogger(pl.Callback):
    """Log a grid of validation predictions (patch | mask | probability | overlay) to TensorBoard.

    Reads ``pl_module.val_examples`` (see :class:`~wsiseg.model.module.SegmentationModule`) at the end of
    validation on global rank 0 and writes it, as ``val/examples``, with every ``TensorBoardLogger`` of the
    trainer. Does nothing without such a logger or without examples, and during the sanity check.

    Args:
        max_images: Rows (examples) in the grid.
        every_n_epochs: Log every n-th epoch.
        overlay: Add the overlay column.

    Raises:
        ValueError: If ``max_images`` or ``every_n_epochs`` is < 1.
    """

    def __init__(self, max_images: int = 8, every_n_epochs: int = 1, overlay: bool = True) -> None:
        if max_images < 1 or every_n_epochs < 1:
            raise ValueError(f"max_images and every_n_epochs must be >= 1, got {max_images}, {every_n_epochs}")
        self.max_images = max_images
        self.every_n_epochs = every_n_epochs
        self.overlay = overlay

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write the grid of the epoch's last validation batch."""
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.current_epoch % self.every_n_epochs:
            return
        loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
        examples = getattr(pl_module, "val_examples", None)
        if not loggers or not examples:
            return
        n = self.max_images
        grid = prediction_grid(examples["image"][:n], examples["mask"][:n], examples["prob"][:n], self.overlay)
        for logger in loggers:
            logger.experiment.add_image("val/examples", grid, global_step=trainer.global_step)  # (3, H', W')


class ConfigInCheckpoint(pl.Callback):
    """Store the model record, the resolved run config and the run record in every checkpoint.

    - ``"wsiseg_model"``: the :class:`~wsiseg.model.spec.ModelSpec` (network name and arguments, input
      resolution, tile size, patient split, the tissue detector's settings) from which
      :func:`~wsiseg.model.load_model` rebuilds the module;
    - ``"wsiseg_config"``: the resolved config, for people and provenance (never instantiated from the file);
    - ``"wsiseg_provenance"``: versions, git revision, seed.

    Callback hooks do not run for checkpoints saved with ``ModelCheckpoint(save_weights_only=True)``, so those
    checkpoints lack all three.

    Args:
        config: The resolved config as plain python values (e.g. ``OmegaConf.to_container(cfg, resolve=True)``).
        provenance: The run record (:func:`wsiseg.provenance.run_record`), stored as ``"wsiseg_provenance"``.
        input_mpp: um/px of the network input, when the trainer's datamodule does not tell
            (a :class:`~wsiseg.data.PatchDataModule` does).
        tile_size: Network input side in pixels, likewise.
        tissue: The tissue detector's settings of the training patches, likewise.

    Raises:
        TypeError: If ``config`` is not a dict of plain values (needed for ``weights_only`` loading).
    """

    def __init__(
        self,
        config: dict[str, Any],
        provenance: dict[str, Any] | None = None,
        input_mpp: float | None = None,
        tile_size: int | None = None,
        tissue: TissueParams | None = None,
    ) -> None:
        if not isinstance(config, dict):
            raise TypeError(f"config must be a plain dict, got {type(config).__name__}")
        bad = find_non_plain(config)
        if bad is not None:
            raise TypeError(f"config must hold plain python values only (resolve it first); found {bad}")
        self.config = config
        self.provenance = provenance
        self.given = {"input_mpp": input_mpp, "tile_size": tile_size, "tissue": tissue}

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Add the model record, the config and the run record (versions, git revision, seed)."""
        spec = spec_of_run(trainer, pl_module, **self.given)
        if spec is not None:
            checkpoint[MODEL_KEY] = spec.to_dict()
        checkpoint[CONFIG_KEY] = self.config
        if self.provenance is not None:
            checkpoint[PROVENANCE_KEY] = self.provenance


def load_config_from_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read the run config stored by :class:`ConfigInCheckpoint` (weights-only load), for reading only.

    Args:
        path: A Lightning checkpoint file.

    Returns:
        The config dict. Rebuild a network with :func:`~wsiseg.model.load_model`, never from this config.

    Raises:
        KeyError: If the checkpoint has no stored config.
        CheckpointError: If it is not a weights-only checkpoint (see :func:`~wsiseg.model.read_checkpoint`).
    """
    checkpoint = read_checkpoint(path)
    if CONFIG_KEY not in checkpoint:
        raise KeyError(f"{path} has no {CONFIG_KEY!r}; was it saved with ConfigInCheckpoint (and not weights-only)?")
    return checkpoint[CONFIG_KEY]
