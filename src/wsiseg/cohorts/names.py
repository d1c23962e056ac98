"""The challenges' file names, which stay the same whatever the folders: slides, centres, label files.

``patient_XXX_node_Y``, ``tumor_XXX``, ``normal_XXX`` and ``test_XXX`` are stable across every download (the
challenge's shared folders, the open-data bucket, copies renamed by users); folder names are not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from wsiseg.cohorts.records import Dataset, Subset
from wsiseg.labels import parse_node

#: Whole-slide image files the readers open (tiffslide: TIFF containers; OpenSlide also MRXS, VMS / VMU).
SLIDE_SUFFIXES = (".tif", ".tiff", ".btf", ".svs", ".ndpi", ".scn", ".bif", ".svslide", ".mrxs", ".vms", ".vmu")
#: Files that may sit under a slide's name beside it and are neither slides nor a slide in another format.
BESIDE_SUFFIXES = (
    ".xml", ".geojson", ".json", ".csv", ".txt", ".md5", ".zip", ".png", ".jpg", ".jpeg", ".npy", ".html", ".log",
)  # fmt: skip
#: CAMELYON17 patients a centre, in the training (000-099) and the test set (100-199) alike.
PATIENTS_PER_CENTRE = 20

Kind = Literal["node", "tumor", "normal", "test"]
_CAMELYON16 = re.compile(r"^(tumor|normal|test)_(\d{3})$", re.IGNORECASE)
_CENTRE = re.compile(r"^cent(?:er|re)_(\d+)$", re.IGNORECASE)
#: CAMELYON17's per-patient archives (``patient_000.zip``), which hold the five node slides.
PATIENT_ARCHIVE = re.compile(r"^patient_\d{3}\.zip$", re.IGNORECASE)


@dataclass(frozen=True)
class SlideName:
    """What a challenge's slide file name says.

    Attributes:
        kind: ``node`` (CAMELYON17), ``tumor``, ``normal`` or ``test`` (CAMELYON16).
        number: the patient's number (``node``) or the slide's.
        node: the node number of a CAMELYON17 slide.
    """

    kind: Kind
    number: int
    node: int | None = None

    @property
    def dataset(self) -> Dataset:
        """``camelyon17`` for node slides, else ``camelyon16``."""
        return "camelyon17" if self.kind == "node" else "camelyon16"

    @property
    def stem(self) -> str:
        """The name in the challenge's spelling (lower case): ``patient_004_node_4``, ``tumor_001``."""
        return f"{self.patient}_node_{self.node}" if self.kind == "node" else f"{self.kind}_{self.number:03d}"

    @property
    def patient(self) -> str:
        """``patient_XXX`` for node slides; a CAMELYON16 slide is its own patient."""
        return f"patient_{self.number:03d}" if self.kind == "node" else self.stem

    @property
    def subset(self) -> Subset:
        """``testing`` for ``test_XXX`` and CAMELYON17 patients 100 and up, else ``training``."""
        return "testing" if self.kind == "test" or (self.kind == "node" and self.number >= 100) else "training"


def parse_slide_name(stem: str) -> SlideName | None:
    """The challenge name a file stem carries (any letter case), or ``None``.

    >>> parse_slide_name("Patient_104_node_2")
    SlideName(kind='node', number=104, node=2)
    >>> parse_slide_name("tumor_001").subset, parse_slide_name("test_001").subset
    ('training', 'testing')
    >>> parse_slide_name("slide_7") is None
    True
    """
    if "." not in stem and (node := parse_node(stem)):
        return SlideName("node", int(node[0].removeprefix("patient_")), node[1])
    if match := _CAMELYON16.match(stem):
        return SlideName(match.group(1).lower(), int(match.group(2)))  # type: ignore[arg-type]
    return None


def folder_centre(folders: Sequence[str]) -> int | None:
    """The centre a ``center_K`` / ``centre_K`` folder names (the innermost one), else ``None``.

    >>> folder_centre(["CAMELYON17", "training", "center_3"])
    3
    """
    for folder in reversed(folders):
        if match := _CENTRE.match(folder):
            return int(match.group(1))
    return None


def node_centre(patient_number: int) -> int:
    """A CAMELYON17 patient's centre from its number: 20 patients a centre, training and test alike.

    >>> node_centre(19), node_centre(20), node_centre(199)
    (0, 1, 4)
    """
    return (patient_number % 100) // PATIENTS_PER_CENTRE
