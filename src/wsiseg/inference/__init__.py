"""Stage 3: whole-slide prediction into tumour-probability heatmaps (tissue-only tiles, streamed to disk)."""

from wsiseg.inference.dataset import BlockDataset, PredictionData, read_block
from wsiseg.inference.grid import TileGrid, blend_window, group_cores, make_grid, select_cores
from wsiseg.inference.outputs import file_digest, is_complete, output_paths, settings_digest, write_outputs
from wsiseg.inference.plan import PredictSettings, SlideTask, find_slides, plan_or_error, plan_task
from wsiseg.inference.writer import HeatmapWriter

__all__ = [
    "BlockDataset",
    "HeatmapWriter",
    "PredictSettings",
    "PredictionData",
    "SlideTask",
    "TileGrid",
    "blend_window",
    "file_digest",
    "find_slides",
    "group_cores",
    "is_complete",
    "make_grid",
    "output_paths",
    "plan_or_error",
    "plan_task",
    "read_block",
    "select_cores",
    "settings_digest",
    "write_outputs",
]
