"""The U-Net of Ronneberger et al. (2015) with optional batch norm and dropout (paper section 2).

With ``base_width=64, depth=4`` and transposed-convolution up-sampling this is the paper's network
(input 256x256x3, about 31.04M parameters). Convolutions are padded, so the logits have the input's
height and width; both must be divisible by ``2**depth``.
"""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions (padding 1), each followed by optional batch norm and a ReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels of both convolutions.
        batch_norm: Add ``BatchNorm2d`` after each convolution (the convolutions then have no bias).
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Up(nn.Module):
    """Up-sample by 2 halving the channels, concatenate the skip connection, then a :class:`DoubleConv`.

    Args:
        in_channels: Channels of the deeper feature map; the skip connection has half as many.
        out_channels: Output channels.
        batch_norm: Batch norm in the double convolution.
        bilinear: Bilinear up-sampling followed by a 1x1 convolution instead of a 2x2 transposed convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, bilinear: bool = False) -> None:
        super().__init__()
        half = in_channels // 2
        if bilinear:
            self.up: nn.Module = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, half, kernel_size=1),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, half, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * half, out_channels, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Up-sample ``x`` (B, C, h, w) and fuse it with ``skip`` (B, C/2, 2h, 2w) into (B, out, 2h, 2w)."""
        x = self.up(x)  # (B, C/2, 2h, 2w)
        return self.conv(torch.cat([skip, x], dim=1))  # (B, out, 2h, 2w)


class UNet(nn.Module):
    """U-Net for patch segmentation, returning logits.

    Encoder stage ``i`` (``0 <= i < depth``) has ``base_width * 2**i`` channels at 1/2**i of the input size;
    the bottleneck has ``base_width * 2**depth`` channels at 1/2**depth. Dropout (``nn.Dropout2d``, as in the
    original U-Net's "drop-out layers at the end of the contracting path") is applied to the outputs of the
    deepest encoder stage (``i = depth - 1``, which also feeds its skip connection) and of the bottleneck.

    Args:
        in_channels: Image channels.
        num_classes: Output channels (1 for binary tumour segmentation).
        base_width: Channels of the first stage (64 in the paper).
        depth: Number of 2x down-samplings (4 in the paper).
        batch_norm: ``BatchNorm2d`` after every 3x3 convolution.
        dropout: ``Dropout2d`` probability; 0 adds no dropout layers.
        bilinear: Bilinear up-sampling + 1x1 convolution instead of transposed convolutions.

    Raises:
        ValueError: On a non-positive size argument or a dropout outside [0, 1).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        base_width: int = 64,
        depth: int = 4,
        batch_norm: bool = True,
        dropout: float = 0.5,
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        if min(in_channels, num_classes, base_width, depth) < 1:
            raise ValueError("in_channels, num_classes, base_width and depth must all be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.depth = depth
        #: The constructor's arguments, stored in checkpoints to rebuild the network (plain values).
        self.init_kwargs = dict(
            in_channels=in_channels, num_classes=num_classes, base_width=base_width, depth=depth,
            batch_norm=batch_norm, dropout=dropout, bilinear=bilinear,
        )  # fmt: skip
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.encoder = nn.ModuleList(
            [self._stage(in_channels, widths[0], batch_norm, dropout if depth == 1 else 0.0, pool=False)]
            + [
                self._stage(widths[i - 1], widths[i], batch_norm, dropout if i == depth - 1 else 0.0, pool=True)
                for i in range(1, depth)
            ]
        )
        self.bottleneck = self._stage(widths[depth - 1], widths[depth], batch_norm, dropout, pool=True)
        self.decoder = nn.ModuleList(
            [Up(widths[i + 1], widths[i], batch_norm, bilinear) for i in reversed(range(depth))]
        )
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    @staticmethod
    def _stage(in_channels: int, out_channels: int, batch_norm: bool, dropout: float, pool: bool) -> nn.Sequential:
        """Optional 2x2 max-pool, a double convolution, optional ``Dropout2d``."""
        layers: list[nn.Module] = [nn.MaxPool2d(2)] if pool else []
        layers.append(DoubleConv(in_channels, out_channels, batch_norm))
        if dropout > 0:
            layers.append(nn.Dropout2d(dropout))
        return nn.Sequential(*layers)

    @property
    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise a ``ValueError`` unless both sides are divisible by ``2**depth``.

        Args:
            height: Input height in pixels.
            width: Input width in pixels.

        Raises:
            ValueError: If a side is not a multiple of ``2**depth``.
        """
        factor = 2**self.depth
        if height % factor or width % factor:
            raise ValueError(
                f"UNet(depth={self.depth}) needs input height and width divisible by 2**depth = {factor}, "
                f"got {height}x{width}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment a batch.

        Args:
            x: Normalised images (B, in_channels, H, W), H and W divisible by ``2**depth``.

        Returns:
            Logits (B, num_classes, H, W).
        """
        self.check_input_size(x.shape[-2], x.shape[-1])
        skips: list[torch.Tensor] = []
        for stage in self.encoder:
            x = stage(x)  # (B, base_width * 2**i, H / 2**i, W / 2**i)
            skips.append(x)
        x = self.bottleneck(x)  # (B, base_width * 2**depth, H / 2**depth, W / 2**depth)
        for up, skip in zip(self.decoder, reversed(skips), strict=True):
            x = up(x, skip)  # (B, C_skip, h_skip, w_skip)
        return self.head(x)  # (B, num_classes, H, W)
