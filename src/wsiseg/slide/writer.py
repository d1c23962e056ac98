"""Write generic tiled pyramidal BigTIFFs, laid out like the ASAP converter's CAMELYON files.

Level 0 is streamed from a callback that renders horizontal strips, so a slide of any size is written in
bounded memory: reduced levels (downsample 2 each, ``subfiletype=1`` pages after level 0) are built from
the level above through a temporary memory-mapped file. Three encodings: RGB (JPEG), grey (zlib) and a
colour table applied to grey strips (zlib; RGBA with unassociated alpha for a table of 4 columns), whose
every level is the table applied to that level's grey pixels.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import tifffile

from wsiseg.atomic import atomic_path

MppStorage = Literal["tags", "philips", "none"]
StripRenderer = Callable[[int, int], np.ndarray]  # (y0, height) -> (height, W, 3) uint8, or (height, W) grey

_PHILIPS_DESCRIPTION = (
    '<?xml version="1.0" encoding="UTF-8" ?><DataObject ObjectType="DPUfsImport">'
    '<Attribute Name="DICOM_MANUFACTURER" Group="0x0008" Element="0x0070" PMSVR="IString">PHILIPS</Attribute>'
    '<Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">'
    "&quot;{mm:.9g}&quot; &quot;{mm:.9g}&quot;</Attribute></DataObject>"
)


@dataclass(frozen=True)
class TiffOptions:
    """How a pyramid is written: where its spacing goes, its tiling and levels, and its encoding.

    Attributes:
        mpp_storage: ``"tags"`` (TIFF resolution tags, centimetres), ``"philips"`` (only in a Philips-style
            ImageDescription, as some CAMELYON17 files) or ``"none"``.
        tile: tile side in pixels (256 or 512).
        quality: JPEG quality.
        strip_tiles: strip height in tiles (memory is about ``W * tile * strip_tiles * 3`` bytes).
        min_level_size: smallest side of the coarsest level.
        grey: single-channel (H, W) uint8 strips, stored losslessly (zlib) with black padding, e.g. a
            probability heatmap that QuPath or ASAP overlays on its slide (also the strips a colour table
            maps: see :func:`write_pyramid_tiff`).
    """

    mpp_storage: MppStorage = "tags"
    tile: int = 256
    quality: int = 85
    strip_tiles: int = 4
    min_level_size: int = 512
    grey: bool = False


def philips_description(mpp: float) -> str:
    """A Philips-style ImageDescription carrying the pixel spacing (in millimetres) and nothing else."""
    return _PHILIPS_DESCRIPTION.format(mm=mpp / 1000.0)


def level_shapes(shape_hw: tuple[int, int], min_size: int = 512) -> list[tuple[int, int]]:
    """Shapes of the pyramid levels: halve until the smaller side would drop under ``min_size``.

    Args:
        shape_hw: level-0 (height, width).
        min_size: smallest side a reduced level may have.
    """
    shapes = [shape_hw]
    while min(shapes[-1]) // 2 >= min_size:
        h, w = shapes[-1]
        shapes.append((h // 2, w // 2))
    return shapes


def _tiles_from_strips(strips: Iterator[np.ndarray], width: int, tile: int, fill: int = 255) -> Iterator[np.ndarray]:
    """Cut row strips (each a multiple of ``tile`` high, the last one possibly shorter) into padded tiles."""
    for strip in strips:
        for ty in range(0, strip.shape[0], tile):
            rows = strip[ty : ty + tile]
            for tx in range(0, width, tile):
                block = rows[:, tx : tx + tile]
                if block.shape[:2] == (tile, tile):
                    yield np.ascontiguousarray(block)
                else:
                    padded = np.full((tile, tile, *block.shape[2:]), fill, np.uint8)
                    padded[: block.shape[0], : block.shape[1]] = block
                    yield padded


def _write_options(mpp: float, level: int, opts: TiffOptions, channels: int, description: str | None) -> dict:
    """The TiffWriter arguments of one level: ``channels`` written per pixel (1 grey, 3 RGB, 4 RGBA).

    JPEG for RGB strips; zlib (lossless) with ``opts.grey``: grey strips, also those a colour table maps.
    """
    lossless = opts.grey
    options: dict = {
        "tile": (opts.tile, opts.tile),
        "photometric": "minisblack" if channels == 1 else "rgb",
        "compression": "zlib" if lossless else "jpeg",
        "compressionargs": {"level": 6 if lossless else opts.quality},
        "subfiletype": 0 if level == 0 else 1,
        "metadata": None,
    }
    if channels == 4:
        options["extrasamples"] = ("unassalpha",)
    if level == 0 and opts.mpp_storage == "tags":
        options["resolution"] = (1e4 / mpp, 1e4 / mpp)
        options["resolutionunit"] = "CENTIMETER"
    if level == 0:
        options["description"] = philips_description(mpp) if opts.mpp_storage == "philips" else description
    return options


def write_pyramid_tiff(
    path: str | Path,
    shape_hw: tuple[int, int],
    render_strip: StripRenderer,
    mpp: float,
    options: TiffOptions = TiffOptions(),
    *,
    lut: np.ndarray | None = None,
    description: str | None = None,
) -> Path:
    """Write a tiled BigTIFF pyramid, rendering level 0 strip by strip; atomic (temp name, rename).

    Args:
        path: output ``.tif`` path.
        shape_hw: level-0 (height, width).
        render_strip: ``render_strip(y0, height)`` returns rows ``y0 .. y0+height`` of level 0: (height, W, 3)
            uint8, or (height, W) uint8 with ``options.grey`` or a ``lut``.
        mpp: level-0 micrometres per pixel.
        options: spacing storage, tiling, levels and encoding (:class:`TiffOptions`).
        lut: a (256, 3) or (256, 4) uint8 colour table: the strips are grey (reduced as grey, padded with 0)
            and every level is written as ``lut[grey]``, RGB or RGBA (unassociated alpha), lossless (zlib).
        description: level 0's ImageDescription (not with ``mpp_storage="philips"``, which uses it).

    Returns:
        The written path.

    Raises:
        ValueError: a ``lut`` of another shape, or a ``description`` with Philips-style spacing.
    """
    if lut is not None and (lut.dtype != np.uint8 or lut.shape not in ((256, 3), (256, 4))):
        raise ValueError(f"lut must be a (256, 3) or (256, 4) uint8 table, got {lut.shape} {lut.dtype}")
    if description is not None and options.mpp_storage == "philips":
        raise ValueError("mpp_storage='philips' stores the spacing in the ImageDescription: no other description")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grey = options.grey or lut is not None  # single-channel strips
    channels = lut.shape[1] if lut is not None else 1 if grey else 3  # written per pixel
    options = replace(options, grey=grey)  # a colour table's levels are lossless too
    shapes = level_shapes(shape_hw, options.min_level_size)
    scratch: list[Path] = []
    try:
        with atomic_path(path) as tmp_name, tifffile.TiffWriter(tmp_name, bigtiff=True) as tw:
            source: StripRenderer = render_strip
            for level, (h, w) in enumerate(shapes):
                below = shapes[level + 1] if level + 1 < len(shapes) else None
                sink = _scratch_array(path.parent, below, scratch, 1 if grey else 3) if below else None
                strips = _level_strips(source, h, options.tile * options.strip_tiles, sink)
                tiles = _tiles_from_strips(strips, w, options.tile, fill=0 if grey else 255)
                tw.write(
                    (lut[t] for t in tiles) if lut is not None else tiles,
                    shape=(h, w) if channels == 1 else (h, w, channels),
                    dtype=np.uint8,
                    **_write_options(mpp, level, options, channels, description),
                )
                if sink is not None:
                    source = _array_strips(sink)
    finally:
        for name in scratch:
            name.unlink(missing_ok=True)
    return path


def _level_strips(source: StripRenderer, height: int, strip_h: int, sink: np.ndarray | None) -> Iterator[np.ndarray]:
    """Yield a level's strips and, on the way, write their half-size version into ``sink``."""
    for y0 in range(0, height, strip_h):
        strip = source(y0, min(strip_h, height - y0))
        if sink is not None:
            sy0, sh = y0 // 2, min(strip.shape[0] // 2, sink.shape[0] - y0 // 2)
            if sh > 0:
                small = cv2.resize(strip, (sink.shape[1], strip.shape[0] // 2), interpolation=cv2.INTER_AREA)
                sink[sy0 : sy0 + sh] = small[:sh]
        yield strip


def _scratch_array(folder: Path, shape_hw: tuple[int, int], scratch: list[Path], channels: int) -> np.ndarray:
    fd, name = tempfile.mkstemp(prefix=".level.", suffix=".raw", dir=folder)
    os.close(fd)
    scratch.append(Path(name))
    return np.memmap(name, dtype=np.uint8, mode="w+", shape=(*shape_hw, channels) if channels > 1 else shape_hw)


def _array_strips(array: np.ndarray) -> StripRenderer:
    return lambda y0, h: np.asarray(array[y0 : y0 + h])


def write_pyramid_tiff_from_array(
    path: str | Path, image: np.ndarray, mpp: float, options: TiffOptions = TiffOptions()
) -> Path:
    """Write an (H, W, 3) uint8 image, or (H, W) with ``grey=True``, as a pyramid (see :func:`write_pyramid_tiff`).

    The image may be a memory map: it is read strip by strip.
    """
    return write_pyramid_tiff(path, image.shape[:2], lambda y0, h: np.asarray(image[y0 : y0 + h]), mpp, options)
