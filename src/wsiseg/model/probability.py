"""The whole probability model as one module: uint8 RGB tiles in, tumour probabilities out (what is exported)."""

from __future__ import annotations

import torch
from torch import nn


class ProbabilityModel(nn.Module):
    """``sigmoid(module(image / 255))``: a trained module with its input conversion and output sigmoid inside.

    The same numbers as :meth:`~wsiseg.model.SegmentationModule.predict_step` on uint8 tiles; whatever the module
    does to [0, 1] images (its normalisation) stays inside it, so an exported copy needs nothing else.

    Args:
        module: Maps [0, 1] float images (B, 3, T, T) to logits (B, 1, T, T), in eval mode (a
            :class:`~wsiseg.model.SegmentationModule`).
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, T, T) float32 in [0, 1] of uint8 RGB tiles (B, 3, T, T)."""
        return torch.sigmoid(self.module(image.float() / 255.0)).float()  # (B, 1, T, T)
