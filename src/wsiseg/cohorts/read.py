"""Reading cohort folders into an inventory, whatever their layout.

Cohorts are found by the challenges' file names, not by one folder layout (:mod:`wsiseg.cohorts.names`): a
folder with ``manifest.csv`` is the synthetic cohort; otherwise every ``patient_XXX_node_Y.*``, ``tumor_XXX.*``,
``normal_XXX.*`` and ``test_XXX.*`` under it is a CAMELYON17 or CAMELYON16 slide; a folder with none of those
is a plain folder of slides (:mod:`wsiseg.cohorts.folder`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from wsiseg.cohorts import camelyon16, camelyon17, checks, folder, manifest
from wsiseg.cohorts.found import Found
from wsiseg.cohorts.inventory import Inventory
from wsiseg.cohorts.names import PATIENT_ARCHIVE, SLIDE_SUFFIXES, parse_slide_name
from wsiseg.cohorts.options import CohortOptions
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.cohorts.scan import Files, scan

log = logging.getLogger(__name__)
#: Suffixes of downloads that did not finish.
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".partial", ".tmp")


def read_inventory(
    roots: str | Path | Sequence[str | Path],
    options: CohortOptions | None = None,
    check_slides: bool | None = None,
    elsewhere: Iterable[str | Path] = (),
) -> Inventory:
    """Find every slide under the cohort folders ``roots``, with its labels and annotation, and check them.

    Args:
        roots: one cohort folder or several (their slide names must not repeat: a repeat is left out).
        options: how to read them (group roles, a labels file, slide checks).
        check_slides: open every slide (``None``: ``options.check_slides``).
        elsewhere: slide files known outside the folders (e.g. those ``predict.py`` read on another machine):
            a slide the labels list and the folder lacks is one of these when its name matches.

    Raises:
        FileNotFoundError: a folder is missing, or holds no slide under any known name or layout.
        LabelError: a labels file is malformed, or two disagree.
    """
    options = options or CohortOptions()
    roots = [Path(roots)] if isinstance(roots, str | Path) else [Path(r) for r in roots]
    found, layouts = Found(), {}
    known = {Path(p).stem.lower(): Path(p) for p in elsewhere}
    for root in roots:
        part, layouts[str(root)] = _find(root, options, known)
        found += part
    if options.only is not None:
        found.records = [r for r in found.records if options.keeps(r.slide)]
        found.excluded = [e for e in found.excluded if options.keeps(e.name)]
        found.stages = {p: s for p, s in found.stages.items() if options.keeps(f"{p}_node_0")}
        log.info("cohorts.only=%s: %d slides", list(options.only), len(found.records))
    records, duplicates = _unique(found.records)
    records = [replace(r, group_roles=options.roles) for r in records]
    records, unreadable_annotations, extents = checks.check_annotations(records)
    excluded = found.excluded + duplicates + unreadable_annotations
    check = options.check_slides if check_slides is None else check_slides
    if check:
        records, bad = checks.check_slides(records, extents, options.workers)
        excluded += bad
    records.sort(key=lambda r: (r.dataset, r.slide))
    return Inventory(tuple(roots), tuple(records), tuple(excluded), layouts, tuple(found.label_files),
                     dict(found.stages), check)  # fmt: skip


def _find(root: Path, options: CohortOptions, elsewhere: dict[str, Path]) -> tuple[Found, tuple[str, ...]]:
    """One folder's slides by the first layout that holds any; raises when none does."""
    if (root / manifest.MANIFEST).is_file():
        return manifest.find(root, elsewhere), ("synthetic",)
    files = scan(root)
    extra = Path(options.labels) if options.labels else None
    if extra is not None:
        _add_labels_file(files, extra)
    named, duplicates = _first_of_each(files.slides, lambda p: parse_slide_name(p.stem))
    others = sorted(p for p in files.slides if parse_slide_name(p.stem) is None)
    if named or any(files.tables.get(n) for n in (*camelyon17.LABEL_FILES, camelyon16.REFERENCE)):
        known = {name: path for stem, path in elsewhere.items() if (name := parse_slide_name(stem)) is not None}
        found = camelyon17.find(files, named, known)
        found += camelyon16.find(files, named, known)
        other = "named like no challenge slide (a plain folder of slides is read only when it holds no challenge name)"
        found.excluded += [Excluded(p.name, p, "other name", other) for p in others]
        layouts = tuple(sorted({r.dataset for r in found.records}))
    else:
        by_stem, duplicates = _first_of_each(others, lambda p: p.stem.lower())
        found = folder.find(root, {p.stem: p for p in by_stem.values()}, extra, elsewhere)
        layouts = ("folder",)
    if not found.records and not found.excluded:
        raise FileNotFoundError(_nothing_found(root, files))
    found.records, matched = checks.match_annotations(found.records, files.annotations, layouts == ("folder",))
    found.excluded += duplicates + matched + _unusable(files)
    return found, layouts


def _add_labels_file(files: Files, path: Path) -> None:
    """File ``cohorts.labels`` under the name its content says it is (stage labels, a reference, a table)."""
    if not path.is_file():
        raise FileNotFoundError(f"cohorts.labels: no such file {path}")
    first = path.read_text(encoding="utf-8-sig").lstrip().split("\n", 1)[0].lower().replace(" ", "")
    if first.startswith("patient,stage"):
        files.tables[camelyon17.LABEL_FILES[0]].append(path)
    elif (name := parse_slide_name(first.split(",")[0])) is not None and name.dataset == "camelyon16":
        files.tables[camelyon16.REFERENCE].append(path)
    else:
        files.tables[folder.LABELS].append(path)


def _first_of_each(slides: list[Path], key: Callable[[Path], Any]) -> tuple[dict[Any, Path], list[Excluded]]:
    """One slide file per ``key`` (``None``: skipped): a ``.tif`` first, then the shallower path; the rest named."""
    chosen: dict[Any, Path] = {}
    duplicates = []
    for path in sorted(slides, key=lambda p: (p.suffix.lower() not in (".tif", ".tiff"), len(p.parts), str(p))):
        if (k := key(path)) is None:
            continue
        if (kept := chosen.setdefault(k, path)) is not path:
            duplicates.append(Excluded(path.name, path, "duplicate", f"the same slide as {kept}"))
    return chosen, duplicates


def _unique(records: list[SlideRecord]) -> tuple[list[SlideRecord], list[Excluded]]:
    """One record per stem across folders (outputs are named by stem); a repeat is left out."""
    first: dict[str, SlideRecord] = {}
    duplicates = []
    for r in records:
        if (kept := first.setdefault(r.stem.lower(), r)) is not r:
            duplicates.append(Excluded(r.slide, r.path, "duplicate", f"the same name as {kept.path}"))
    return list(first.values()), duplicates


def _unusable(files: Files) -> list[Excluded]:
    """Challenge-named files no reader opens, and archives nobody unpacked."""
    out = []
    for path in files.other_formats:
        partial = path.suffix.lower() in PARTIAL_SUFFIXES
        readers = f"no reader opens {path.suffix} files ({', '.join(SLIDE_SUFFIXES)}); convert it to a tiled TIFF"
        detail = "an unfinished download; download it again" if partial else readers
        out.append(Excluded(path.name, path, "unsupported format", detail))
    for path in files.archives:
        beside = [p for p in (*files.slides, *files.annotations) if p.parent == path.parent]
        if not PATIENT_ARCHIVE.match(path.name) and not (path.parent / path.stem).is_dir() and not beside:
            out.append(Excluded(path.name, path, "archive not unpacked", "unzip it where it is"))
    return out


def _nothing_found(root: Path, files: Files) -> str:
    seen = Counter(p.suffix.lower() for p in (*files.slides, *files.annotations, *files.archives))
    what = ", ".join(f"{n} {s}" for s, n in seen.most_common(5)) or "no slide, annotation or archive"
    return (
        f"{root}: no slides found: no manifest.csv, no file named patient_XXX_node_Y, tumor_XXX, normal_XXX or "
        f"test_XXX with a slide suffix ({', '.join(SLIDE_SUFFIXES)}), and no other slide file (found: {what})"
    )
