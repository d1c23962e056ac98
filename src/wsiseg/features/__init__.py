"""Stage 4a: hand-crafted slide features from heatmaps (sizes in mm, at several thresholds)."""

from wsiseg.features.regions import FeatureSpec, slide_features, threshold_features

__all__ = ["FeatureSpec", "slide_features", "threshold_features"]
