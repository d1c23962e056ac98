"""The model a prediction run applies: one or several trained networks, each on one or several views of a tile.

:class:`TilePredictor` wraps the members (:class:`~wsiseg.model.SegmentationModule` s rebuilt from their
checkpoints) for ``trainer.predict``: a batch of tiles is read and converted once, every member runs on the
same batch, view by view (:mod:`wsiseg.inference.tta`), each view's probabilities are mapped back onto the
tile, the views are averaged per member and the members combined by the configured reduction. With one
member and no augmentation it is exactly the member's own ``predict_step``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from wsiseg.inference.tta import reduce_members, views


class TilePredictor(pl.LightningModule):
    """Tumour probabilities of tiles from an ensemble of members, with optional test-time augmentation.

    Args:
        members: modules mapping [0, 1] images (B, 3, T, T) to logits (B, 1, T, T), in eval mode.
        tta: ``none`` | ``flips`` | ``d4`` (see :func:`~wsiseg.inference.tta.views`).
        reduction: ``mean`` | ``median`` | ``max`` over members.
    """

    def __init__(self, members: Sequence[nn.Module], tta: str = "none", reduction: str = "mean") -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.views = views(tta)
        self.tta, self.reduction = tta, reduction
        reduce_members(torch.zeros(1, 1), reduction)  # an unknown reduction fails here, not mid-run

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Combined probabilities (B, 1, T, T) of [0, 1] images (B, 3, T, T)."""
        per_member = []
        for member in self.members:
            total = None
            for view in self.views:
                probs = view.invert(torch.sigmoid(member(view.apply(image))).float())  # (B, 1, T, T)
                total = probs if total is None else total.add_(probs)
            per_member.append(total.div_(len(self.views)) if len(self.views) > 1 else total)
        if len(per_member) == 1:
            return per_member[0]
        return reduce_members(torch.stack(per_member), self.reduction)  # (B, 1, T, T)

    def predict_step(
        self, batch: Mapping[str, torch.Tensor] | torch.Tensor, batch_idx: int = 0, dataloader_idx: int = 0
    ) -> torch.Tensor:
        """Probabilities (B, 1, T, T) of a batch: a dict with ``"image"`` or the tensor; float [0, 1] or uint8."""
        image = batch["image"] if isinstance(batch, Mapping) else batch  # (B, 3, T, T)
        if image.dtype == torch.uint8:
            image = image.float().div_(255.0)
        return self(image)
