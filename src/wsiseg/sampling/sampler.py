"""Sample patches in advance, the paper's way.

Tumour patches cover all annotated tumour, ``k`` x N normal patches lie inside the tissue ROI away from
tumour, and tumour patches are oversampled to the normal : tumour ratio.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from wsiseg.annotations import rasterize
from wsiseg.cohorts import SlideRecord
from wsiseg.errors import WsisegError
from wsiseg.parallel import map_slides
from wsiseg.sampling.placement import covering_patches, normal_candidates, oversample
from wsiseg.sampling.spec import PatchLabel, SamplingSpec
from wsiseg.slide import open_slide
from wsiseg.tissue import DEFAULT_PARAMS, TissueParams, tissue_roi
from wsiseg.tissue.geometry import box_coverage, integral_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchRecord:
    """One sampled patch: its slide, level-0 top-left corner, label, and how often training uses it."""

    slide: str
    x: int
    y: int
    label: PatchLabel
    repeats: int = 1


@dataclass(frozen=True)
class SlidePlan:
    """What a slide offers: the covering tumour patches and a pool of admissible normal corners (level 0)."""

    slide: str
    is_tumour_slide: bool
    tumour_xy: np.ndarray  # (N, 2) int64
    normal_pool_xy: np.ndarray  # (K, 2) int64
    tissue_mm2: float


def plan_slide(record: SlideRecord, spec: SamplingSpec, tissue: TissueParams = DEFAULT_PARAMS) -> SlidePlan:
    """Read the slide's thumbnail and annotation and plan its patches (no pixel of level 0 is read).

    ``tissue``: the tissue detector's settings (its ``thumbnail_mpp`` is the ROI resolution).
    """
    rng = np.random.default_rng((spec.seed, zlib.crc32(record.slide.encode())))
    with open_slide(record.path) as slide:
        roi = tissue_roi(slide, params=tissue)
        plan_ds = spec.plan_um / slide.mpp  # level-0 px per planning px
        width, height = slide.dimensions
    shape_hw = (int(np.ceil(height / plan_ds)), int(np.ceil(width / plan_ds)))
    tissue = cv2.resize(roi.mask.astype(np.uint8), shape_hw[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    annotations = record.annotations()
    tumour = rasterize(annotations, (width, height), plan_ds)
    vertices = [a.vertices_xy / plan_ds for a in annotations if a.role == "tumor"]
    offset = tuple(int(v) for v in rng.integers(0, spec.plan_cells, 2))
    cells = spec.plan_cells
    tumour_cells = covering_patches(tumour, cells, offset, np.concatenate(vertices) if vertices else None)
    margin = spec.tumour_margin_um / spec.plan_um
    centres = normal_candidates(tissue, tumour, margin)
    corners = np.floor(centres - cells / 2).astype(np.int64)
    grown = cv2.dilate(tumour.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(np.ceil(margin)) + 1)
    box = (cells, cells)
    ok = (box_coverage(integral_image(tissue), corners, box) >= spec.min_tissue) & (
        box_coverage(integral_image(grown), corners, box) == 0
    )
    corners = corners[ok]
    if len(corners) > spec.max_pool:
        corners = corners[rng.choice(len(corners), spec.max_pool, replace=False)]
    return SlidePlan(
        record.slide, bool(annotations), np.round(tumour_cells * plan_ds).astype(np.int64),
        np.round(corners * plan_ds).astype(np.int64), roi.area_mm2,
    )  # fmt: skip


def plan_slides(
    records: Sequence[SlideRecord], spec: SamplingSpec, tissue: TissueParams = DEFAULT_PARAMS, workers: int = 2,
    skip_bad: bool = False,
) -> list[SlidePlan]:  # fmt: skip
    """:func:`plan_slide` for every slide, in parallel, with a progress bar.

    ``skip_bad``: a slide that cannot be read or planned (a corrupt tile, a bad annotation) is left out with a
    warning naming it and why; otherwise its error stops the run.
    """
    if not skip_bad:
        return map_slides(plan_slide, [(r, spec, tissue) for r in records], workers, "plan patches")
    planned = map_slides(_plan_or_error, [(r, spec, tissue) for r in records], workers, "plan patches")
    for record, plan in zip(records, planned, strict=True):
        if isinstance(plan, str):
            log.warning("left out of training, its patches cannot be planned: %s: %s", record.slide, plan)
    return [plan for plan in planned if not isinstance(plan, str)]


def _plan_or_error(record: SlideRecord, spec: SamplingSpec, tissue: TissueParams) -> SlidePlan | str:
    try:
        return plan_slide(record, spec, tissue)
    except (WsisegError, OSError, ValueError) as err:
        return f"{type(err).__name__}: {err}"


def _allocate(total: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split ``total`` over slides in proportion to ``weights``, never above each slide's ``capacity``."""
    counts = np.zeros(len(weights), np.int64)
    for _ in range(len(weights) + 1):  # redistribute what full slides could not take
        room = capacity - counts
        w = np.where(room > 0, weights, 0.0)
        remaining = total - counts.sum()
        if remaining <= 0 or w.sum() == 0:
            break
        share = np.minimum(np.floor(w / w.sum() * remaining).astype(np.int64), room)
        if share.sum() == 0:
            share[int(np.argmax(w))] = min(remaining, room[int(np.argmax(w))])
        counts += share
    return counts


def draw_patches(plans: Sequence[SlidePlan], spec: SamplingSpec, oversample_tumour: bool = True) -> list[PatchRecord]:
    """Turn slide plans into the patch list: all tumour patches, ``normal_per_tumour`` x N normals, oversampling.

    Args:
        plans: the plans of one split's slides.
        spec: the recipe.
        oversample_tumour: repeat tumour patches to reach ``neg_pos_ratio`` (training; off for validation).
    """
    rng = np.random.default_rng((spec.seed, len(plans)))
    n_tumour = int(sum(len(p.tumour_xy) for p in plans))
    n_normal = max(int(round(spec.normal_per_tumour * n_tumour)), spec.min_normal_patches)
    tumour_slides = np.array([p.is_tumour_slide for p in plans])
    capacity = np.array([len(p.normal_pool_xy) for p in plans])
    weights = np.array([p.tissue_mm2 for p in plans], float) + 1e-9
    share = (
        spec.normal_from_tumour_slides if tumour_slides.any() and (~tumour_slides).any() else float(tumour_slides.any())
    )
    counts = np.zeros(len(plans), np.int64)
    from_tumour = int(round(n_normal * share))
    counts[tumour_slides] = _allocate(from_tumour, weights[tumour_slides], capacity[tumour_slides])
    counts[~tumour_slides] = _allocate(n_normal - from_tumour, weights[~tumour_slides], capacity[~tumour_slides])
    if counts.sum() < n_normal:
        log.warning("only %d admissible normal positions for %d normal patches", counts.sum(), n_normal)
    repeats = (
        oversample(n_tumour, int(counts.sum()), spec.neg_pos_ratio, rng)
        if oversample_tumour
        else np.ones(n_tumour, np.int64)
    )
    patches, t = [], 0
    for plan, count in zip(plans, counts, strict=True):
        for x, y in plan.tumour_xy:
            patches.append(PatchRecord(plan.slide, int(x), int(y), "tumour", int(repeats[t])))
            t += 1
        for i in rng.choice(len(plan.normal_pool_xy), int(count), replace=False) if count else []:
            x, y = plan.normal_pool_xy[i]
            patches.append(PatchRecord(plan.slide, int(x), int(y), "normal"))
    return patches
