"""Lesion annotations (stage 2 of the pipeline): ASAP XML and QuPath GeoJSON files, polygon geometry, tumour masks.

Coordinates are (x, y) level-0 pixels; masks are (row, col) arrays whose pixel (r, c) is inside a polygon
when its centre is.
"""

from wsiseg.annotations.asap import read_asap_xml, write_asap_xml
from wsiseg.annotations.files import ANNOTATION_SUFFIXES, UNCLASSIFIED, read_annotations
from wsiseg.annotations.geometry import bounding_box, convex_hull, max_feret_diameter, polygon_area
from wsiseg.annotations.mask import mask_shape_hw, polygon_mask, rasterize, tumour_mask
from wsiseg.annotations.records import DEFAULT_GROUP_ROLES, Annotation, AreaKind, GroupRole, lookup_role

__all__ = [
    "ANNOTATION_SUFFIXES",
    "UNCLASSIFIED",
    "DEFAULT_GROUP_ROLES",
    "Annotation",
    "AreaKind",
    "GroupRole",
    "bounding_box",
    "convex_hull",
    "lookup_role",
    "mask_shape_hw",
    "max_feret_diameter",
    "polygon_area",
    "polygon_mask",
    "rasterize",
    "read_annotations",
    "read_asap_xml",
    "tumour_mask",
    "write_asap_xml",
]
