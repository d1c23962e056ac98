"""The inventory: every slide a cohort folder holds, what is known of it, and every file left out, with why.

Cohorts are found by the challenges' file names, not by one folder layout (:mod:`wsiseg.cohorts.names`): a
folder with ``manifest.csv`` is the synthetic cohort; otherwise every ``patient_XXX_node_Y.*``, ``tumor_XXX.*``,
``normal_XXX.*`` and ``test_XXX.*`` under it is a CAMELYON17 or CAMELYON16 slide; a folder with none of those
is a plain folder of slides (:mod:`wsiseg.cohorts.folder`).
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from wsiseg.annotations.records import GROUP_ROLES, GroupRole
from wsiseg.atomic import write_text_atomic
from wsiseg.cohorts import camelyon16, camelyon17, checks, folder, manifest
from wsiseg.cohorts.found import Found, Named
from wsiseg.cohorts.names import PATIENT_ARCHIVE, SLIDE_SUFFIXES, parse_slide_name
from wsiseg.cohorts.records import REASONS, Excluded, SlideRecord
from wsiseg.cohorts.scan import Files, scan
from wsiseg.labels import SLIDE_LABELS, PatientStage

log = logging.getLogger(__name__)
OnBadSlide = Literal["skip", "fail"]
#: Suffixes of downloads that did not finish.
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".partial", ".tmp")


@dataclass(frozen=True)
class CohortOptions:
    """How cohorts are read (``conf/cohorts``).

    Attributes:
        group_roles: annotation group -> ``tumor`` / ``exclude`` / ``ignore``, on top of the CAMELYON names
            (e.g. ``{Metastasis: tumor}``); QuPath objects without a class are in group ``Unclassified``.
        check_slides: open every slide first (unreadable, truncated, no pixel spacing; annotations off the slide).
        on_bad_slide: ``skip`` a slide that cannot be read in training (named in the inventory), or ``fail``.
        labels: a labels file for a folder that lacks one where it is looked for: a CAMELYON17
            ``stage_labels.csv``, a CAMELYON16 ``reference.csv``, or a plain ``slide,label`` table.
        only: shell patterns of slide names (stems, any case) to keep, e.g. ``["patient_0[0-9]0_*", "tumor_00*"]``
            (a dry run on a few slides, one centre): the other slides, and the files about them, are not read.
        workers: threads opening slides.
    """

    group_roles: Mapping[str, str] | None = None
    check_slides: bool = True
    on_bad_slide: OnBadSlide = "skip"
    labels: str | None = None
    only: Sequence[str] | None = None
    workers: int = 4

    def __post_init__(self) -> None:
        """Check the closed choices (a misspelt role or policy fails before any work, naming the valid ones)."""
        roles = {str(g): str(getattr(r, "value", r)) for g, r in dict(self.group_roles or {}).items()}
        bad = {g: r for g, r in roles.items() if r not in GROUP_ROLES}
        if bad:
            raise ValueError(f"cohorts.group_roles: {bad} must map to one of {', '.join(GROUP_ROLES)}")
        policy = str(getattr(self.on_bad_slide, "value", self.on_bad_slide))  # a typed config hands a str enum
        if policy not in get_args(OnBadSlide):
            raise ValueError(f"cohorts.on_bad_slide must be skip or fail, got {policy!r}")
        object.__setattr__(self, "on_bad_slide", policy)
        object.__setattr__(self, "group_roles", roles)
        object.__setattr__(self, "only", None if self.only is None else tuple(str(p) for p in self.only))

    def keeps(self, name: str) -> bool:
        """Whether a slide (or a file named after one) is within :attr:`only`."""
        stem = Path(name).name.split(".")[0].lower()
        return self.only is None or any(fnmatch.fnmatchcase(stem, p.lower()) for p in self.only)

    @property
    def roles(self) -> tuple[tuple[str, GroupRole], ...]:
        """The configured roles as a record's :attr:`~wsiseg.cohorts.SlideRecord.group_roles`."""
        return tuple(sorted(dict(self.group_roles or {}).items()))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Inventory:
    """What the cohort folders hold.

    Attributes:
        roots: the folders read.
        records: the slides found and kept, sorted by dataset and name.
        excluded: every file left out, with its reason.
        layouts: per folder, the layouts found in it (``camelyon17``, ``camelyon16``, ``synthetic``, ``folder``).
        label_files: the labels files read.
        stages: patient -> pN stage from the CAMELYON17 labels files (the kappa's reference).
        slides_checked: whether every slide was opened.
    """

    roots: tuple[Path, ...]
    records: tuple[SlideRecord, ...]
    excluded: tuple[Excluded, ...] = ()
    layouts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    label_files: tuple[Path, ...] = ()
    stages: Mapping[str, PatientStage] = field(default_factory=dict)
    slides_checked: bool = False

    def leaving_out(self, more: Iterable[Excluded]) -> Inventory:
        """This inventory with ``more`` files left out (their records removed), e.g. by the training selection."""
        more = list(more)
        names = {e.name for e in more if e.path is not None}
        kept = tuple(r for r in self.records if r.slide not in names)
        return replace(self, records=kept, excluded=self.excluded + tuple(more))

    def summary(self) -> list[dict[str, Any]]:
        """One row per dataset, subset and centre: slides, labelled, annotated, and slides per label."""
        groups: dict[tuple, list[SlideRecord]] = {}
        for r in self.records:
            groups.setdefault((r.dataset, r.subset, "-" if r.centre is None else r.centre), []).append(r)
        rows = []
        for (dataset, subset, centre), records in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
            labels = Counter(r.label or ("tumour" if r.has_tumour else "unlabelled") for r in records)
            rows.append({"dataset": dataset, "subset": subset, "centre": centre, "slides": len(records),
                         "labelled": sum(r.has_tumour is not None for r in records),
                         "annotated": sum(r.annotation is not None for r in records),
                         **{k: labels.get(k, 0) for k in (*SLIDE_LABELS, "tumour", "unlabelled")}})  # fmt: skip
        return rows

    def reasons(self) -> dict[str, int]:
        """Files left out per reason, in the order of :data:`~wsiseg.cohorts.records.REASONS`."""
        counts = Counter(e.reason for e in self.excluded)
        return {reason: counts[reason] for reason in REASONS if counts[reason]}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values: the summary, the reasons' counts, every slide and every file left out."""
        return {
            "roots": [str(r) for r in self.roots], "layouts": dict(self.layouts),
            "label_files": [str(p) for p in self.label_files], "slides_checked": self.slides_checked,
            "summary": self.summary(), "left_out": self.reasons(),
            "slides": [_record_dict(r) for r in self.records], "excluded": [e.as_dict() for e in self.excluded],
        }  # fmt: skip

    def write(self, path: str | Path) -> Path:
        """Write :meth:`as_dict` as JSON (``inventory.json``), atomically."""
        return write_text_atomic(path, json.dumps(self.as_dict(), indent=1))

    def report(self, folder: str | Path | None) -> Path | None:
        """Log the inventory and write it to ``folder / inventory.json`` (a command's run folder).

        The table of :meth:`table` at INFO, then one warning per reason files were left out for.

        Returns:
            The JSON file written (``None`` without ``folder``).
        """
        for line in self.table().splitlines():
            log.info("%s", line)
        for reason, count in self.reasons().items():
            names = [e.name for e in self.excluded if e.reason == reason]
            log.warning("left out, %s: %d files (%s%s)", reason, count, ", ".join(names[:3]), ", ..." * (count > 3))
        if folder is None:
            return None
        path = self.write(Path(folder) / "inventory.json")
        log.info("inventory (every slide, every file left out and why): %s", path)
        return path

    def table(self, details: int = 5) -> str:
        """The inventory for a person: the summary table, then per reason the files left out (``details`` each)."""
        columns = ["dataset", "subset", "centre", "slides", "labelled", "annotated", *SLIDE_LABELS, "tumour",
                   "unlabelled"]  # fmt: skip
        rows = [[str(row[c]) for c in columns] for row in self.summary()]
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
        folders = [f"{root} ({'+'.join(self.layouts.get(str(root), ()))})" for root in self.roots]
        lines = [f"cohort {', '.join(folders)}"]
        lines += ["  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        lines.append(f"  {len(self.records)} slides; {len(self.excluded)} files left out")
        for reason, count in self.reasons().items():
            chosen = [e for e in self.excluded if e.reason == reason]
            lines.append(f"  left out, {reason} ({count}):")
            lines += [f"    {e.name}: {e.detail}" for e in chosen[:details]]
            if count > details:
                lines.append(f"    ... {count - details} more (all of them in inventory.json)")
        return "\n".join(lines)


def _record_dict(r: SlideRecord) -> dict[str, Any]:
    return {"slide": r.slide, "path": str(r.path), "dataset": r.dataset, "subset": r.subset, "patient": r.patient,
            "centre": r.centre, "label": r.label, "has_tumour": r.has_tumour,
            "annotation": str(r.annotation) if r.annotation else None}  # fmt: skip


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
    records, unreadable_annotations = checks.check_annotations(records)
    excluded = found.excluded + duplicates + unreadable_annotations
    check = options.check_slides if check_slides is None else check_slides
    if check:
        records, bad = checks.check_slides(records, options.workers)
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
    named, others, duplicates = _by_name(files.slides)
    if named or any(files.tables.get(n) for n in (*camelyon17.LABEL_FILES, camelyon16.REFERENCE)):
        known = {name: path for stem, path in elsewhere.items() if (name := parse_slide_name(stem)) is not None}
        found = camelyon17.find(files, named, known)
        found += camelyon16.find(files, named, known)
        other = "named like no challenge slide (a plain folder of slides is read only when it holds no challenge name)"
        found.excluded += [Excluded(p.name, p, "other name", other) for p in others]
        layouts = tuple(sorted({r.dataset for r in found.records}))
    else:
        by_stem: dict[str, Path] = {}
        for path in sorted(others, key=lambda p: (p.suffix.lower() not in (".tif", ".tiff"), len(p.parts), str(p))):
            if (kept := by_stem.setdefault(path.stem.lower(), path)) is not path:
                duplicates.append(Excluded(path.name, path, "duplicate", f"the same name as {kept}"))
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


def _by_name(slides: list[Path]) -> tuple[Named, list[Path], list[Excluded]]:
    """Challenge slides by name (a repeated name keeps a ``.tif`` first, then the shallower path), the others."""
    named: Named = {}
    duplicates, others = [], []
    order = sorted(slides, key=lambda p: (p.suffix.lower() not in (".tif", ".tiff"), len(p.parts), str(p)))
    for path in order:
        name = parse_slide_name(path.stem)
        if name is None:
            others.append(path)
        elif name in named:
            duplicates.append(Excluded(path.name, path, "duplicate", f"the same slide as {named[name]}"))
        else:
            named[name] = path
    return named, sorted(others), duplicates


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
