"""CAMELYON16: ``tumor_XXX.*``, ``normal_XXX.*`` and ``test_XXX.*`` slides anywhere, the test set's ``reference.csv``.

The challenge's shared folders keep ``training/tumor/``, ``training/normal/`` and ``testing/images/``; the
open-data bucket keeps every slide in one ``images/`` folder and the reference under ``evaluation/``. Training
slides are labelled by their names (tumour slides get their size class later, from their annotation); test
slides by ``reference.csv``, which has no header: ``test_001,Tumor,Macro,Primary`` / ``test_002,Normal``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from wsiseg.cohorts.found import Found, Named
from wsiseg.cohorts.names import SlideName, parse_slide_name
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.cohorts.scan import Files
from wsiseg.errors import LabelError
from wsiseg.labels import SLIDE_LABELS, SlideLabel

#: The name of the test set's labels file.
REFERENCE = "reference.csv"

#: A test slide's reference: whether it holds tumour, and its size class when the file gives one.
Reference = tuple[bool, SlideLabel | None]


def find(files: Files, named: Named, elsewhere: Named | None = None) -> Found:
    """The CAMELYON16 slides among ``named``, the test slides labelled by every ``reference.csv`` found.

    ``elsewhere``: slides outside the folder (those a heatmap was predicted from) standing in for the test slides
    the reference lists and the folder lacks.

    Raises:
        LabelError: a reference file is malformed, or two disagree on a slide.
    """
    found = Found(label_files=list(files.tables.get(REFERENCE, [])))
    references = read_references(found.label_files)
    slides = {name: path for name, path in named.items() if name.dataset == "camelyon16"}
    slides |= {n: p for n, p in (elsewhere or {}).items() if n.stem in references and n not in slides}
    for name, path in sorted(slides.items(), key=lambda item: item[0].stem):
        has_tumour, label = _label(name, references)
        found.records.append(
            SlideRecord(path.name, path, None, "camelyon16", name.patient, label, has_tumour, None, name.subset)
        )
    present = {name.stem for name in slides}
    found.excluded += [
        Excluded(f"{stem}.tif", None, "label without slide", f"listed in {REFERENCE} but no {stem}.* slide file is "
                 f"under {files.root}")
        for stem in sorted(references) if stem not in present
    ]  # fmt: skip
    return found


def _label(name: SlideName, references: dict[str, Reference]) -> tuple[bool | None, SlideLabel | None]:
    if name.kind == "normal":
        return False, "negative"
    if name.kind == "tumor":
        return True, None
    has_tumour, size = references.get(name.stem, (None, None))
    if has_tumour is False:
        return False, "negative"
    return has_tumour, size


def read_references(paths: list[Path]) -> dict[str, Reference]:
    """``test_XXX`` -> (tumour or not, size class) from every reference file; they must agree."""
    references: dict[str, Reference] = {}
    for path in paths:
        for stem, value in parse_reference(path.read_text(encoding="utf-8-sig"), path).items():
            if references.get(stem, value) != value:
                raise LabelError(path, f"{stem} is {value} here but {references[stem]} in another {REFERENCE}")
            references[stem] = value
    return references


def parse_reference(text: str, path: str | Path = REFERENCE) -> dict[str, Reference]:
    r"""Parse a CAMELYON16 ``reference.csv``: ``test_001,Tumor,Macro,Primary`` / ``test_002,Normal`` (no header).

    The class (``Tumor`` / ``Normal``) and the size (``Macro``, ``Micro``, ``ITC``) are read in any letter case;
    a first line that names no slide is taken as a header.

    Raises:
        LabelError: a line names no CAMELYON16 slide, or its class is neither Tumor nor Normal.

    >>> parse_reference("test_001,Tumor,Macro,Primary\ntest_002,Normal\n")
    {'test_001': (True, 'macro'), 'test_002': (False, None)}
    """
    references: dict[str, Reference] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        name = parse_slide_name(Path(cells[0]).stem)
        if name is None or name.dataset != "camelyon16":
            if line == 1:
                continue  # a header
            raise LabelError(path, f"line {line}: {cells[0]!r} is not a CAMELYON16 slide name (test_XXX)")
        kind = cells[1].lower() if len(cells) > 1 else ""
        if kind not in ("tumor", "tumour", "normal"):
            raise LabelError(path, f"line {line}: class {kind or '(none)'!r}; expected Tumor or Normal")
        size = cells[2].lower() if len(cells) > 2 and kind != "normal" else ""
        label = size if size in SLIDE_LABELS[1:] else None
        references[name.stem] = (kind != "normal", label)  # type: ignore[assignment]
    return references
