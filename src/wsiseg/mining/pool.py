"""The pool of mined hard negatives: patches centred on a round's false positives, cached by digest."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from wsiseg.annotations import rasterize
from wsiseg.atomic import write_text_atomic
from wsiseg.cohorts import SlideRecord
from wsiseg.data.cache import PatchCache, build_cache, build_lock, open_cache
from wsiseg.inference.outputs import output_paths
from wsiseg.locks import claimed, new_run_id, owner
from wsiseg.mining.regions import find_false_positives
from wsiseg.mining.spec import MiningSpec
from wsiseg.sampling import PatchRecord, SamplingSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MinedPool:
    """A round's mined patches and where they came from.

    Attributes:
        cache: the opened pool cache (split ``mined``), or ``None`` when nothing was found.
        patches: the mined patches (level-0 corners), with their slides.
        peaks: each patch's false-positive probability (the region's maximum), in the same order.
        provenance: the round, the checkpoint that mined them and its digest, the settings, counts per slide.
    """

    cache: PatchCache | None
    patches: tuple[PatchRecord, ...]
    peaks: tuple[float, ...]
    provenance: dict


def pool_key(base_key: str, checkpoint_digest: str, mining: MiningSpec, patches: Sequence[PatchRecord]) -> str:
    """Digest of the training cache, the mining checkpoint, the settings and the mined corners."""
    payload = {
        "base": base_key, "checkpoint": checkpoint_digest, "mining": asdict(mining),
        "patches": [[p.slide, p.x, p.y] for p in patches],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MiningSource:
    """Where a pool comes from: the round it is for, the model that mined it, the training cache it joins."""

    round: int
    checkpoint: Path
    checkpoint_digest: str
    training_cache: str  # the training patch cache's folder name (its digest)


def mine_pool(
    slides: Sequence[SlideRecord], split_of: Mapping[str, str], heatmaps: Path, spec: SamplingSpec,
    mining: MiningSpec, source: MiningSource, cache_dir: Path, workers: int = 1,
) -> MinedPool:  # fmt: skip
    """Mine every slide's false positives from its heatmap in ``heatmaps`` and cache patches centred on them.

    Args:
        slides: the slides to mine (training patients only).
        split_of: patient -> train / val / test.
        heatmaps: the folder of the round's heatmaps of ``slides`` (``predict.py`` outputs).
        spec: the sampling recipe (patch footprint, tumour margin, stored size).
        mining: the mining settings.
        source: the round, the checkpoint that predicted the heatmaps and the training cache (recorded; the
            checkpoint's digest and the cache are part of the pool's digest).
        cache_dir: where the pool cache goes (``mined-<digest>``, beside the training caches).
        workers: processes extracting patches.

    Raises:
        ValueError: a slide of a validation or held-out patient is among ``slides``.
    """
    others = sorted(s.slide for s in slides if split_of.get(s.patient) != "train")
    if others:
        raise ValueError(f"refusing to mine slides of validation or held-out patients: {others[:5]}")
    patches, peaks, counts = [], [], {}
    for record in slides:
        found = _mine_slide(record, heatmaps, spec, mining)
        counts[record.slide] = len(found)
        for patch, peak in found:
            patches.append(patch)
            peaks.append(peak)
    key = pool_key(source.training_cache, source.checkpoint_digest, mining, patches)
    provenance = {
        **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(source).items()},
        "mining": asdict(mining), "patches": len(patches), "per_slide": counts,
        "slides": len(slides), "heatmaps": str(heatmaps),
    }  # fmt: skip
    log.info("round %d: mined %d hard-negative patches on %d of %d training slides (threshold %.2f)", source.round,
             len(patches), sum(1 for c in counts.values() if c), len(slides), mining.threshold)  # fmt: skip
    if not patches:
        return MinedPool(None, (), (), provenance | {"pool": None})
    folder = Path(cache_dir) / f"mined-{key}"
    cache = open_cache(folder, key)
    if cache is None:
        with claimed(build_lock(folder), owner(new_run_id()), f"the mined pool {folder}"):
            cache = open_cache(folder, key)
            if cache is None:
                used = {p.slide for p in patches}
                cache = build_cache(folder, key, spec, [s for s in slides if s.slide in used], {"mined": patches},
                                    workers)  # fmt: skip
    provenance |= {"pool": str(folder), "key": key}
    write_text_atomic(folder / "provenance.json", json.dumps(provenance, indent=2))
    return MinedPool(cache, tuple(patches), tuple(peaks), provenance)


def _mine_slide(
    record: SlideRecord, heatmaps: Path, spec: SamplingSpec, mining: MiningSpec
) -> list[tuple[PatchRecord, float]]:
    """One slide's mined patches (level-0 corners) and their regions' peak probabilities."""
    paths = output_paths(heatmaps, Path(record.slide).stem)
    if not paths["meta"].is_file():
        log.warning("%s: no heatmap in %s (its prediction failed?); nothing mined", record.slide, heatmaps)
        return []
    meta = json.loads(paths["meta"].read_text())
    heatmap = np.load(paths["heatmap"]).astype(np.float32)
    tissue = np.load(paths["tissue"]).astype(bool)
    ds = float(meta["heatmap_mpp"]) / float(meta["slide_mpp"])  # level-0 px per heatmap px
    h, w = heatmap.shape
    annotations = record.annotations()
    tumour = np.zeros((h, w), bool)
    if annotations:
        drawn = rasterize(annotations, (int(w * ds), int(h * ds)), ds)[:h, :w]
        tumour[: drawn.shape[0], : drawn.shape[1]] = drawn
        radius = int(np.ceil(spec.tumour_margin_um / float(meta["heatmap_mpp"])))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        tumour = cv2.dilate(tumour.astype(np.uint8), disc) > 0
    box = int(np.ceil(spec.footprint_um / float(meta["heatmap_mpp"])))
    found = find_false_positives(heatmap, tissue, tumour, mining.threshold, mining.per_slide, box)
    half = spec.footprint_um / float(meta["slide_mpp"]) / 2  # level-0 px
    return [
        (PatchRecord(record.slide, int(round((x + 0.5) * ds - half)), int(round((y + 0.5) * ds - half)), "normal"), p)
        for x, y, p in found
    ]
