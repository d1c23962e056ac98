"""Stage 4a: hand-crafted slide features from heatmaps (sizes in mm, at several thresholds), cached."""

from wsiseg.features.cache import cache_folder, compute_features, features_of, heatmap_digest
from wsiseg.features.heatmaps import HeatmapRecord, find_heatmaps, load_heatmap, predict_failures
from wsiseg.features.regions import FeatureSpec, lesion_detections, slide_features, threshold_features

__all__ = [
    "FeatureSpec",
    "HeatmapRecord",
    "cache_folder",
    "compute_features",
    "features_of",
    "find_heatmaps",
    "heatmap_digest",
    "lesion_detections",
    "load_heatmap",
    "predict_failures",
    "slide_features",
    "threshold_features",
]
