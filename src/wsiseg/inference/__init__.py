"""Stage 3: whole-slide prediction into tumour-probability heatmaps (tissue-only tiles, streamed to disk).

Names are imported lazily (PEP 562): later stages that only read heatmaps (``wsiseg.features``) use
``output_paths`` and the digests without importing torch and Lightning, which matters in spawned workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.lazy import lazy_getattr

_SOURCES = {
    "PredictionData": "dataset", "ReadingOptions": "dataset",
    "TileReader": "reading", "TileRequest": "reading", "read_block": "reading",
    "TileGrid": "tiling", "blend_window": "tiling", "group_cores": "tiling", "make_tile_grid": "tiling",
    "select_cores": "tiling",
    "file_digest": "outputs", "is_complete": "outputs", "output_paths": "outputs", "settings_digest": "outputs",
    "SlidePrediction": "outputs", "write_outputs": "outputs",
    "Placement": "overlay", "colour_table": "overlay", "heatmap_placement": "overlay", "read_description": "overlay",
    "PredictSettings": "plan", "SlideTask": "plan", "find_slides": "plan", "plan_or_error": "plan", "plan_task": "plan",
    "slide_inventory": "plan", "choose_tissue": "plan",
    "HeatmapWriter": "writer", "TilePredictor": "ensemble", "View": "tta", "views": "tta",
}  # fmt: skip
__all__ = [
    "HeatmapWriter",
    "Placement",
    "PredictSettings",
    "PredictionData",
    "ReadingOptions",
    "SlidePrediction",
    "SlideTask",
    "TileGrid",
    "TileReader",
    "TileRequest",
    "TilePredictor",
    "View",
    "blend_window",
    "choose_tissue",
    "colour_table",
    "file_digest",
    "find_slides",
    "group_cores",
    "heatmap_placement",
    "is_complete",
    "make_tile_grid",
    "output_paths",
    "plan_or_error",
    "plan_task",
    "read_block",
    "read_description",
    "select_cores",
    "settings_digest",
    "slide_inventory",
    "views",
    "write_outputs",
]

if TYPE_CHECKING:
    from wsiseg.inference.dataset import PredictionData, ReadingOptions
    from wsiseg.inference.ensemble import TilePredictor
    from wsiseg.inference.outputs import (
        SlidePrediction,
        file_digest,
        is_complete,
        output_paths,
        settings_digest,
        write_outputs,
    )
    from wsiseg.inference.overlay import Placement, colour_table, heatmap_placement, read_description
    from wsiseg.inference.plan import (
        PredictSettings,
        SlideTask,
        choose_tissue,
        find_slides,
        plan_or_error,
        plan_task,
        slide_inventory,
    )
    from wsiseg.inference.reading import TileReader, TileRequest, read_block
    from wsiseg.inference.tiling import TileGrid, blend_window, group_cores, make_tile_grid, select_cores
    from wsiseg.inference.tta import View, views
    from wsiseg.inference.writer import HeatmapWriter


__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
