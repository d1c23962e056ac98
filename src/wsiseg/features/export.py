"""Predicted lesions as annotations a viewer opens: a QuPath GeoJSON and an ASAP XML file per slide.

Each lesion is classified ``itc`` / ``micro`` / ``macro`` by its maximum Feret diameter and coloured by that
class; the GeoJSON features carry its area, diameter and probabilities as measurements, the ASAP records put
its exterior in its size class's group and its holes in ``holes`` (cut out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.annotations.geojson import GeoAnnotation, write_geojson
from wsiseg.annotations.shapes import polygon_annotations
from wsiseg.features.lesions import Lesion

#: Colours of the size classes, QuPath ``[r, g, b]``.
CLASS_COLORS: Mapping[str, tuple[int, int, int]] = {"itc": (250, 220, 0), "micro": (255, 128, 0), "macro": (220, 0, 0)}
HOLES_GROUP = "holes"


def write_lesion_files(
    folder: Path, name: str, lesions: Sequence[Lesion], properties: Mapping[str, Any]
) -> list[Annotation]:
    """``<name>.lesions.geojson`` (with the slide-level ``properties``) and ``<name>.lesions.xml`` in ``folder``.

    Returns the ASAP records written (exteriors and holes), e.g. to rasterise them back.
    """
    write_geojson(folder / f"{name}.lesions.geojson", geo_annotations(lesions), properties)
    records = asap_annotations(lesions)
    write_asap_xml(folder / f"{name}.lesions.xml", records,
                   {c: "#{:02X}{:02X}{:02X}".format(*rgb) for c, rgb in CLASS_COLORS.items()})  # fmt: skip
    return records


def geo_annotations(lesions: Sequence[Lesion]) -> list[GeoAnnotation]:
    """QuPath annotations of lesions, named ``lesion <i>`` largest first, with their measurements."""
    return [
        GeoAnnotation(
            lesion.geometry,
            lesion.size_class,
            CLASS_COLORS[lesion.size_class],
            f"lesion {i + 1}",
            {
                "Area mm^2": lesion.area_mm2,
                "Max Feret diameter mm": lesion.feret_mm,
                "Max probability": lesion.max_prob,
                "Mean probability": lesion.mean_prob,
            },
        )  # fmt: skip
        for i, lesion in enumerate(lesions)
    ]


def asap_annotations(lesions: Sequence[Lesion]) -> list[Annotation]:
    """ASAP records of lesions: exteriors in their size class's group, holes in ``holes``."""
    records: list[Annotation] = []
    for i, lesion in enumerate(lesions):
        records += polygon_annotations(lesion.geometry, f"lesion {i + 1}", lesion.size_class, HOLES_GROUP)
    return records
