"""segmentation_models_pytorch networks (U-Net, U-Net++, FPN, DeepLabV3+) on any smp or timm encoder.

CAMELYON17's best teams segmented with ImageNet-pretrained ResNet-type encoders; :class:`SmpNetwork` gives
wsiseg those networks with the record a checkpoint needs: the architecture and the encoder are names from
allow-lists (smp's encoders, or ``tu-<timm model>``), every other argument a plain value. Pretrained encoder
weights come from a local file or the Hugging Face cache (:mod:`wsiseg.model.weights`) when the network is built
for training; they are not part of the record (the checkpoint's weights are).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from wsiseg.model.vision import vision_libraries
from wsiseg.model.weights import load_encoder_weights, resolve_weights

#: The architectures a checkpoint may name (smp class names).
ARCHITECTURES = ("Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus")
TIMM_PREFIX = "tu-"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def timm_model_known(name: str) -> bool:
    """Whether ``name`` (optionally with a ``.tag``) is one of timm's architectures."""
    timm, _ = vision_libraries()
    return bool(timm.list_models(name.split(".", 1)[0]))


def check_encoder(encoder: Any) -> str:
    """``encoder`` if it is one of smp's encoders or ``tu-<timm architecture>``.

    Raises:
        ValueError: Anything else.
    """
    _, smp = vision_libraries()
    if isinstance(encoder, str) and encoder.startswith(TIMM_PREFIX) and timm_model_known(encoder[len(TIMM_PREFIX) :]):
        return encoder
    if isinstance(encoder, str) and encoder in smp.encoders.get_encoder_names():
        return encoder
    raise ValueError(
        f"encoder {encoder!r} is neither one of segmentation_models_pytorch's encoders "
        f"(smp.encoders.get_encoder_names()) nor tu-<a timm architecture> (timm.list_models())"
    )


class SmpNetwork(nn.Module):
    """A segmentation_models_pytorch network: ``arch`` on ``encoder``, logits at the input's size.

    Args:
        arch: One of :data:`ARCHITECTURES`.
        encoder: An smp encoder name (``resnet34``, ``efficientnet-b0``, ...) or ``tu-<timm model>`` (any timm
            model with feature maps: ``tu-resnet18``, ``tu-convnext_tiny``, ...).
        encoder_depth: Down-samplings of the encoder (3 to 5); the input side must be a multiple of
            ``2**encoder_depth`` (DeepLabV3+: of its output stride).
        decoder_width: Channels of the decoder's finest stage (U-Net / U-Net++: the stages have ``w * 2**i``;
            FPN and DeepLabV3+: the decoder's width); ``None``: smp's defaults.
        dropout: ``Dropout2d`` on the decoder's output, before the segmentation head (0: none).
        in_channels: Input channels.
        num_classes: Output channels (logits).
        weights: Pretrained encoder weights for training: a local file or ``hf-hub:<org>/<repo>`` in the Hugging
            Face cache (never downloaded); ``None``: random initialisation. Not recorded in checkpoints.
    """

    def __init__(
        self,
        arch: str = "Unet",
        encoder: str = "resnet34",
        encoder_depth: int = 5,
        decoder_width: int | None = None,
        dropout: float = 0.0,
        in_channels: int = 3,
        num_classes: int = 1,
        weights: str | None = None,
    ) -> None:
        super().__init__()
        self.check_kwargs(
            dict(arch=arch, encoder=encoder, encoder_depth=encoder_depth, decoder_width=decoder_width, dropout=dropout)
        )
        _, smp = vision_libraries()
        #: The constructor's arguments, stored in checkpoints to rebuild the network (plain values; no weights).
        self.init_kwargs = dict(
            arch=arch, encoder=encoder, encoder_depth=encoder_depth, decoder_width=decoder_width, dropout=dropout,
            in_channels=in_channels, num_classes=num_classes,
        )  # fmt: skip
        kwargs: dict[str, Any] = {"encoder_name": encoder, "encoder_depth": encoder_depth, "encoder_weights": None}
        kwargs |= _decoder_kwargs(arch, decoder_width, encoder_depth)
        if weights is not None and encoder.startswith(TIMM_PREFIX):  # timm reads the file (weights-only)
            kwargs |= {"encoder_weights": "file", "pretrained_cfg_overlay": {"file": str(resolve_weights(weights))}}
        self.model = getattr(smp, arch)(in_channels=in_channels, classes=num_classes, **kwargs)
        if weights is not None and not encoder.startswith(TIMM_PREFIX):
            load_encoder_weights(self.model.encoder, weights)
        if dropout > 0:
            self.model.segmentation_head = nn.Sequential(
                OrderedDict(dropout=nn.Dropout2d(dropout), head=self.model.segmentation_head)
            )
        self.input_mean, self.input_std = _encoder_normalisation(encoder)

    @classmethod
    def check_kwargs(cls, kwargs: dict[str, Any]) -> None:
        """Refuse an architecture or encoder outside the allow-lists, or impossible values (``ValueError``)."""
        if "weights" in kwargs:
            raise ValueError("weights is a training-time source, never part of a stored record")
        if kwargs.get("arch", "Unet") not in ARCHITECTURES:
            raise ValueError(f"arch {kwargs.get('arch')!r} is not one of {ARCHITECTURES}")
        check_encoder(kwargs.get("encoder", "resnet34"))
        depth = kwargs.get("encoder_depth", 5)
        if not isinstance(depth, int) or not 3 <= depth <= 5:
            raise ValueError(f"encoder_depth must be 3, 4 or 5, got {depth!r}")
        if not 0.0 <= float(kwargs.get("dropout", 0.0)) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {kwargs.get('dropout')}")
        width = kwargs.get("decoder_width")
        if kwargs.get("arch") == "FPN" and width is not None and width % 32:
            raise ValueError(f"FPN's decoder normalises groups of 32 channels: decoder_width={width} must be a "
                             "multiple of 32")  # fmt: skip

    @property
    def backbone(self) -> nn.Module:
        """The encoder (what :class:`~pytorch_lightning.callbacks.BackboneFinetuning` freezes, then unfreezes)."""
        return self.model.encoder

    @property
    def input_multiple(self) -> int:
        """The input side must be a multiple of this."""
        stride = getattr(self.model.encoder, "output_stride", 2 ** self.init_kwargs["encoder_depth"])
        return int(max(stride, 2 ** self.init_kwargs["encoder_depth"]))

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ``ValueError`` unless both sides are multiples of :attr:`input_multiple`."""
        factor = self.input_multiple
        if height % factor or width % factor:
            raise ValueError(f"{self.init_kwargs['arch']}({self.init_kwargs['encoder']}, depth "
                             f"{self.init_kwargs['encoder_depth']}) needs sides divisible by {factor}, "
                             f"got {height}x{width}")  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes, H, W) of normalised images (B, C, H, W)."""
        return self.model(x)


def _decoder_kwargs(arch: str, width: int | None, depth: int) -> dict[str, Any]:
    if arch.startswith("Unet"):  # one stage a down-sampling, the finest of ``width`` (smp's default: 16)
        return {"decoder_channels": tuple((width or 16) * 2**i for i in reversed(range(depth)))}
    if width is None:
        return {}
    if arch == "FPN":
        return {"decoder_pyramid_channels": 2 * width, "decoder_segmentation_channels": width}
    return {"decoder_channels": width}


def _encoder_normalisation(encoder: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std the encoder's pretrained weights expect (timm's config, else ImageNet's)."""
    if encoder.startswith(TIMM_PREFIX):
        timm, _ = vision_libraries()
        try:
            cfg = timm.get_pretrained_cfg(encoder[len(TIMM_PREFIX) :].split(".", 1)[0])
        except RuntimeError:
            cfg = None
        if cfg is not None:
            return tuple(cfg.mean), tuple(cfg.std)
    return IMAGENET_MEAN, IMAGENET_STD
