"""A picture of heatmap overlays, a few slides per label, captioned with the reference and predicted labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
from matplotlib.figure import Figure

from wsiseg.atomic import atomic_path


def save_gallery(path: str | Path, rows: Mapping[str, Sequence[tuple[Path, str]]], tile_inches: float = 2.6) -> Path:
    """One row per label, one overlay PNG per column, each with its caption.

    Args:
        path: the PNG to write.
        rows: row title (e.g. the reference label) -> [(overlay PNG, caption)].
        tile_inches: size of one picture.
    """
    rows = {title: list(items) for title, items in rows.items() if items}
    if not rows:
        raise ValueError("the gallery needs at least one picture")
    n_cols = max(len(items) for items in rows.values())
    fig = Figure(figsize=(tile_inches * n_cols, tile_inches * len(rows) + 0.3))
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, (title, items) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(items):
                ax.set_axis_off()
                continue
            image = cv2.imread(str(items[c][0]), cv2.IMREAD_COLOR)
            if image is not None:
                ax.imshow(image[..., ::-1])
            ax.set_title(items[c][1], fontsize=8)
            if c == 0:
                ax.set_ylabel(title, fontsize=11)
    fig.suptitle("Tumour probability over the slide (blue 0.1 ... red 1.0)", fontsize=11)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    return path
