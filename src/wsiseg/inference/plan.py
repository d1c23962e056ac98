"""What to predict: the slides (from a folder, a glob or a cohort), their tiling and their tissue."""

from __future__ import annotations

import glob
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import cv2
import numpy as np

from wsiseg.cohorts import CohortOptions, Inventory, read_inventory
from wsiseg.errors import SlideError, WsisegError
from wsiseg.inference.tiling import Blend, TileGrid, group_cores, make_tile_grid, select_cores
from wsiseg.inference.tta import Reduction, Tta
from wsiseg.slide import BackendName, Reader, open_slide, resolve_backend
from wsiseg.tissue import DEFAULT_PARAMS, TissueParams, tissue_roi

if TYPE_CHECKING:  # the model stage imports torch; planning does not need it
    from wsiseg.model.spec import ModelSpec

log = logging.getLogger(__name__)

TissueFrom = Literal["checkpoint", "config"]
"""``predict.py tissue_from=``: the tissue settings the checkpoint records (its training's), or ``conf/tissue``."""


@dataclass(frozen=True)
class PredictSettings:
    """How slides are tiled and what is written; the model's resolution comes from its checkpoint.

    Attributes:
        model_mpp: the model's input resolution (um/px), read from the training config.
        tile: the model's input side (pixels), read from the training config.
        heatmap_mpp: heatmap resolution (um/px), rounded to a whole multiple of ``model_mpp``.
        overlap: share of each tile spent on margins.
        blend: ``crop`` (keep tile cores) or ``weighted`` (blend whole tiles with a tent window).
        block_tiles: tiles per side read in one region read.
        tissue: the tissue detector's settings; tiles are predicted inside its ROI (``predict.py``: those the
            checkpoint records, its training's; see :func:`choose_tissue`).
        backend: slide reader: ``auto`` (tiffslide, or OpenSlide for the formats only it reads: see
            :func:`~wsiseg.slide.resolve_backend`), ``tiffslide`` or ``openslide``.
        slide_mpp: level-0 um/px for slides that record none (wins over the file's value; ``None``: the file's).
        tta: test-time augmentation (:data:`~wsiseg.inference.tta.Tta`): ``none``, ``flips`` (4 views) or
            ``d4`` (8 views); each view's prediction is mapped back exactly and the views are averaged.
        reduction: how the members of an ensemble (several checkpoints) are combined: ``mean``, ``median``
            or ``max`` of their probabilities.
    """

    model_mpp: float
    tile: int
    heatmap_mpp: float = 4.0
    overlap: float = 0.25
    blend: Blend = "crop"
    block_tiles: int = 8
    tissue: TissueParams = DEFAULT_PARAMS
    backend: BackendName = "auto"
    slide_mpp: float | None = None
    tta: Tta = "none"
    reduction: Reduction = "mean"

    def __post_init__(self) -> None:
        """Keep plain strings (a typed config hands ``str`` enums) and check the closed choices."""
        choices = {"blend": Blend, "backend": BackendName, "tta": Tta, "reduction": Reduction}
        for name, allowed in ((n, get_args(c)) for n, c in choices.items()):
            value = str(getattr(getattr(self, name), "value", getattr(self, name)))
            if value not in allowed:
                raise ValueError(f"PredictSettings.{name} must be one of {list(allowed)}, got {value!r}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_model(cls, spec: ModelSpec, **settings) -> PredictSettings:
        """Settings at the resolution and tile size a model was trained with (its checkpoint's record)."""
        return cls(model_mpp=spec.input_mpp, tile=spec.tile_size, **settings)


@dataclass(frozen=True)
class SlideTask:
    """One slide's prediction plan."""

    name: str  # output stem, unique in a run
    path: Path
    grid: TileGrid
    cores: np.ndarray  # (N, 2) heatmap corners of the tile cores to predict
    blocks: tuple[np.ndarray, ...]  # indices into ``cores``, one region read each
    tissue: np.ndarray  # (H, W) bool at heatmap resolution
    backend: Reader = "tiffslide"  # the reader ``settings.backend`` resolved to for this slide

    @property
    def extent(self) -> tuple[slice, slice]:
        """Heatmap rows and columns the tiles can touch (the rest of the heatmap stays 0)."""
        grid, pad = self.grid, self.grid.margin // self.grid.factor
        (x0, y0), (x1, y1) = self.cores.min(axis=0) - pad, self.cores.max(axis=0) + grid.core_hm + pad
        h, w = grid.heatmap_hw
        return slice(max(int(y0), 0), min(int(y1), h)), slice(max(int(x0), 0), min(int(x1), w))


def choose_tissue(
    recorded: Sequence[TissueParams | None], configured: TissueParams, source: TissueFrom, members: Sequence[str]
) -> TissueParams:
    """The tissue settings prediction uses, logged with how they differ from the other candidate.

    Args:
        recorded: each ensemble member's recorded settings (``None``: a checkpoint from before the record).
        configured: ``conf/tissue`` (the prediction config's).
        source: ``checkpoint``: the first member's record, else (no member records any) ``configured`` with a
            warning; ``config``: ``configured``. Members whose records differ from the one used are warned about.
        members: the checkpoints, in the order of ``recorded``, for the messages.
    """
    source = str(getattr(source, "value", source))  # a typed config hands a str enum
    if source not in get_args(TissueFrom):
        raise ValueError(f"tissue_from must be one of {list(get_args(TissueFrom))}, got {source!r}")
    found = [(name, params) for name, params in zip(members, recorded, strict=True) if params is not None]
    if source == "checkpoint" and found:
        first, chosen = found[0]
        others = [name for name, params in zip(members, recorded, strict=True) if params != chosen]
        if others:
            log.warning("ensemble members record other tissue settings than %s (or none): %s; %s's are used",
                        first, ", ".join(others), first)  # fmt: skip
        log.info("tissue ROI: the settings %s records (its training's); %s", first,
                 _differences(chosen, configured, "conf/tissue"))  # fmt: skip
        return chosen
    if found:
        name, params = found[0]
        log.info("tissue ROI: conf/tissue (tissue_from=config); %s", _differences(configured, params, name))
    elif source == "checkpoint":
        log.warning("tissue ROI: conf/tissue, as %s records no tissue settings (trained before checkpoints held "
                    "them: if its training used other tissue.* settings, set them)", " and ".join(members))  # fmt: skip
    else:
        log.info("tissue ROI: conf/tissue (tissue_from=config)")
    return configured


def _differences(used: TissueParams, other: TissueParams, name: str) -> str:
    """``used``'s settings that differ from ``other``'s, for the log."""
    theirs = asdict(other)
    changed = [f"{key}={value} ({name}: {theirs[key]})" for key, value in asdict(used).items() if value != theirs[key]]
    return ", ".join(changed) if changed else f"the same as {name}'s"


def slide_inventory(source: str | Path, options: CohortOptions | None = None) -> Inventory | None:
    """The inventory of ``source`` when it is a folder (a cohort as downloaded, or any folder of slides).

    The slides are not opened here (prediction opens each one when it plans it, and reports those it cannot).
    """
    return read_inventory(source, options, check_slides=False) if Path(source).is_dir() else None


def find_slides(source: str | Path, options: CohortOptions | None = None) -> list[tuple[str, Path]]:
    """``(name, path)`` of the slides in a cohort folder, any folder of slide files, or a glob pattern.

    A folder is read by :func:`~wsiseg.cohorts.read_inventory` (the challenges' names in any layout, the
    synthetic manifest, else every slide file under it). Names are file stems, which must be unique (they
    name the outputs). A path never leaves its folder: only the file name is used for outputs.

    Raises:
        FileNotFoundError: nothing matches.
        ValueError: two slides of a glob share a stem.
    """
    source = Path(source)
    if source.is_dir():
        found = [(r.stem, r.path) for r in slide_inventory(source, options).records]  # type: ignore[union-attr]
    elif source.is_file():
        found = [(source.stem, source)]
    else:
        found = [(Path(p).stem, Path(p)) for p in sorted(glob.glob(str(source), recursive=True))]
    if not found:
        raise FileNotFoundError(f"no slides found at {source} (a cohort folder, a folder of slides, or a glob)")
    stems = [name for name, _ in found]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ValueError(f"slides share file names {duplicates[:5]}; outputs are named by file name")
    return found


def plan_task(name: str, path: Path, settings: PredictSettings) -> SlideTask:
    """Open the slide, find its tissue and choose the tiles to predict.

    Raises:
        WsisegError: unreadable slide, no pixel spacing, or no tissue.
    """
    reader = resolve_backend(path, settings.backend)
    with open_slide(path, mpp=settings.slide_mpp, backend=reader) as slide:
        if min(slide.dimensions) * slide.mpp < settings.tile * settings.model_mpp:
            raise SlideError(
                path,
                f"{slide.dimensions[0]} x {slide.dimensions[1]} px at {slide.mpp:g} um/px is smaller than one model "
                f"tile ({settings.tile} px at {settings.model_mpp:g} um/px); not a whole-slide image, or a wrong mpp?",
            )
        grid = make_tile_grid(
            slide.dimensions, slide.mpp, settings.model_mpp, settings.tile, settings.heatmap_mpp, settings.overlap
        )
        roi = tissue_roi(slide, params=settings.tissue)
    if roi.is_empty:
        raise SlideError(path, "no tissue found by the tissue ROI (blank slide?); nothing to predict")
    tissue = cv2.resize(roi.mask.astype(np.uint8), grid.heatmap_hw[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    cores = select_cores(grid, tissue)
    blocks = tuple(group_cores(cores, grid.core_hm, settings.block_tiles))
    return SlideTask(name, Path(path), grid, cores, blocks, tissue, reader)


def plan_or_error(name: str, path: Path, settings: PredictSettings) -> SlideTask | str:
    """:func:`plan_task`, returning the error message instead of raising (for batch runs)."""
    try:
        return plan_task(name, path, settings)
    except (WsisegError, OSError, ValueError) as err:
        log.error("%s: %s", name, err)
        return f"{type(err).__name__}: {err}"
