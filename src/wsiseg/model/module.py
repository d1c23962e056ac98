"""The Lightning system that trains and applies a segmentation network (paper section 3.2).

Batches are dicts ``{"image": (B, 3, H, W) float in [0, 1], "mask": (B, 1, H, W) float in {0, 1}}``;
normalisation happens inside the module, so inference code passes [0, 1] images too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex

from wsiseg.model.losses import BCEDiceLoss
from wsiseg.model.plain import to_plain

STAGES = ("train", "val", "test")


class SegmentationModule(pl.LightningModule):
    """Binary segmentation with a given network, loss, optimizer and scheduler.

    Logs ``{stage}/loss`` (train: per step and per epoch), ``{stage}/dice`` (pixel F1) and ``{stage}/iou``
    (pixel Jaccard) for ``stage`` in train / val / test. Keeps up to 8 images (after stain normalisation,
    when the module has it: what the network sees), masks and probabilities of one validation batch (the first
    full one, preferably with tumour) in :attr:`val_examples` for an image-logging callback.

    Args:
        net: Network mapping normalised images (B, 3, H, W) to logits (B, 1, H, W).
        optimizer: Optimizer factory called as ``optimizer(params=...)`` (e.g. a Hydra ``_partial_``); ``None``
            for a module that only predicts (see :func:`wsiseg.model.load_model`).
        scheduler: Optional LR scheduler factory called as ``scheduler(optimizer=...)``, stepped every epoch.
        loss: Loss on (logits, mask); default :class:`BCEDiceLoss` (plain BCE).
        threshold: Probability threshold of the Dice / IoU metrics.
        mean: Per-channel mean of the normalisation ``(x - mean) / std``; ``None``: the network's own
            (``net.input_mean``: the pretrained encoder's, ImageNet's or a foundation model's), else 0.5.
        std: Per-channel standard deviation of the normalisation; ``None``: ``net.input_std``, else 0.25.
        channels_last: Run the network in ``torch.channels_last`` memory format.
        stain: A stain normaliser (:class:`~wsiseg.data.stain.StainNormalizer`) applied to the [0, 1] tiles before
            the normalisation, in training and prediction alike (its reference is in the checkpoint; the
            :class:`~wsiseg.model.callbacks.StainReference` callback fits it on the training patches).
    """

    MAX_EXAMPLES = 8

    def __init__(  # noqa: PLR0913 - stain, like net and loss, is a module Hydra builds from its own node
        self,
        net: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., LRScheduler] | None = None,
        loss: nn.Module | None = None,
        threshold: float = 0.5,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        channels_last: bool = False,
        stain: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "loss", "stain"], logger=False)
        self.stain = stain
        mean = tuple(mean if mean is not None else getattr(net, "input_mean", (0.5, 0.5, 0.5)))
        std = tuple(std if std is not None else getattr(net, "input_std", (0.25, 0.25, 0.25)))
        self.hparams.update(mean=mean, std=std)  # what the checkpoint records: the values used
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.loss_fn = loss if loss is not None else BCEDiceLoss()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))  # (1, C, 1, 1)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))  # (1, C, 1, 1)
        for stage in STAGES:
            metrics = {"dice": BinaryF1Score(threshold=threshold), "iou": BinaryJaccardIndex(threshold=threshold)}
            setattr(self, f"{stage}_metrics", MetricCollection(metrics, prefix=f"{stage}/"))
        self._last_val: dict[str, torch.Tensor] | None = None

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Normalise [0, 1] images and return the network's logits.

        Args:
            image: Images (B, C, H, W) with values in [0, 1].

        Returns:
            Logits (B, num_classes, H, W).
        """
        return self._logits(self._stained(image))

    def _stained(self, image: torch.Tensor) -> torch.Tensor:
        """The [0, 1] images after stain normalisation (towards the reference), when the module has it."""
        return self.stain(image) if self.stain is not None else image  # (B, C, H, W)

    def _logits(self, image: torch.Tensor) -> torch.Tensor:
        """The network's logits (B, 1, H, W) of stain-normalised [0, 1] images (B, C, H, W)."""
        x = (image - self.mean) / self.std  # (B, C, H, W)
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
        return self.net(x)  # (B, 1, H, W)

    def _shared_step(self, batch: Mapping[str, torch.Tensor], stage: str) -> torch.Tensor:
        """Loss, probabilities, metrics and logging for one batch of ``stage``."""
        image, mask = batch["image"], batch["mask"]  # (B, 3, H, W), (B, 1, H, W)
        seen = self._stained(image)  # what the network sees (and the pictures show)
        logits = self._logits(seen)  # (B, 1, H, W)
        loss = self.loss_fn(logits, mask)
        probs = torch.sigmoid(logits.detach()).float()  # (B, 1, H, W)
        metrics: MetricCollection = getattr(self, f"{stage}_metrics")
        metrics.update(probs, (mask > 0.5).int())
        batch_size = image.shape[0]
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, sync_dist=True, batch_size=batch_size)
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=batch_size)
        if stage == "val" and self._wants_examples(mask):
            n = self.MAX_EXAMPLES
            self._last_val = {"image": seen[:n].detach(), "mask": mask[:n].detach(), "prob": probs[:n]}
        return loss

    def _wants_examples(self, mask: torch.Tensor) -> bool:
        """Keep the epoch's first full validation batch, or a later one with more tumour to show."""
        if self._last_val is None:
            return True
        kept = self._last_val["mask"]
        fuller = mask.shape[0] >= min(self.MAX_EXAMPLES, kept.shape[0]) and mask.shape[0] > kept.shape[0]
        more_tumour = not bool(kept.any()) and bool(mask[: self.MAX_EXAMPLES].any())
        return fuller or (more_tumour and mask.shape[0] >= kept.shape[0])

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One training batch; returns the loss."""
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One validation batch; returns the loss."""
        return self._shared_step(batch, "val")

    def test_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One test batch; returns the loss."""
        return self._shared_step(batch, "test")

    def predict_step(
        self, batch: Mapping[str, torch.Tensor] | torch.Tensor, batch_idx: int = 0, dataloader_idx: int = 0
    ) -> torch.Tensor:
        """Tumour probabilities of a batch.

        Args:
            batch: A dict with ``"image"`` (B, 3, H, W), or that tensor itself: float in [0, 1], or uint8
                (0-255, converted here: whole-slide tiles travel from the loader workers as bytes).
            batch_idx: Unused.
            dataloader_idx: Unused.

        Returns:
            Float probabilities (B, 1, H, W) in [0, 1].
        """
        image = batch["image"] if isinstance(batch, Mapping) else batch  # (B, 3, H, W)
        if image.dtype == torch.uint8:
            image = image.float().div_(255.0)
        return torch.sigmoid(self(image)).float()  # (B, 1, H, W)

    @property
    def backbone(self) -> nn.Module:
        """The network's pretrained encoder (``net.backbone``), for Lightning's ``BackboneFinetuning``.

        Raises:
            AttributeError: The network has none (wsiseg's U-Net: nothing to freeze).
        """
        backbone = getattr(self.net, "backbone", None)
        if not isinstance(backbone, nn.Module):
            raise AttributeError(f"{type(self.net).__name__} has no pretrained encoder (backbone) to fine-tune")
        return backbone

    def on_validation_epoch_start(self) -> None:
        """Forget the previous epoch's examples."""
        self._last_val = None

    @property
    def val_examples(self) -> dict[str, torch.Tensor] | None:
        """Up to 8 ``image``, ``mask``, ``prob`` (N, C, H, W) of one validation batch, on the CPU.

        References are kept on the device during validation and copied to the CPU on first access.
        """
        if self._last_val is not None and any(t.device.type != "cpu" for t in self._last_val.values()):
            self._last_val = {k: v.float().cpu() for k, v in self._last_val.items()}
        return self._last_val

    def configure_optimizers(self) -> Any:
        """Complete the optimizer (and scheduler) factories with this module's parameters."""
        if self.hparams.optimizer is None:
            raise ValueError("this module has no optimizer (rebuilt for prediction?); pass one to train it")
        # only trainable parameters: a frozen encoder joins later as its own group (BackboneFinetuning)
        optimizer = self.hparams.optimizer(params=[p for p in self.parameters() if p.requires_grad])
        if self.hparams.scheduler is None:
            return {"optimizer": optimizer}
        scheduler = self.hparams.scheduler(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store hyper-parameters as plain values so ``torch.load(weights_only=True)`` can read the checkpoint.

        The optimizer and scheduler factories become Hydra-style dicts (``{"_target_": ..., "_partial_": True}``);
        pass real ones again to ``load_from_checkpoint`` if the loaded module is to be trained.
        """
        if "hyper_parameters" in checkpoint:
            checkpoint["hyper_parameters"] = to_plain(dict(checkpoint["hyper_parameters"]))
