"""Stage 2: U-Net patch segmentation as a Lightning system (paper sections 2 and 3.2).

:class:`UNet` is the paper's network (64 channels, depth 4, batch norm and dropout); :class:`SmpNetwork`
(segmentation_models_pytorch: U-Net, U-Net++, FPN, DeepLabV3+ on smp or timm encoders) and :class:`ViTSegmenter`
(a timm ViT, e.g. a pathology foundation model, behind a light decoder) are the alternatives;
:class:`SegmentationModule` trains and applies it on dict batches of [0, 1] images, and the callbacks log
prediction pictures and keep a model record (plain values) inside checkpoints, from which :func:`load_model`
rebuilds the module for the prediction stage without running anything read from the file.
"""

from __future__ import annotations

from wsiseg.model.callbacks import ConfigInCheckpoint, PredictionGridLogger, load_config_from_checkpoint
from wsiseg.model.checkpoint import checkpoint_spec, load_model, read_checkpoint
from wsiseg.model.losses import BCEDiceLoss
from wsiseg.model.module import SegmentationModule
from wsiseg.model.smp import SmpNetwork
from wsiseg.model.spec import NETWORKS, ModelSpec, register_network
from wsiseg.model.stain_reference import StainReference
from wsiseg.model.unet import UNet
from wsiseg.model.vit import ViTSegmenter

__all__ = [
    "NETWORKS",
    "BCEDiceLoss",
    "ConfigInCheckpoint",
    "ModelSpec",
    "PredictionGridLogger",
    "SegmentationModule",
    "SmpNetwork",
    "StainReference",
    "UNet",
    "ViTSegmenter",
    "checkpoint_spec",
    "load_config_from_checkpoint",
    "load_model",
    "read_checkpoint",
    "register_network",
]
