"""The pixel-spacing (micrometres per pixel) resolution chain.

Sources, in order: (1) what the reading library reports, (2) the first TIFF page's resolution tags,
(3) a Philips-style ``DICOM_PIXEL_SPACING`` in the ImageDescription XML, (4) the user's ``mpp=`` argument.
An explicit argument wins over the file (with a warning when they disagree by more than 2%); otherwise the
first source that gives a value wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

import defusedxml.ElementTree as SafeET
import tifffile

from wsiseg.errors import SlideError

MppSource = Literal["backend", "tiff-tags", "philips-description", "argument"]

MPP_RANGE = (0.05, 100.0)
"""Plausible micrometres per pixel; anything outside is treated as a broken header."""

DISAGREEMENT = 0.02
"""Relative difference between ``mpp=`` and the file above which a warning is logged."""

_UNIT_TO_UM = {2: 25400.0, 3: 10000.0}  # TIFF ResolutionUnit INCH, CENTIMETER; NONE (1) is meaningless

logger = logging.getLogger(__name__)


class TiffMetadata(NamedTuple):
    """Resolution-related tags of a TIFF's first page (None where absent)."""

    x_resolution: float | None
    resolution_unit: int | None
    description: str | None


def read_tiff_metadata(path: str | Path) -> TiffMetadata:
    """Read the resolution tags and ImageDescription of the first page; empty metadata if unreadable."""
    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages.first.tags
            resolution = tags.valueof("XResolution")
            unit = tags.valueof("ResolutionUnit")
            description = tags.valueof("ImageDescription")
    except Exception:  # a broken file is reported by the backend, not here
        return TiffMetadata(None, None, None)
    x_res = resolution[0] / resolution[1] if resolution is not None and resolution[1] else None
    return TiffMetadata(x_res, None if unit is None else int(unit), description)


def mpp_from_resolution(x_resolution: float | None, resolution_unit: int | str | None) -> float | None:
    """Micrometres per pixel from TIFF ``XResolution`` (pixels per unit) and ``ResolutionUnit``.

    Args:
        x_resolution: Pixels per resolution unit.
        resolution_unit: 2 / "INCH" or 3 / "CENTIMETER"; 1 / "NONE" (or anything else) gives None.

    Returns:
        ``25400 / res`` for inches, ``1e4 / res`` for centimetres, else None.
    """
    if isinstance(resolution_unit, str):
        resolution_unit = {"INCH": 2, "CENTIMETER": 3}.get(resolution_unit.upper())
    scale = _UNIT_TO_UM.get(resolution_unit) if resolution_unit is not None else None
    if scale is None or not x_resolution or x_resolution <= 0:
        return None
    return scale / float(x_resolution)


def mpp_from_philips_description(description: str | bytes | None) -> float | None:
    """Micrometres per pixel from a Philips ImageDescription XML, or None if absent or unparseable.

    The first ``Attribute[@Name="DICOM_PIXEL_SPACING"]`` holds ``"row" "col"`` spacings in millimetres;
    the column (x) spacing is returned in micrometres.
    """
    if not description:
        return None
    if isinstance(description, bytes):
        description = description.decode("utf-8", errors="replace")
    if "DICOM_PIXEL_SPACING" not in description:
        return None
    try:
        root = SafeET.fromstring(description.encode("utf-8"))
        node = root.find(".//Attribute[@Name='DICOM_PIXEL_SPACING']")
        spacings_mm = [float(part.strip('"')) for part in (node.text or "").split()]
        col_mm = spacings_mm[1] if len(spacings_mm) > 1 else spacings_mm[0]
    except Exception:  # garbage XML, missing node, non-numeric text: not a source
        return None
    return col_mm * 1000.0 if col_mm > 0 else None


def file_candidates(path: Path, backend_mpp: float | None) -> Iterator[tuple[MppSource, float | None]]:
    """Yield (source, mpp) from the file's metadata, lazily: the TIFF is read only when needed."""
    yield "backend", backend_mpp
    if not path.is_file():
        return
    meta = read_tiff_metadata(path)
    yield "tiff-tags", mpp_from_resolution(meta.x_resolution, meta.resolution_unit)
    yield "philips-description", mpp_from_philips_description(meta.description)


def choose_mpp(
    path: Path, candidates: Iterable[tuple[MppSource, float | None]], argument: float | None
) -> tuple[float, MppSource]:
    """Apply the policy: the argument wins (warn on > 2% disagreement), else the first file source.

    Raises:
        SlideError: No source gives a value, or the chosen value is outside :data:`MPP_RANGE`.
    """
    found = next(((source, float(mpp)) for source, mpp in candidates if _usable(mpp)), None)
    if argument is not None:
        if found is not None and abs(found[1] - argument) > DISAGREEMENT * argument:
            logger.warning(
                "%s: mpp=%g given by hand disagrees with the file's %g um/px (%s); using %g",
                path,
                argument,
                found[1],
                found[0],
                argument,
            )
        chosen: tuple[float, MppSource] = (float(argument), "argument")
    elif found is not None:
        chosen = (found[1], found[0])
    else:
        raise SlideError(path, _missing_message(path))
    _check_range(path, *chosen)
    return chosen


def resolve_mpp(path: str | Path, backend_mpp: float | None, argument: float | None) -> tuple[float, MppSource]:
    """Resolve a slide's micrometres per pixel and say where it came from (see the module docstring)."""
    path = Path(path)
    return choose_mpp(path, file_candidates(path, backend_mpp), argument)


def _usable(mpp: float | None) -> bool:
    return mpp is not None and mpp == mpp and mpp > 0  # not None, not NaN, positive


def _check_range(path: Path, mpp: float, source: MppSource) -> None:
    low, high = MPP_RANGE
    if not low <= mpp <= high:
        raise SlideError(
            path,
            f"pixel spacing {mpp:g} um/px (from {source}) is outside the plausible {low}..{high} um/px; "
            + _how_to_override(path),
        )


def _missing_message(path: Path) -> str:
    return (
        "no pixel spacing (mpp) found: not reported by the slide library, no TIFF resolution tags, "
        "no Philips DICOM_PIXEL_SPACING in the ImageDescription. " + _how_to_override(path)
    )


def _how_to_override(path: Path) -> str:
    return (
        f"Give it by hand: open_slide({str(path)!r}, mpp=0.243) (micrometres per level-0 pixel), or run "
        "predict.py with inference.slide_mpp=0.243, or write it into the file's TIFF resolution tags."
    )
