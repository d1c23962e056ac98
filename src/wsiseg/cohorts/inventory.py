"""The inventory: every slide the cohort folders hold, what is known of it, and every file left out, with why."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wsiseg.atomic import write_text_atomic
from wsiseg.cohorts.records import BAD_DATA, REASONS, Excluded, SlideRecord
from wsiseg.labels import SLIDE_LABELS, PatientStage

log = logging.getLogger(__name__)


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

        The table of :meth:`table` at INFO, then a line per reason files were left out for (a warning for
        :data:`~wsiseg.cohorts.records.BAD_DATA`).

        Returns:
            The JSON file written (``None`` without ``folder``).
        """
        for line in self.table().splitlines():
            log.info("%s", line)
        for reason, count in self.reasons().items():
            names = [e.name for e in self.excluded if e.reason == reason]
            level = logging.WARNING if reason in BAD_DATA else logging.INFO
            log.log(level, "left out, %s: %d files (%s%s)", reason, count, ", ".join(names[:3]), ", ..." * (count > 3))
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
