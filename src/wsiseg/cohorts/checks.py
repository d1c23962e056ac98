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


#: Slide -> the bounding boxes of its annotation's tumour outlines, (K, 4) level-0 ``x0, y0, x1, y1``.
Extents = dict[str, np.ndarray]


def check_annotations(records: list[SlideRecord]) -> tuple[list[SlideRecord], list[Excluded], Extents]:
    """Read every annotation with its record's group roles; one that fails is dropped from its slide, named.

    Returns:
        The records, the annotations left out, and each annotated slide's tumour extents (for :func:`check_slides`).
    """
    out, excluded, extents = [], [], {}
    for record in tqdm(records, desc="read annotations", unit="slide", disable=len(records) < 20):
        if record.annotation is not None:
            try:
                tumour = [a.vertices_xy for a in record.annotations() if a.role == "tumor"]
                extents[record.slide] = np.array([[*v.min(axis=0), *v.max(axis=0)] for v in tumour]).reshape(-1, 4)
            except AnnotationError as err:
                reason = "unknown annotation group" if isinstance(err, UnknownGroupError) else "unreadable annotation"
                excluded.append(Excluded(record.annotation.name, record.annotation, reason, err.reason))
                record = replace(record, annotation=None)
        out.append(record)
    return out, excluded, extents


def check_slides(
    records: list[SlideRecord], extents: Extents, workers: int = 4
) -> tuple[list[SlideRecord], list[Excluded]]:
    """Open every slide; an unreadable one is left out, an annotation entirely off its slide is dropped.

    ``extents``: the tumour extents :func:`check_annotations` measured (annotations are not read again).
    """
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(tqdm(pool.map(_open, records), total=len(records), desc="check slides", unit="slide",
                            disable=len(records) < 20))  # fmt: skip
    out, excluded = [], []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, Excluded):
            excluded.append(result)
            continue
        if record.annotation is not None and _outside(extents.get(record.slide), result):
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


def _outside(extent: np.ndarray | None, size_wh: tuple[int, int]) -> bool:
    """Whether no tumour bounding box (``extent``, (K, 4)) reaches into the slide's level-0 rectangle."""
    if extent is None or not len(extent):
        return False
    reaches = (extent[:, 2:] >= 0).all(axis=1) & (extent[:, :2] <= np.asarray(size_wh, np.float64)).all(axis=1)
    return not reaches.any()
