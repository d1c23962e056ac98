"""Features of many heatmaps, computed in parallel and cached per heatmap.

An entry is keyed by the digest of the heatmap and tissue files and lives in a folder named after the
feature settings: a sweep that changes only the classifier reuses every entry, a changed heatmap or
feature setting computes afresh. Entries are written atomically; an unreadable or stale one is recomputed.

``stage.py`` runs sharing a cache (a classifier sweep started as parallel jobs) compute each entry once:
the run computing an entry holds a claim on ``.locks/<heatmap>.lock`` (:mod:`wsiseg.locks`), another run
that needs it waits and then reads it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from wsiseg.atomic import write_text_atomic
from wsiseg.features.heatmaps import HeatmapRecord, load_heatmap
from wsiseg.features.regions import FeatureSpec, slide_features
from wsiseg.inference import file_digest, settings_digest
from wsiseg.locks import claimed, new_run_id, owner
from wsiseg.parallel import map_slides

#: Bump when the feature code changes what it computes: old cache entries then no longer match.
FEATURES_VERSION = 2


def cache_folder(root: str | Path, spec: FeatureSpec) -> Path:
    """The cache folder of one feature configuration (and version of the feature code)."""
    return Path(root) / f"features-{settings_digest(asdict(spec) | {'version': FEATURES_VERSION})}"


def heatmap_digest(record: HeatmapRecord) -> str:
    """Digest of the heatmap's content (probabilities, tissue mask and resolution)."""
    return f"{file_digest(record.heatmap)}-{file_digest(record.tissue)}-{record.mpp:.6g}"


def features_of(
    record: HeatmapRecord, spec: FeatureSpec, folder: Path | None, run: str = ""
) -> tuple[dict[str, float], bool]:
    """One heatmap's features, from the cache when a valid entry exists (or another run writes one meanwhile).

    Returns:
        (features, whether they came from the cache).
    """
    if folder is None:
        heatmap, tissue = load_heatmap(record)
        return slide_features(heatmap, tissue, record.mpp, spec), False
    digest, entry = heatmap_digest(record), folder / f"{record.name}.json"
    cached = _read_entry(entry, digest)
    if cached is not None:
        return cached, True
    lock = folder / ".locks" / f"{record.name}.lock"
    with claimed(lock, owner(run or new_run_id()), f"the features of {record.name}", level=logging.DEBUG):
        cached = _read_entry(entry, digest)  # written by another run while this one waited
        if cached is not None:
            return cached, True
        heatmap, tissue = load_heatmap(record)
        features = slide_features(heatmap, tissue, record.mpp, spec)
        payload = {"heatmap_digest": digest, "spec": asdict(spec), "features": features}
        write_text_atomic(entry, json.dumps(payload, indent=1))
    return features, False


def _read_entry(entry: Path, digest: str) -> dict[str, float] | None:
    """A cache entry's features when it exists and was made from this heatmap content, else None."""
    if not entry.is_file():
        return None
    try:
        cached = json.loads(entry.read_text())
        if cached.get("heatmap_digest") == digest:
            return {k: float(v) for k, v in cached["features"].items()}
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # half-written or foreign: recompute
    return None


def compute_features(
    records: Sequence[HeatmapRecord], spec: FeatureSpec, cache_root: str | Path | None = None, workers: int = 2
) -> tuple[list[dict[str, float]], int]:
    """Features of every heatmap, in order, using and filling the cache under ``cache_root`` (None: no cache).

    Returns:
        (features per heatmap, how many came from the cache).
    """
    folder = None
    if cache_root is not None:
        folder = cache_folder(cache_root, spec)
        folder.mkdir(parents=True, exist_ok=True)
    # spawned workers cost about a second each: not worth it for a few heatmaps
    workers = workers if len(records) >= 16 else 1
    run = new_run_id()
    jobs = [(r, spec, folder, run) for r in records]
    results = map_slides(features_of, jobs, workers, "features", unit="heatmap")
    return [f for f, _ in results], sum(hit for _, hit in results)
