"""Stage 4b: slide classification from heatmap features (random forest, gradient boosting, size rule).

The slide table (:mod:`~wsiseg.classifiers.rows`), which of its slides the classifier may fit
(:mod:`~wsiseg.classifiers.holdout`), and the fit and labelling of a staging run
(:mod:`~wsiseg.classifiers.fitting`).

Names are imported lazily (PEP 562): the config schemas read ``DiameterRule``'s signature in every entry
script, which should not cost scikit-learn's import (``predict.py`` never classifies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsiseg.lazy import lazy_getattr

_SOURCES = {
    "fit_rows": "fitting",
    "label_rows": "fitting",
    "TrainingRun": "holdout",
    "checkpoint_split": "holdout",
    "heatmaps_checkpoints": "holdout",
    "heldout_patients": "holdout",
    "load_checkpoints": "holdout",
    "mark_holdout": "holdout",
    "score_unfitted": "holdout",
    "training_run": "holdout",
    "DiameterRule": "models",
    "FeatureClassifier": "models",
    "Part": "rows",
    "SlideRow": "rows",
    "slide_rows": "rows",
    "write_features": "rows",
    "write_predictions": "rows",
    "OutOfFold": "validation",
    "balanced_weights": "validation",
    "out_of_fold": "validation",
}
__all__ = [
    "DiameterRule",
    "FeatureClassifier",
    "OutOfFold",
    "Part",
    "SlideRow",
    "TrainingRun",
    "balanced_weights",
    "checkpoint_split",
    "fit_rows",
    "heatmaps_checkpoints",
    "heldout_patients",
    "label_rows",
    "load_checkpoints",
    "mark_holdout",
    "out_of_fold",
    "score_unfitted",
    "slide_rows",
    "training_run",
    "write_features",
    "write_predictions",
]

if TYPE_CHECKING:
    from wsiseg.classifiers.fitting import fit_rows, label_rows
    from wsiseg.classifiers.holdout import (
        TrainingRun,
        checkpoint_split,
        heatmaps_checkpoints,
        heldout_patients,
        load_checkpoints,
        mark_holdout,
        score_unfitted,
        training_run,
    )
    from wsiseg.classifiers.models import DiameterRule, FeatureClassifier
    from wsiseg.classifiers.rows import Part, SlideRow, slide_rows, write_features, write_predictions
    from wsiseg.classifiers.validation import OutOfFold, balanced_weights, out_of_fold

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
