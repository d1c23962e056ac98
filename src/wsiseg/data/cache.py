"""The patch cache: patches (image + mask) extracted once into memory-mapped ``.npy`` files with a CSV index.

A cache folder is named by a digest of everything that decides its content (the sampling recipe, the
slides and their split), so an unchanged configuration reuses it and a changed one builds a new one.
``meta.json`` is written last: a folder without it (an interrupted build) is rebuilt.

Runs that share ``cache_dir`` (two ``train.py`` runs of one configuration, a sweep over other settings)
build a digest once: the builder holds a claim on ``.locks/patches-<digest>.lock`` (:mod:`wsiseg.locks`), the
others wait for it and then reuse its cache. A build fills a private folder that is renamed into place
when complete, so no run ever sees, or writes into, another run's half-built cache.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wsiseg.annotations import rasterize
from wsiseg.atomic import atomic_path, write_text_atomic
from wsiseg.cohorts import SlideRecord
from wsiseg.locks import new_run_id
from wsiseg.parallel import map_slides
from wsiseg.sampling import PatchRecord, SamplingSpec
from wsiseg.slide import open_slide
from wsiseg.tissue import TissueParams

log = logging.getLogger(__name__)
INDEX_FIELDS = ("row", "slide", "x", "y", "label", "split", "repeats", "tumour_fraction")
FORMAT = 1


@dataclass(frozen=True)
class PatchCache:
    """An opened, complete cache folder."""

    folder: Path
    index: tuple[dict, ...]  # one dict per stored patch, INDEX_FIELDS, typed

    @property
    def images_path(self) -> Path:
        """(M, S, S, 3) uint8 ``.npy``."""
        return self.folder / "images.npy"

    @property
    def masks_path(self) -> Path:
        """(M, S, S) uint8 ``.npy`` (1 = tumour)."""
        return self.folder / "masks.npy"

    def rows(self, split: str, expand_repeats: bool) -> np.ndarray:
        """Row numbers of a split; with ``expand_repeats`` each row appears ``repeats`` times (oversampling)."""
        chosen = [r for r in self.index if r["split"] == split]
        counts = [r["repeats"] if expand_repeats else 1 for r in chosen]
        return np.repeat(np.array([r["row"] for r in chosen], np.int64), counts)


def cache_key(
    spec: SamplingSpec, slides: Sequence[SlideRecord], split_of: Mapping[str, str], tissue: TissueParams
) -> str:
    """Digest of the recipe, the tissue detector's settings, the slide files (path, size, mtime) and their split."""
    items = []
    for r in sorted(slides, key=lambda r: r.slide):
        stat = r.path.stat()
        ann = r.annotation.stat().st_mtime_ns if r.annotation else None
        item = [r.slide, str(r.path.resolve()), stat.st_size, stat.st_mtime_ns, ann, split_of[r.patient]]
        items.append(item + [list(map(list, r.group_roles))] if r.group_roles else item)  # roles change the masks
    payload = {"format": FORMAT, "spec": asdict(spec), "tissue": asdict(tissue), "slides": items}
    payload = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def open_cache(folder: str | Path, key: str | None = None) -> PatchCache | None:
    """The cache in ``folder`` if it is complete (and made for ``key``), else ``None``."""
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if (key is not None and meta.get("key") != key) or meta.get("format") != FORMAT:
        return None
    with (folder / "index.csv").open(newline="") as fh:
        index = tuple(_typed(row) for row in csv.DictReader(fh))
    images = np.load(folder / "images.npy", mmap_mode="r")
    if len(index) != meta["patches"] or images.shape[0] != meta["patches"]:
        log.warning(
            "patch cache %s is inconsistent (%d rows, %d images); rebuilding", folder, len(index), images.shape[0]
        )
        return None
    return PatchCache(folder, index)


def _typed(row: dict) -> dict:
    return {
        **row, "row": int(row["row"]), "x": int(row["x"]), "y": int(row["y"]),
        "repeats": int(row["repeats"]), "tumour_fraction": float(row["tumour_fraction"]),
    }  # fmt: skip


def build_cache(
    folder: str | Path,
    key: str,
    spec: SamplingSpec,
    slides: Sequence[SlideRecord],
    patches: Mapping[str, Sequence[PatchRecord]],
    workers: int = 2,
) -> PatchCache:
    """Extract every patch of every split into a new cache folder (slides in parallel, with a progress bar).

    Args:
        folder: the cache folder (replaced if it exists, once the new one is complete; hold the claim on
            :func:`build_lock` while building, as :class:`~wsiseg.data.PatchDataModule` does).
        key: the digest stored in ``meta.json``.
        spec: the recipe (``out_mpp`` and ``out_size`` decide the stored pixels).
        slides: the slides the patches come from.
        patches: split name -> its patches.
        workers: processes extracting slides.
    """
    folder = Path(folder)
    build = folder.parent / f".{folder.name}.build-{new_run_id()}"  # private until renamed into place
    build.mkdir(parents=True)
    try:
        index = _build(build, key, spec, slides, patches, workers)
        if folder.exists():  # an incomplete or stale cache under the final name
            shutil.rmtree(folder)
        build.rename(folder)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return PatchCache(folder, tuple(index))


def _build(
    folder: Path,
    key: str,
    spec: SamplingSpec,
    slides: Sequence[SlideRecord],
    patches: Mapping[str, Sequence[PatchRecord]],
    workers: int,
) -> list[dict]:
    """Fill ``folder``: memory maps, index and, last, ``meta.json``; returns the index."""
    index = [
        {"row": i, "slide": p.slide, "x": p.x, "y": p.y, "label": p.label, "split": split, "repeats": p.repeats}
        for i, (split, p) in enumerate((s, p) for s, ps in patches.items() for p in ps)
    ]
    size = spec.out_size
    np.lib.format.open_memmap(folder / "images.npy", "w+", np.uint8, (len(index), size, size, 3)).flush()
    np.lib.format.open_memmap(folder / "masks.npy", "w+", np.uint8, (len(index), size, size)).flush()
    by_slide: dict[str, list[dict]] = defaultdict(list)
    for row in index:
        by_slide[row["slide"]].append(row)
    records = {r.slide: r for r in slides}
    jobs = [(records[name], [(r["row"], r["x"], r["y"]) for r in rows]) for name, rows in by_slide.items()]
    fractions: dict[int, float] = {}
    weights = [len(rows) for _, rows in jobs]
    jobs_args = [(folder, spec, record, rows) for record, rows in jobs]
    for result in map_slides(extract_slide, jobs_args, workers, "extract patches", "patch", weights):
        fractions.update(result)
    for row in index:
        row["tumour_fraction"] = round(fractions[row["row"]], 6)
    _write_index(folder / "index.csv", index)
    meta = {"key": key, "format": FORMAT, "patches": len(index), "spec": asdict(spec)}
    write_text_atomic(folder / "meta.json", json.dumps(meta, indent=2))
    return index


def stale_builds(folder: str | Path) -> list[Path]:
    """Private build folders of ``folder`` left by killed runs (stale once this run holds the claim)."""
    folder = Path(folder)
    return sorted(folder.parent.glob(f".{folder.name}.build-*"))


def build_lock(folder: str | Path) -> Path:
    """The lock file whose claim a run holds while it builds the cache ``folder`` (``.locks/`` beside it)."""
    folder = Path(folder)
    return folder.parent / ".locks" / f"{folder.name}.lock"


def extract_slide(folder: Path, spec: SamplingSpec, record: SlideRecord, rows) -> dict[int, float]:
    """Read one slide's patches (block reads) and their tumour masks into the cache's memory maps."""
    images = np.load(folder / "images.npy", mmap_mode="r+")
    masks = np.load(folder / "masks.npy", mmap_mode="r+")
    annotations = record.annotations()
    corners = np.array([(x, y) for _, x, y in rows], np.float64).reshape(-1, 2)  # (N, 2) level 0
    fractions = {}
    with open_slide(record.path) as slide:
        ds = spec.out_mpp / slide.mpp  # level-0 px per stored px
        footprint = spec.out_size * ds
        for i, tile in slide.read_tiles(corners, (spec.out_size, spec.out_size), spec.out_mpp):
            row = rows[i][0]
            images[row] = tile
            mask = rasterize(annotations, (footprint, footprint), ds, origin_xy=tuple(corners[i]))
            masks[row] = mask[: spec.out_size, : spec.out_size]
            fractions[row] = float(masks[row].mean())
    images.flush()
    masks.flush()
    return fractions


def _write_index(path: Path, index: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, INDEX_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(index)
