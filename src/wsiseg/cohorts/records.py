"""What a cohort is made of: one record per slide found, and one per file left out with its reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from wsiseg.annotations import DEFAULT_GROUP_ROLES, Annotation, GroupRole, read_annotations
from wsiseg.labels import SlideLabel

#: Where a slide comes from: a challenge (by its file name), or a plain folder of slides with a labels CSV.
Dataset = Literal["camelyon16", "camelyon17", "folder"]
#: The challenges' training and test sets (``test_XXX`` and CAMELYON17 patients 100-199 are test slides).
Subset = Literal["training", "testing"]
#: Why a file is left out. The inventory's reasons, then the training selection's (see ``sampling``).
Reason = Literal[
    "label without slide", "unreadable", "unsupported format", "other name", "duplicate", "archive not unpacked",
    "annotation without slide", "unreadable annotation", "unknown annotation group", "annotation outside its slide",
    "no label", "positive slide without annotation", "test set", "dataset not used",
]  # fmt: skip
REASONS: tuple[Reason, ...] = get_args(Reason)
#: The reasons that mean bad or incomplete data (logged as warnings; ``cohorts.on_bad_slide=fail`` stops training);
#: the others are choices (a test set, datasets not used) or the data as published (unannotated positive slides).
BAD_DATA: tuple[Reason, ...] = (
    "label without slide", "unreadable", "unsupported format", "archive not unpacked", "unreadable annotation",
    "unknown annotation group", "annotation outside its slide",
)  # fmt: skip


@dataclass(frozen=True)
class SlideRecord:
    """One slide of a cohort.

    Attributes:
        slide: file name (``patient_004_node_4.tif``, ``tumor_001.tif``); its stem is unique within a cohort.
        path: the slide file.
        annotation: its lesion annotation (ASAP XML or QuPath GeoJSON), if any.
        dataset: ``camelyon17``, ``camelyon16`` or ``folder``.
        patient: the patient (CAMELYON16 slides are their own patient).
        label: the slide label when known (CAMELYON16 tumour slides: ``None``, only ``has_tumour``).
        has_tumour: whether the slide holds metastases (``None`` when unknown, e.g. a test set).
        centre: the centre index when known.
        subset: ``training`` or ``testing`` (the challenge's test set).
        group_roles: annotation groups mapped by the config on top of the CAMELYON names, as ``(group, role)``.
    """

    slide: str
    path: Path
    annotation: Path | None
    dataset: Dataset
    patient: str
    label: SlideLabel | None
    has_tumour: bool | None
    centre: int | None = None
    subset: Subset = "training"
    group_roles: tuple[tuple[str, GroupRole], ...] = ()

    @property
    def stem(self) -> str:
        """The slide name without extension."""
        return Path(self.slide).stem

    @property
    def roles(self) -> Mapping[str, GroupRole]:
        """Group name -> role for reading this slide's annotation: the CAMELYON names and the config's."""
        return {**DEFAULT_GROUP_ROLES, **dict(self.group_roles)}

    def annotations(self) -> list[Annotation]:
        """The slide's annotations read with :attr:`roles` (none without an annotation file)."""
        return read_annotations(self.annotation, self.roles) if self.annotation else []


@dataclass(frozen=True)
class Excluded:
    """A file the cohort leaves out, and why.

    Attributes:
        name: the slide's (or file's) name.
        path: the file, when there is one (a label without its slide has none).
        reason: one of :data:`Reason`.
        detail: what exactly is wrong, and what to do.
    """

    name: str
    path: Path | None
    reason: Reason
    detail: str = ""

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready values."""
        return {"name": self.name, "path": str(self.path) if self.path else None, "reason": self.reason,
                "detail": self.detail}  # fmt: skip
