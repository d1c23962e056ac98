"""Image mosaics of predictions for TensorBoard.

Written here rather than taken from ``torchvision.utils.make_grid``: torchvision is not a dependency of
wsiseg (and its CPU and CUDA builds must match torch's), and the mosaic is a dozen lines.
"""

from __future__ import annotations

import torch


def tile_mosaic(tiles: torch.Tensor, ncol: int, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """Tile equally sized images row by row into one image (like ``torchvision.utils.make_grid``).

    Args:
        tiles: Images (N, C, H, W).
        ncol: Images per row; the last row is padded with ``pad_value``.
        padding: Pixels between images and around the border.
        pad_value: Value of the padding.

    Returns:
        The grid (C, rows * (H + padding) + padding, ncol * (W + padding) + padding).

    Raises:
        ValueError: If ``tiles`` is not 4-D or ``ncol`` < 1.
    """
    if tiles.ndim != 4 or ncol < 1:
        raise ValueError(f"need tiles (N, C, H, W) and ncol >= 1, got shape {tuple(tiles.shape)}, ncol={ncol}")
    n, c, h, w = tiles.shape
    nrow = -(-n // ncol)
    step_h, step_w = h + padding, w + padding
    grid = tiles.new_full((c, nrow * step_h + padding, ncol * step_w + padding), pad_value)  # (C, H', W')
    for k in range(n):
        top, left = padding + (k // ncol) * step_h, padding + (k % ncol) * step_w
        grid[:, top : top + h, left : left + w] = tiles[k]  # (C, H, W)
    return grid


def prediction_rows(
    image: torch.Tensor, mask: torch.Tensor, prob: torch.Tensor, overlay: bool = True
) -> tuple[torch.Tensor, int]:
    """Arrange each example as a row: patch | mask (white on black) | probability (grey) | overlay.

    The overlay blends the patch with the probability in red and the mask in green (yellow where both).

    Args:
        image: Patches (N, 3, H, W) in [0, 1].
        mask: Masks (N, 1, H, W) in {0, 1}.
        prob: Probabilities (N, 1, H, W) in [0, 1].
        overlay: Add the overlay column.

    Returns:
        The tiles (N * ncol, 3, H, W) in row order, and ``ncol`` (3 or 4).
    """
    image = image.float().clamp(0, 1)  # (N, 3, H, W)
    mask_rgb = mask.float().clamp(0, 1).expand(-1, 3, -1, -1)  # (N, 3, H, W)
    prob_rgb = prob.float().clamp(0, 1).expand(-1, 3, -1, -1)  # (N, 3, H, W)
    columns = [image, mask_rgb, prob_rgb]
    if overlay:
        colour = torch.cat([prob_rgb[:, :1], mask_rgb[:, :1], torch.zeros_like(prob_rgb[:, :1])], dim=1)  # (N, 3, H, W)
        columns.append(0.6 * image + 0.4 * colour)
    tiles = torch.stack(columns, dim=1)  # (N, ncol, 3, H, W)
    return tiles.flatten(0, 1), len(columns)  # (N * ncol, 3, H, W)


def prediction_grid(
    image: torch.Tensor, mask: torch.Tensor, prob: torch.Tensor, overlay: bool = True, padding: int = 2
) -> torch.Tensor:
    """One picture of predictions, a row per example (see :func:`prediction_rows`).

    Args:
        image: Patches (N, 3, H, W) in [0, 1].
        mask: Masks (N, 1, H, W) in {0, 1}.
        prob: Probabilities (N, 1, H, W) in [0, 1].
        overlay: Add the overlay column.
        padding: Pixels between tiles.

    Returns:
        A float grid (3, H', W') in [0, 1], ready for ``SummaryWriter.add_image`` (CHW).
    """
    tiles, ncol = prediction_rows(image, mask, prob, overlay)
    return tile_mosaic(tiles, ncol=ncol, padding=padding)
