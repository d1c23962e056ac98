"""Stage 4b: slide classification from heatmap features (random forest, gradient boosting, size rule).

Names are imported lazily (PEP 562): the config schemas read ``DiameterRule``'s signature in every entry
script, which should not cost scikit-learn's import (``predict.py`` never classifies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.lazy import lazy_getattr

_SOURCES = {"DiameterRule": "models", "FeatureClassifier": "models", "balanced_weights": "validation",
            "cross_val_predict_grouped": "validation"}  # fmt: skip
__all__ = ["DiameterRule", "FeatureClassifier", "balanced_weights", "cross_val_predict_grouped"]

if TYPE_CHECKING:
    from wsiseg.classifiers.models import DiameterRule, FeatureClassifier
    from wsiseg.classifiers.validation import balanced_weights, cross_val_predict_grouped

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
