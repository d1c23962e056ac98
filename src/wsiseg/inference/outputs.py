"""Per-slide prediction outputs, all written atomically.

A heatmap (``.npy``), the tissue mask, pyramidal TIFFs for QuPath / ASAP (the 8-bit probability and, as an
option, its RGBA colours), a PNG overlay, and the metadata (``.json``) last, so a killed run leaves nothing
that looks complete. The TIFFs and the ``.json`` say where the heatmap lies on its slide
(:mod:`wsiseg.inference.overlay`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from wsiseg.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from wsiseg.inference.overlay import (
    Placement,
    colour_table,
    display_alpha,
    heatmap_placement,
    jet_rgb,
    tiff_description,
)
from wsiseg.inference.tiling import TileGrid
from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff

FORMAT = 1
_HEATMAP_TIFF = TiffOptions(grey=True, tile=256, min_level_size=256)  # 8-bit probability, lossless
#: A slide's output files: kind -> suffix after the slide's name (the kinds of the ``.json``'s ``files``).
SUFFIXES = {
    "heatmap": ".heatmap.npy", "tissue": ".tissue.npy", "tiff": ".heatmap.tif", "tiff_colour": ".heatmap.rgba.tif",
    "png": ".overlay.png", "meta": ".json",
}  # fmt: skip


@dataclass(frozen=True)
class SlidePrediction:
    """A finished slide's prediction, as :func:`write_outputs` stores it.

    Attributes:
        name: slide name (stem).
        slide_path: the slide file (recorded).
        grid: the tiling (resolutions, shapes).
        heatmap: (H, W) float probabilities, possibly a memory map (read strip by strip); stored as float16.
        tissue: (H, W) bool tissue mask.
        thumbnail: (H, W, 3) RGB slide thumbnail at heatmap resolution for the overlay, or ``None``.
    """

    name: str
    slide_path: Path
    grid: TileGrid
    heatmap: np.ndarray
    tissue: np.ndarray
    thumbnail: np.ndarray | None = None


def output_paths(out_dir: Path, name: str) -> dict[str, Path]:
    """Where a slide's outputs go (``name`` is reduced to a bare file name: nothing leaves ``out_dir``)."""
    stem = Path(name).name
    if stem in ("", ".", ".."):
        raise ValueError(f"unusable slide name {name!r}")
    return {kind: out_dir / f"{stem}{suffix}" for kind, suffix in SUFFIXES.items()}


def file_digest(path: Path, chunk: int = 1 << 22, digits: int = 16) -> str:
    """SHA-256 of a file's bytes (its first ``digits`` hex digits)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:digits]


def settings_digest(settings: dict) -> str:
    """SHA-256 of settings as canonical JSON (16 hex digits)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_complete(out_dir: Path, name: str, checkpoint: str, config: str) -> bool:
    """True when the slide's outputs exist and were made by this checkpoint and these settings."""
    paths = output_paths(out_dir, name)
    if not paths["meta"].is_file():
        return False
    try:
        meta = json.loads(paths["meta"].read_text())
    except (OSError, json.JSONDecodeError):
        return False
    same = meta.get("checkpoint_digest") == checkpoint and meta.get("config_digest") == config
    wanted = [k for k in SUFFIXES if k != "meta" and meta.get("files", {}).get(k)]
    return same and meta.get("format") == FORMAT and all(paths[k].is_file() for k in wanted)


def write_outputs(
    out_dir: Path,
    prediction: SlidePrediction,
    meta: dict,
    tiff: bool = True,
    png: bool = True,
    tiff_colour: bool = False,
) -> dict[str, Path]:
    """Write a finished slide: heatmap and tissue ``.npy``, then TIFFs and PNG, then the metadata last.

    The ``.json`` records the files written (``files``: kind -> name, see :data:`SUFFIXES`) and the heatmap's
    ``placement`` on its slide (:class:`~wsiseg.inference.overlay.Placement`), which both TIFFs also carry as
    JSON in their ImageDescription.

    Args:
        out_dir: output folder.
        prediction: the slide, its tiling, heatmap, tissue mask and thumbnail.
        meta: extra metadata (digests, checkpoint path, settings).
        tiff: write the pyramidal TIFF (8-bit probability, lossless) for QuPath / ASAP.
        png: write the overlay picture (when the prediction has a thumbnail).
        tiff_colour: write the RGBA pyramidal TIFF (jet colours, transparent below the display floor).
    """
    name, grid, heatmap, thumbnail = prediction.name, prediction.grid, prediction.heatmap, prediction.thumbnail
    paths = output_paths(out_dir, name)
    with atomic_path(paths["heatmap"]) as tmp, tmp.open("wb") as fh:  # float16: probabilities to ~1e-3
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                  "shape": tuple(heatmap.shape)}  # fmt: skip
        np.lib.format.write_array_header_1_0(fh, header)
        for y in range(0, heatmap.shape[0], 1024):  # strip by strip: the heatmap may be a memory map
            fh.write(np.ascontiguousarray(heatmap[y : y + 1024], dtype=np.float16).tobytes())
    with atomic_path(paths["tissue"]) as tmp, tmp.open("wb") as fh:
        np.save(fh, np.asarray(prediction.tissue, bool))
    placement = heatmap_placement(grid, Path(prediction.slide_path).name)
    written = ["heatmap", "tissue"] + write_heatmap_tiffs(paths, placement, tiff, tiff_colour)
    if png and thumbnail is not None:
        write_bytes_atomic(paths["png"], overlay_png(thumbnail, np.load(paths["heatmap"], mmap_mode="r")))
        written.append("png")
    record = {
        "format": FORMAT, "slide": str(prediction.slide_path), "name": name, "slide_mpp": grid.slide_mpp,
        "heatmap_mpp": grid.heatmap_mpp, "model_mpp": grid.model_mpp, "origin_xy": [0.0, 0.0],
        "shape_hw": list(heatmap.shape), "grid": asdict(grid), "placement": placement.record(),
        "files": {k: paths[k].name for k in written}, **meta,
    }  # fmt: skip
    write_text_atomic(paths["meta"], json.dumps(record, indent=2, default=str))
    return paths


def write_heatmap_tiffs(paths: dict[str, Path], placement: Placement, grey: bool, colour: bool) -> list[str]:
    """Write the heatmap's TIFFs from its stored ``.npy``, strip by strip: the kinds written.

    ``tiff``: 8-bit probability ``round(255 p)``; ``tiff_colour``: the same pixels (and reduced levels) through
    :func:`~wsiseg.inference.overlay.colour_table`, RGBA. Both have the heatmap's pixel size in their resolution
    tags and :func:`~wsiseg.inference.overlay.tiff_description` as ImageDescription.
    """
    kinds = [(kind, lut) for kind, wanted, lut in (("tiff", grey, None), ("tiff_colour", colour, colour_table()))
             if wanted]  # fmt: skip
    probability = np.load(paths["heatmap"], mmap_mode="r") if kinds else None

    def strip(y0: int, h: int) -> np.ndarray:
        return _to_uint8(probability[y0 : y0 + h])

    for kind, lut in kinds:
        content = "probability" if lut is None else "colour"
        write_pyramid_tiff(paths[kind], probability.shape, strip, placement.heatmap_mpp, _HEATMAP_TIFF, lut=lut,
                           description=tiff_description(placement, content))  # fmt: skip
    return [kind for kind, _ in kinds]


def add_heatmap_tiffs(out_dir: Path, name: str, grey: bool, colour: bool) -> list[str]:
    """Add the TIFFs asked for now but not written when a finished slide was predicted: the kinds added.

    A complete slide is not predicted again, so ``write_tiff_colour=true`` (or ``write_tiff``) on a rerun
    would otherwise leave it without the TIFF: both come from its stored heatmap and placement, and its
    ``.json`` then lists them (written last, atomically). The caller holds the slide's claim.
    """
    paths = output_paths(out_dir, name)
    meta = json.loads(paths["meta"].read_text())
    files = meta.get("files", {})
    missing = {kind: wanted and kind not in files for kind, wanted in (("tiff", grey), ("tiff_colour", colour))}
    if not any(missing.values()):
        return []
    record = meta["grid"]
    slide_wh = record.get("slide_wh")
    grid = TileGrid(**{**record, "heatmap_hw": tuple(record["heatmap_hw"]), "slide_wh": slide_wh and tuple(slide_wh)})
    placement = heatmap_placement(grid, Path(meta["slide"]).name)
    added = write_heatmap_tiffs(paths, placement, missing["tiff"], missing["tiff_colour"])
    meta["files"] = {**files, **{kind: paths[kind].name for kind in added}}
    write_text_atomic(paths["meta"], json.dumps(meta, indent=2, default=str))
    return added


def _to_uint8(probability: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(probability, np.float32) * 255), 0, 255).astype(np.uint8)


def overlay_png(thumbnail_rgb: np.ndarray, heatmap: np.ndarray, max_side: int = 2000) -> bytes:
    """PNG bytes: the tumour probability (jet colours, shown from 0.1, at most 60% opaque) over the thumbnail."""
    h, w = heatmap.shape
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    prob = cv2.resize(np.asarray(heatmap, np.float32), size, interpolation=cv2.INTER_AREA)
    base = cv2.resize(thumbnail_rgb, size, interpolation=cv2.INTER_AREA)
    colour = jet_rgb(_to_uint8(prob))  # (h, w, 3) RGB, the colour TIFF's colours
    alpha = np.minimum(display_alpha(prob), 0.6)[..., None]  # the thumbnail shows through everywhere
    blended = (base * (1 - alpha) + colour * alpha).astype(np.uint8)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(blended, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()
