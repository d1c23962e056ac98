"""What the inventory checks before any work: annotations matched and readable, slides that open, lesions on them.

Annotations are matched to slides by stem (``patient_004_node_4.xml`` / ``.geojson`` anywhere under the
folder) and read with the configured group roles; slides are opened (header, pyramid, truncation, codec and
pixel spacing: :func:`~wsiseg.slide.open_slide`'s checks), in threads, with a progress bar.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from wsiseg.cohorts.names import parse_slide_name
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.errors import AnnotationError, UnknownGroupError, WsisegError
from wsiseg.slide import open_slide

log = logging.getLogger(__name__)
#: Which annotation file wins when a slide has several: ASAP XML, then GeoJSON.
_PREFERENCE = {".xml": 0, ".geojson": 1, ".json": 2}


def match_annotations(
    records: list[SlideRecord], candidates: Sequence[Path], any_name: bool
) -> tuple[list[SlideRecord], list[Excluded]]:
    """Give each record without an annotation the file of its stem; name the annotation files left over.

    Args:
        records: the slides.
        candidates: the annotation files found (``.xml``, ``.geojson``; ``.json`` only when it is GeoJSON).
        any_name: report unmatched files of any name (a plain folder), not only those named like a challenge slide.
    """
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(candidates, key=lambda p: (_PREFERENCE[p.suffix.lower()], str(p))):
        if path.suffix.lower() != ".json" or _is_geojson(path):
            by_stem.setdefault(path.stem.lower(), []).append(path)
    excluded, out, used = [], [], set()
    for record in records:
        files = by_stem.get(record.stem.lower(), [])
        if record.annotation is None and files:
            record = replace(record, annotation=files[0])
            excluded += [Excluded(p.name, p, "duplicate", f"{record.slide} is annotated by {files[0]}")
                         for p in files[1:]]  # fmt: skip
        used.add(record.stem.lower())
        out.append(record)
    for stem, files in sorted(by_stem.items()):
        if stem not in used and (any_name or parse_slide_name(stem) is not None):
            excluded += [Excluded(p.name, p, "annotation without slide", f"no slide named {stem}.* is in the cohort")
                         for p in files]  # fmt: skip
    return out, excluded


def _is_geojson(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("type") in ("FeatureCollection", "Feature")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False


def check_annotations(records: list[SlideRecord]) -> tuple[list[SlideRecord], list[Excluded]]:
    """Read every annotation with its record's group roles; one that fails is dropped from its slide, named."""
    out, excluded = [], []
    for record in tqdm(records, desc="read annotations", unit="slide", disable=len(records) < 20):
        if record.annotation is not None:
            try:
                record.annotations()
            except AnnotationError as err:
                reason = "unknown annotation group" if isinstance(err, UnknownGroupError) else "unreadable annotation"
                excluded.append(Excluded(record.annotation.name, record.annotation, reason, err.reason))
                record = replace(record, annotation=None)
        out.append(record)
    return out, excluded


def check_slides(records: list[SlideRecord], workers: int = 4) -> tuple[list[SlideRecord], list[Excluded]]:
    """Open every slide; an unreadable one is left out, an annotation entirely off its slide is dropped."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(tqdm(pool.map(_open, records), total=len(records), desc="check slides", unit="slide",
                            disable=len(records) < 20))  # fmt: skip
    out, excluded = [], []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, Excluded):
            excluded.append(result)
            continue
        if record.annotation is not None and _outside(record, result):
            detail = (f"no tumour outline of it overlaps {record.slide} ({result[0]} x {result[1]} px at level 0); "
                      "was it drawn on another slide or level?")  # fmt: skip
            excluded.append(Excluded(record.annotation.name, record.annotation, "annotation outside its slide", detail))
            record = replace(record, annotation=None)
        out.append(record)
    return out, excluded


def _open(record: SlideRecord) -> tuple[int, int] | Excluded:
    try:
        with open_slide(record.path, backend="auto") as slide:
            return slide.dimensions
    except (WsisegError, OSError, ValueError) as err:
        return Excluded(record.slide, record.path, "unreadable", getattr(err, "reason", str(err)))


def _outside(record: SlideRecord, size_wh: tuple[int, int]) -> bool:
    """Whether no tumour outline of the record's annotation reaches into the slide's level-0 rectangle."""
    tumour = [a.vertices_xy for a in record.annotations() if a.role == "tumor"]
    if not tumour:
        return False
    size = np.asarray(size_wh, np.float64)
    return not any((v.max(axis=0) >= 0).all() and (v.min(axis=0) <= size).all() for v in tumour)  # bounding boxes
