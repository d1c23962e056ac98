"""Stage 2: U-Net patch segmentation as a Lightning system (paper sections 2 and 3.2).

:class:`UNet` is the network (64 channels, depth 4, batch norm and dropout in the paper),
:class:`SegmentationModule` trains and applies it on dict batches of [0, 1] images, and the callbacks log
prediction pictures and keep the run config inside checkpoints for the prediction stage.
"""

from __future__ import annotations

from wsiseg.model.callbacks import ConfigInCheckpoint, PredictionGridLogger, load_config_from_checkpoint
from wsiseg.model.losses import BCEDiceLoss
from wsiseg.model.module import SegmentationModule
from wsiseg.model.unet import UNet

__all__ = [
    "BCEDiceLoss",
    "ConfigInCheckpoint",
    "PredictionGridLogger",
    "SegmentationModule",
    "UNet",
    "load_config_from_checkpoint",
]
