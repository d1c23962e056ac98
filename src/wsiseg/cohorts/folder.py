"""A plain folder of slides with any names, labelled (or not) by a CSV with ``slide`` and ``label`` columns.

The labels CSV is ``labels.csv`` at the folder's top, or the file ``cohorts.labels`` names. Its columns:
``slide`` (file name or stem), ``label`` (``negative``, ``itc``, ``micro``, ``macro``, or just ``tumor`` /
``normal``, any case) and optionally ``patient`` and ``centre`` (or ``center``). Without a labels file the
slides are unlabelled: enough to predict and stage, not to train.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from wsiseg.cohorts.found import Found
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.errors import LabelError
from wsiseg.labels import SLIDE_LABELS, SlideLabel

#: The labels file a plain folder is read with, at its top.
LABELS = "labels.csv"
_TUMOUR, _NORMAL = ("tumor", "tumour", "positive"), ("normal", "negative")


def find(root: Path, slides: dict[str, Path], labels: Path | None, elsewhere: dict[str, Path] | None = None) -> Found:
    """``slides`` (stem -> file) as records, labelled by ``labels`` (or ``root / labels.csv`` when there is one).

    ``elsewhere``: stem (lower case) -> a slide outside the folder (a heatmap's), standing in for a listed one.

    Raises:
        LabelError: the labels file lacks a ``slide`` or ``label`` column, has an unknown label, or a slide twice.
    """
    labels = labels or (root / LABELS if (root / LABELS).is_file() else None)
    rows = read_table(labels) if labels else {}
    found = Found(label_files=[labels] if labels else [])
    by_stem = {stem.lower(): stem for stem in slides}
    outside = {s: p for s, p in (elsewhere or {}).items() if s in rows and s not in by_stem}
    slides = {**slides, **{p.stem: p for p in outside.values()}}
    by_stem |= {p.stem.lower(): p.stem for p in outside.values()}
    for stem, path in sorted(slides.items()):
        row = rows.get(stem.lower(), {})
        has_tumour, label = _label(row.get("label", ""))
        centre = row.get("centre") or row.get("center")
        found.records.append(SlideRecord(path.name, path, None, "folder", row.get("patient") or stem, label, has_tumour,
                                         int(centre) if centre else None))  # fmt: skip
    found.excluded += [Excluded(name, None, "label without slide", f"listed in {labels}, no such slide under {root}")
                       for name in sorted(rows) if name not in by_stem]  # fmt: skip
    return found


def _label(value: str) -> tuple[bool | None, SlideLabel | None]:
    value = value.strip().lower()
    if value in SLIDE_LABELS:
        return value != "negative", value  # type: ignore[return-value]
    return (True, None) if value in _TUMOUR else (False, "negative") if value in _NORMAL else (None, None)


def read_table(path: Path) -> dict[str, dict[str, str]]:
    """Slide stem (lower case) -> its row (lower-case column names) of a labels CSV.

    Raises:
        LabelError: no ``slide`` / ``label`` column, an unknown label, or a slide listed twice.
    """
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if not {"slide", "label"} <= set(columns):
        raise LabelError(path, f"a labels CSV needs the columns slide and label, found {columns}")
    rows: dict[str, dict[str, str]] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        stem = Path(row["slide"]).stem.lower() if Path(row["slide"]).suffix else row["slide"].lower()
        if row["label"] and _label(row["label"]) == (None, None):
            allowed = ", ".join((*SLIDE_LABELS, "tumor", "normal"))
            raise LabelError(path, f"line {line}: unknown label {row['label']!r}; expected one of {allowed}")
        if stem in rows:
            raise LabelError(path, f"line {line}: {row['slide']} is listed twice")
        rows[stem] = row
    return rows
