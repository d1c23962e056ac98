"""The patch-sampling recipe of the paper, every number a setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Nominal objective magnifications and the resolution they mean here (micrometres per pixel).
MAGNIFICATIONS: dict[str, float] = {"40x": 0.25, "20x": 0.5, "10x": 1.0, "5x": 2.0}

PatchLabel = Literal["tumour", "normal"]


def magnification_mpp(magnification: str | float) -> float:
    """Micrometres per pixel of a magnification: ``"40x"`` -> 0.25, ``"20x"`` -> 0.5, or a number in um/px."""
    if isinstance(magnification, str):
        key = magnification.strip().lower()
        if key in MAGNIFICATIONS:
            return MAGNIFICATIONS[key]
        try:
            return float(key)
        except ValueError:
            raise ValueError(
                f"unknown magnification {magnification!r}; use one of {sorted(MAGNIFICATIONS)} or um/px"
            ) from None
    if not magnification > 0:
        raise ValueError(f"magnification must be positive um/px, got {magnification}")
    return float(magnification)


@dataclass(frozen=True)
class SamplingSpec:
    """How patches are drawn from slides (the paper: 512 px at 40X/20X resized to 256, 4N normals, ratio 2/3).

    Attributes:
        magnification: what the ``patch_size`` patch is read at: ``"40x"``, ``"20x"``, ``"10x"``, ``"5x"``, or a
            resolution in um/px (:attr:`mpp` gives the resolution).
        patch_size: patch side at ``magnification`` (level-0 footprint ``patch_size * mpp`` um).
        out_size: side the patch is resized to (the network input).
        normal_per_tumour: normal patches drawn per tumour patch (4 in the paper).
        neg_pos_ratio: tumour patches are oversampled until normal : tumour equals this (2, then 3).
        normal_from_tumour_slides: share of normal patches taken from tumour slides' normal tissue (the rest
            from normal slides).
        tumour_margin_um: normal patches keep at least this distance from annotated tumour.
        min_tissue: minimum tissue-ROI fraction of a normal patch.
        min_normal_patches: floor on the normal count (a split without tumour still gets normals).
        plan_cells: planning-grid pixels per patch side (coverage and normal placement are planned on it).
        max_pool: normal candidate positions kept per slide.
        seed: seed of every random choice.
    """

    magnification: str | float = "20x"
    patch_size: int = 512
    out_size: int = 256
    normal_per_tumour: float = 4.0
    neg_pos_ratio: float = 2.0
    normal_from_tumour_slides: float = 0.5
    tumour_margin_um: float = 100.0
    min_tissue: float = 0.5
    min_normal_patches: int = 64
    plan_cells: int = 8
    max_pool: int = 20000
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate the numbers (and the magnification, which must name a resolution)."""
        magnification_mpp(self.magnification)
        if self.patch_size <= 0 or self.out_size <= 0 or self.plan_cells <= 0:
            raise ValueError("patch_size, out_size and plan_cells must be positive")
        if self.neg_pos_ratio <= 0 or self.normal_per_tumour < 0:
            raise ValueError("neg_pos_ratio must be > 0 and normal_per_tumour >= 0")
        if not 0 <= self.normal_from_tumour_slides <= 1 or not 0 <= self.min_tissue <= 1:
            raise ValueError("normal_from_tumour_slides and min_tissue are fractions in [0, 1]")

    @property
    def mpp(self) -> float:
        """Resolution the patches are read at (um/px)."""
        return magnification_mpp(self.magnification)

    @property
    def footprint_um(self) -> float:
        """Side of a patch on the slide, micrometres."""
        return self.patch_size * self.mpp

    @property
    def out_mpp(self) -> float:
        """Resolution of the stored (resized) patch, um/px."""
        return self.footprint_um / self.out_size

    @property
    def plan_um(self) -> float:
        """Planning-grid pixel size, micrometres."""
        return self.footprint_um / self.plan_cells
