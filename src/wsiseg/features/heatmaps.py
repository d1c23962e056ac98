"""The heatmaps ``predict.py`` wrote: find the finished ones in a folder and load them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsiseg.inference import output_paths
from wsiseg.inference.outputs import FORMAT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeatmapRecord:
    """One finished heatmap.

    Attributes:
        name: the slide's stem (``patient_004_node_4``).
        slide: the slide's file name (``patient_004_node_4.tif``).
        heatmap: the float16 probability ``.npy``.
        tissue: the bool tissue-mask ``.npy`` (same shape).
        mpp: micrometres per heatmap pixel.
        slide_mpp: micrometres per level-0 pixel of the slide.
        slide_path: the slide file the heatmap was predicted from.
        overlay: the overlay PNG, when one was written.
        checkpoint: the checkpoint that made it, as recorded (``None`` if not, or for an ensemble).
        checkpoints: every checkpoint that made it (an ensemble's members; the one checkpoint otherwise).
    """

    name: str
    slide: str
    heatmap: Path
    tissue: Path
    mpp: float
    slide_mpp: float
    slide_path: Path
    overlay: Path | None = None
    checkpoint: str | None = None
    checkpoints: tuple[str, ...] = ()


def find_heatmaps(folder: str | Path) -> list[HeatmapRecord]:
    """Every finished heatmap in ``folder`` (its metadata ``.json`` is written last), sorted by name.

    Metadata that is unreadable, of another format or names missing files is skipped with a warning: such a
    slide was not finished (rerun ``predict.py`` on it).

    Raises:
        FileNotFoundError: ``folder`` does not exist or holds no finished heatmap.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"heatmap folder not found: {folder} (run predict.py first)")
    records = []
    for meta_path in sorted(folder.glob("*.json")):
        if meta_path.name.startswith("summary"):
            continue
        try:
            meta = json.loads(meta_path.read_text())
            name = Path(str(meta["name"])).name  # a bare name: nothing derived from it leaves the folder
            paths = output_paths(folder, name)
            record = HeatmapRecord(
                name, Path(meta["slide"]).name, paths["heatmap"], paths["tissue"], float(meta["heatmap_mpp"]),
                float(meta["slide_mpp"]), Path(meta["slide"]),
                paths["png"] if meta.get("files", {}).get("png") else None, meta.get("checkpoint"),
                _members(meta),
            )  # fmt: skip
            if meta.get("format") != FORMAT or not (record.heatmap.is_file() and record.tissue.is_file()):
                raise ValueError("files missing or another format")
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("skipping %s: not a finished heatmap (%s); rerun predict.py on its slide", meta_path, err)
            continue
        records.append(record)
    if not records:
        raise FileNotFoundError(f"{folder}: no finished heatmap (<slide>.json + .heatmap.npy); run predict.py first")
    return records


def predict_failures(folder: str | Path) -> dict[str, str]:
    """Slide name -> why ``predict.py`` could not predict it, from every run's summary in ``folder``.

    A later run's reason wins; slides predicted since are the caller's to skip (they have a heatmap).
    """
    failed: dict[str, str] = {}
    summaries = sorted(Path(folder).glob("summary-*.json"), key=lambda p: p.stat().st_mtime)
    for path in summaries or [Path(folder) / "summary.json"]:
        try:
            failed |= {str(k): str(v) for k, v in json.loads(path.read_text()).get("failed", {}).items()}
        except (OSError, ValueError, AttributeError):
            continue
    return failed


def _members(meta: dict) -> tuple[str, ...]:
    """The checkpoints a heatmap's metadata names: its ensemble's members, or its one checkpoint."""
    members = meta.get("checkpoints")
    if isinstance(members, list) and members:
        return tuple(str(m["path"]) for m in members)
    return (str(meta["checkpoint"]),) if meta.get("checkpoint") else ()


def load_heatmap(record: HeatmapRecord) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities as float32, tissue mask as bool), both (H, W)."""
    heatmap = np.load(record.heatmap, allow_pickle=False).astype(np.float32)
    tissue = np.load(record.tissue, allow_pickle=False).astype(bool)
    if heatmap.shape != tissue.shape:
        raise ValueError(f"{record.heatmap}: heatmap {heatmap.shape} and tissue {tissue.shape} differ in shape")
    return heatmap, tissue
