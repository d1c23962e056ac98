"""What one layout module finds under a cohort folder: slides, files left out, and the labels it read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wsiseg.cohorts.names import SlideName
from wsiseg.cohorts.records import Excluded, SlideRecord
from wsiseg.labels import PatientStage


@dataclass
class Found:
    """A layout module's result.

    Attributes:
        records: the slides, without annotations yet (the inventory matches those by stem).
        excluded: files left out, with their reasons.
        label_files: the labels files read.
        stages: patient -> pN stage, from a CAMELYON17 labels file (the reference of the kappa).
    """

    records: list[SlideRecord] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    label_files: list[Path] = field(default_factory=list)
    stages: dict[str, PatientStage] = field(default_factory=dict)

    def __iadd__(self, other: Found) -> Found:
        self.records += other.records
        self.excluded += other.excluded
        self.label_files += other.label_files
        self.stages |= other.stages
        return self


#: Challenge slides found by name: their name -> the file chosen (duplicates are resolved before).
Named = dict[SlideName, Path]
