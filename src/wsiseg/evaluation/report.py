"""Classification reports: confusion matrices, per-class precision / recall, and their pictures.

Pictures use Matplotlib's object-oriented API (no pyplot, no global state), so they can be drawn from any
process or thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix, precision_recall_fscore_support

from wsiseg.atomic import atomic_path
from wsiseg.evaluation.froc import EVAL_FPS, FrocResult


@dataclass(frozen=True)
class ClassReport:
    """Confusion matrix and per-class scores of one labelling.

    Attributes:
        labels: the classes, in ordinal order (rows and columns of ``confusion``).
        confusion: (C, C) counts, rows = reference, columns = prediction.
        precision, recall, f1: per class (0 where undefined).
        support: reference count per class.
        accuracy: share of exact matches.
    """

    labels: tuple[str, ...]
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float

    def as_dict(self) -> dict:
        """JSON-ready values."""
        per_class = {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support, strict=True)
        }
        return {"accuracy": self.accuracy, "per_class": per_class, "confusion": self.confusion.tolist()}

    def table(self) -> str:
        """A Markdown table: one row per class with precision, recall, F1 and support."""
        lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support, strict=True):
            lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {int(s)} |")
        lines.append(f"| **accuracy** | | {self.accuracy:.3f} | | {int(self.support.sum())} |")
        return "\n".join(lines)


def class_report(reference: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> ClassReport:
    """Confusion matrix and precision / recall / F1 per class, over ``labels`` in their order."""
    if len(reference) != len(predicted):
        raise ValueError(f"{len(reference)} reference labels but {len(predicted)} predictions")
    labels = tuple(labels)
    cm = confusion_matrix(reference, predicted, labels=list(labels)) if reference else np.zeros((len(labels),) * 2)
    p, r, f, s = precision_recall_fscore_support(
        reference, predicted, labels=list(labels), zero_division=0.0
    ) if reference else (np.zeros(len(labels)),) * 4  # fmt: skip
    accuracy = float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")
    return ClassReport(labels, cm.astype(int), p, r, f, np.asarray(s, int), accuracy)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120, bbox_inches="tight")
    return path


def save_confusion_png(report: ClassReport, path: str | Path, title: str) -> Path:
    """The confusion matrix as a picture (the paper's Figure 5), counts and row-normalised shading."""
    fig = Figure(figsize=(1.3 * len(report.labels) + 2, 1.2 * len(report.labels) + 1.5))
    ax = fig.add_subplot()
    display = ConfusionMatrixDisplay(report.confusion, display_labels=list(report.labels))
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(f"{title}\naccuracy {report.accuracy:.3f} (n = {int(report.confusion.sum())})")
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    return _save(fig, path)


def save_froc_png(result: FrocResult, path: str | Path, title: str = "Lesion-level FROC") -> Path:
    """The FROC curve with the six evaluation points marked."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    order = np.argsort(result.fps_per_slide, kind="stable")
    ax.step(result.fps_per_slide[order], result.sensitivity[order], where="post", label="FROC")
    ax.plot(list(result.at), list(result.at.values()), "o", label="evaluation points")
    ax.set_xlim(0, 8.2)  # the official range: the score reads the curve up to 8 false positives per slide
    ax.set_ylim(0, 1.02)
    ax.set_xticks([0, *EVAL_FPS[2:]])
    ax.set_xlabel("average false positives per slide")
    ax.set_ylabel("lesion sensitivity")
    ax.set_title(f"{title}: score {result.score:.3f} ({result.n_lesions} lesions, {result.n_slides} slides)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)
