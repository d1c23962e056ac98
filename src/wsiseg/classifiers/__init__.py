"""Stage 4b: slide classification from heatmap features (random forest, gradient boosting, size rule)."""

from wsiseg.classifiers.models import DiameterRule, FeatureClassifier

__all__ = ["DiameterRule", "FeatureClassifier"]
