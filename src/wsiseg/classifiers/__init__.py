"""Stage 4b: slide classification from heatmap features (random forest, gradient boosting, size rule)."""

from wsiseg.classifiers.models import DiameterRule, FeatureClassifier
from wsiseg.classifiers.validation import balanced_weights, cross_val_predict_grouped

__all__ = ["DiameterRule", "FeatureClassifier", "balanced_weights", "cross_val_predict_grouped"]
