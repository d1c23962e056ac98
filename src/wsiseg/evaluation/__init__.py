"""Scores: the CAMELYON17 quadratic-weighted kappa (FROC and slide-level AUC come with issue 5)."""

from wsiseg.evaluation.kappa import camelyon17_kappa, read_patient_stages

__all__ = ["camelyon17_kappa", "read_patient_stages"]
