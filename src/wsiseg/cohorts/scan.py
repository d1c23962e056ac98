"""One walk of a cohort folder: every slide, annotation, table and archive under it, whatever the layout."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from wsiseg.annotations import ANNOTATION_SUFFIXES
from wsiseg.cohorts.names import BESIDE_SUFFIXES, SLIDE_SUFFIXES, parse_slide_name

#: Folders never looked into: hidden ones (``.git``, caches) and the macOS archive debris.
SKIPPED_FOLDERS = ("__MACOSX",)
#: Name parts of wsiseg's own outputs (``<slide>.heatmap.tif``, ``<slide>.lesions.xml``), which are not data.
OUTPUT_MARKS = (".heatmap.", ".lesions.", ".overlay.")


@dataclass
class Files:
    """The files under a cohort folder, by kind (paths sorted).

    Attributes:
        root: the folder walked.
        slides: files with a slide suffix (:data:`~wsiseg.cohorts.names.SLIDE_SUFFIXES`).
        annotations: ``.xml``, ``.geojson`` and ``.json`` files.
        tables: ``.csv`` files by lower-case file name (``stage_labels.csv`` -> its paths).
        archives: ``.zip`` files.
        other_formats: files named like a challenge slide with a suffix no reader opens (``.part``, ``.czi``).
    """

    root: Path
    slides: list[Path] = field(default_factory=list)
    annotations: list[Path] = field(default_factory=list)
    tables: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    archives: list[Path] = field(default_factory=list)
    other_formats: list[Path] = field(default_factory=list)

    def folders(self, path: Path) -> list[str]:
        """The folder names between :attr:`root` and ``path`` (none for a path outside it)."""
        return list(path.relative_to(self.root).parts[:-1]) if path.is_relative_to(self.root) else []


def scan(root: str | Path) -> Files:
    """Walk ``root`` once (symbolic links followed, each real folder once) and sort its files by kind.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"cohort folder not found: {root}")
    files, seen = Files(root), set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back into the tree
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        for name in sorted(names):
            if not name.startswith(".") and not any(mark in name for mark in OUTPUT_MARKS):
                _sort_file(files, Path(folder) / name)
    return files


def _sort_file(files: Files, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in SLIDE_SUFFIXES:
        files.slides.append(path)
    elif suffix in ANNOTATION_SUFFIXES:
        files.annotations.append(path)
    elif suffix == ".csv":
        files.tables[path.name.lower()].append(path)
    elif suffix == ".zip":
        files.archives.append(path)
    elif suffix not in BESIDE_SUFFIXES and parse_slide_name(path.name.split(".")[0]) is not None:
        files.other_formats.append(path)
