"""Stage 4b: slide classification from heatmap features (random forest, gradient boosting, size rule).

Names are imported lazily (PEP 562): the config schemas read ``DiameterRule``'s signature in every entry
script, which should not cost scikit-learn's import (``predict.py`` never classifies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.lazy import lazy_getattr

_SOURCES = {"DiameterRule": "models", "FeatureClassifier": "models", "OutOfFold": "validation",
            "balanced_weights": "validation", "out_of_fold": "validation"}  # fmt: skip
__all__ = [
    "DiameterRule",
    "FeatureClassifier",
    "OutOfFold",
    "balanced_weights",
    "out_of_fold",
]

if TYPE_CHECKING:
    from wsiseg.classifiers.models import DiameterRule, FeatureClassifier
    from wsiseg.classifiers.validation import OutOfFold, balanced_weights, out_of_fold

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
