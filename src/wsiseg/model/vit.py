"""A ViT encoder (pathology foundation models: UNI, Virchow, H-optimus, ...) behind a light decoder.

Today's pathology models start from foundation-model encoders, all published as timm Vision Transformers
(UNI: ``vit_large_patch16_224``; UNI2-h and Virchow2: ``vit_huge_patch14_224`` with SwiGLU blocks; H-optimus-0:
``vit_giant_patch14_reg4_dinov2``). :class:`ViTSegmenter` reads the token maps of a few evenly spaced blocks
(``forward_intermediates``), projects them to one width, fuses them and up-samples back to the input with a
few convolutions, joined at full resolution by a shallow convolution of the image itself (a tumour cell spans a
few pixels; a 16 px token does not resolve it). The record holds the timm architecture and its overrides as
plain values (the architecture from timm's ``vit_*`` list; the MLP and activation from small allow-lists), never
the weights' source: weights come from a local file or the Hugging Face cache when training starts.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from wsiseg.model.vision import vision_libraries
from wsiseg.model.weights import resolve_weights

#: The transformer blocks' MLP a record may name: ``mlp`` (GELU, timm's default) or ``swiglu`` (SwiGLU with SiLU:
#: Virchow, UNI2-h).
MLPS = ("mlp", "swiglu")
#: Architecture overrides a record may hold (plain values), e.g. a tiny ViT for tests.
OVERRIDES = ("img_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "init_values", "reg_tokens", "no_embed_class")


def check_vit(encoder: Any) -> str:
    """``encoder`` if it is one of timm's Vision Transformer architectures (``vit_*``), else ``ValueError``."""
    timm, _ = vision_libraries()
    if isinstance(encoder, str) and encoder.startswith("vit_") and timm.list_models(encoder.split(".", 1)[0]):
        return encoder
    raise ValueError(f"encoder {encoder!r} is not one of timm's Vision Transformers (timm.list_models('vit_*'))")


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class ViTSegmenter(nn.Module):
    """A timm Vision Transformer encoder with a light convolutional decoder; logits at the input's size.

    Args:
        encoder: A timm ViT architecture (``vit_large_patch16_224`` for UNI, ``vit_small_patch16_224``, ...).
        layers: How many blocks' token maps the decoder reads (evenly spaced, the last included).
        decoder_width: Channels of the fused token maps (halved at every 2x up-sampling, at least 16).
        dropout: ``Dropout2d`` on the fused token maps (0: none).
        mlp: ``mlp`` (GELU) or ``swiglu`` (packed SwiGLU with SiLU: Virchow, UNI2-h).
        in_channels: Input channels.
        num_classes: Output channels (logits).
        weights: Pretrained encoder weights for training: a local file, or ``hf-hub:<org>/<repo>`` in the
            Hugging Face cache (never downloaded); ``None``: random initialisation. Not recorded in checkpoints.
        **overrides: Architecture values of :data:`OVERRIDES` (``init_values=1e-5`` for UNI; ``depth=2,
            embed_dim=64, num_heads=2`` for a tiny test model).
    """

    #: Recorded names beyond the constructor's own parameters (the architecture overrides).
    extra_kwargs = OVERRIDES

    def __init__(
        self,
        encoder: str = "vit_small_patch16_224",
        layers: int = 4,
        decoder_width: int = 128,
        dropout: float = 0.0,
        mlp: str = "mlp",
        in_channels: int = 3,
        num_classes: int = 1,
        weights: str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(overrides) - set(OVERRIDES))
        if unknown:
            raise ValueError(f"ViTSegmenter takes no argument {unknown} (architecture overrides: {OVERRIDES})")
        self.check_kwargs(dict(encoder=encoder, layers=layers, mlp=mlp, dropout=dropout))
        self.init_kwargs = dict(
            encoder=encoder, layers=layers, decoder_width=decoder_width, dropout=dropout, mlp=mlp,
            in_channels=in_channels, num_classes=num_classes, **overrides,
        )  # fmt: skip
        self.encoder = _timm_vit(encoder, mlp, in_channels, weights, overrides)
        self.patch_size = int(self.encoder.patch_embed.patch_size[0])
        depth = len(self.encoder.blocks)
        self.layer_indices = sorted({round(depth - 1 - i * depth / layers) for i in range(layers)})
        dim = int(self.encoder.embed_dim)
        self.project = nn.ModuleList(nn.Conv2d(dim, decoder_width, kernel_size=1) for _ in self.layer_indices)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        widths = [max(16, decoder_width // 2**i) for i in range(math.ceil(math.log2(self.patch_size)) + 1)]
        self.up = nn.ModuleList(_conv_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.stem = _conv_block(in_channels, 16)
        self.fuse = _conv_block(widths[-1] + 16, 16)
        self.head = nn.Conv2d(16, num_classes, kernel_size=1)
        cfg = getattr(self.encoder, "pretrained_cfg", {}) or {}
        self.input_mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        self.input_std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))

    @classmethod
    def check_kwargs(cls, kwargs: dict[str, Any]) -> None:
        """Refuse an encoder or block outside the allow-lists, or impossible values (``ValueError``).

        Argument names are checked by whoever reads a record (:data:`extra_kwargs`: the overrides it may hold).
        """
        check_vit(kwargs.get("encoder", "vit_small_patch16_224"))
        if kwargs.get("mlp", "mlp") not in MLPS:
            raise ValueError(f"mlp must be one of {MLPS}, got {kwargs.get('mlp')!r}")
        layers = kwargs.get("layers", 4)
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"layers must be a positive integer, got {layers!r}")
        if not 0.0 <= float(kwargs.get("dropout", 0.0)) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {kwargs.get('dropout')}")

    @property
    def backbone(self) -> nn.Module:
        """The ViT (what :class:`~pytorch_lightning.callbacks.BackboneFinetuning` freezes, then unfreezes)."""
        return self.encoder

    @property
    def input_multiple(self) -> int:
        """The input side must be a multiple of the patch size."""
        return self.patch_size

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ``ValueError`` unless both sides are multiples of the patch size."""
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"{self.init_kwargs['encoder']} reads {self.patch_size} px patches: the input sides "
                             f"must be multiples of {self.patch_size}, got {height}x{width}")  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes, H, W) of normalised images (B, C, H, W)."""
        maps = self.encoder.forward_intermediates(
            x, indices=self.layer_indices, output_fmt="NCHW", intermediates_only=True
        )  # each (B, D, H / p, W / p)
        y = self.dropout(sum(proj(m) for proj, m in zip(self.project, maps, strict=True)))  # (B, w, H / p, W / p)
        for block in self.up:
            y = block(F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, w', H, W)
        y = self.fuse(torch.cat([y, self.stem(x)], dim=1))  # (B, 16, H, W)
        return self.head(y)  # (B, num_classes, H, W)


def _timm_vit(encoder: str, mlp: str, in_channels: int, weights: str | None, overrides: dict) -> nn.Module:
    """The timm ViT without its classifier, any input size a multiple of its patch, weights from a file if given."""
    timm, _ = vision_libraries()
    kwargs: dict[str, Any] = dict(overrides, num_classes=0, dynamic_img_size=True, in_chans=in_channels)
    if mlp == "swiglu":
        kwargs |= {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": nn.SiLU}
    if weights is not None:  # timm reads the file weights-only and adapts position embeddings
        kwargs |= {"pretrained": True, "pretrained_cfg_overlay": {"file": str(resolve_weights(weights))}}
    return timm.create_model(encoder, **kwargs)
