"""How cohort folders are read: the ``conf/cohorts`` record shared by train.py, predict.py and stage.py."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from wsiseg.annotations.records import GROUP_ROLES, GroupRole

OnBadSlide = Literal["skip", "fail"]


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
