"""Synthetic heatmaps with known lesions, written the way ``predict.py`` writes them.

For testing and timing the classification and staging stage without a trained model: every node slide gets
a tissue mask, a lesion of a size that fits its label (:func:`wsiseg.labels.size_label`), optional false
positives, and the cohort files stage.py reads (``manifest.csv``, ``stage_labels.csv``, ASAP annotations).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.inference import SlidePrediction, TileGrid, write_outputs
from wsiseg.labels import PatientRecord, patient_of_node, write_stage_labels
from wsiseg.staging import stage_patients
from wsiseg.synth.cohort import node_labels, stage_quota, write_manifest
from wsiseg.synth.spec import CAMELYON17_STAGE_COUNTS

#: Lesion diameters (mm) drawn per label.
DIAMETER_MM = {"itc": (0.05, 0.18), "micro": (0.3, 1.8), "macro": (2.3, 4.5)}


@dataclass(frozen=True)
class HeatmapCohortSpec:
    """A synthetic heatmap cohort.

    Attributes:
        patients: number of CAMELYON17-style patients (five slides each).
        shape_hw: heatmap size in pixels.
        mpp: heatmap micrometres per pixel.
        slide_mpp: the pretend slides' level-0 micrometres per pixel.
        false_positive_rate: expected false-positive blobs per slide.
        miss_itc: probability that an ITC gets no response at all (as real models often miss them).
        overlays: write the overlay PNGs too (over a flat pink "thumbnail" of the tissue).
    """

    patients: int = 20
    shape_hw: tuple[int, int] = (640, 800)
    mpp: float = 8.0
    slide_mpp: float = 0.25
    false_positive_rate: float = 0.4
    miss_itc: float = 0.2
    overlays: bool = True


def _blob(heatmap: np.ndarray, centre_xy: tuple[float, float], diameter_px: float, peak: float) -> None:
    """A round response of ``diameter_px``: ``peak`` at the centre, 0.5 at the rim, fading within ~3 px outside."""
    h, w = heatmap.shape
    yy, xx = np.ogrid[:h, :w]
    radius = max(diameter_px / 2, 0.5)
    d = np.hypot(xx + 0.5 - centre_xy[0], yy + 0.5 - centre_xy[1])
    r = d / radius
    value = np.where(r <= 1, peak - (peak - 0.5) * r**2, 0.5 * np.exp(-(((d - radius) / 3.0) ** 2)))  # 3 px rim
    np.maximum(heatmap, value.astype(np.float32), out=heatmap)


def synthetic_heatmap(
    label: str, spec: HeatmapCohortSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(heatmap, tissue, lesion polygons in heatmap pixels (x, y)) for one slide of ``label``."""
    h, w = spec.shape_hw
    tissue = np.zeros((h, w), np.uint8)
    cv2.ellipse(tissue, (w // 2, h // 2), (int(w * 0.45), int(h * 0.42)), float(rng.uniform(-20, 20)), 0, 360, 1, -1)
    heatmap = (rng.random((h, w), np.float32) * 0.05) * tissue
    polygons = []
    if label != "negative":
        diameter_px = rng.uniform(*DIAMETER_MM[label]) * 1000 / spec.mpp
        centre = (w / 2 + rng.uniform(-0.15, 0.15) * w, h / 2 + rng.uniform(-0.15, 0.15) * h)
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        polygons.append(np.column_stack([centre[0] + diameter_px / 2 * np.cos(angles),
                                         centre[1] + diameter_px / 2 * np.sin(angles)]))  # fmt: skip
        if not (label == "itc" and rng.random() < spec.miss_itc):
            _blob(heatmap, centre, diameter_px, float(rng.uniform(0.75, 0.99)))
    for _ in range(rng.poisson(spec.false_positive_rate)):
        centre = (rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h)
        _blob(heatmap, centre, rng.uniform(0.03, 0.12) * 1000 / spec.mpp, float(rng.uniform(0.55, 0.85)))
    return np.clip(heatmap, 0, 1), tissue.astype(bool), polygons


def write_heatmap_cohort(
    out_dir: str | Path, spec: HeatmapCohortSpec = HeatmapCohortSpec(), seed: int = 0, checkpoint: str | None = None,
    first_patient: int = 0,
) -> tuple[Path, Path]:  # fmt: skip
    """Write ``<out_dir>/heatmaps`` (predict.py's format) and ``<out_dir>/cohort`` (labels and annotations).

    ``first_patient``: the first patient's number (100: a test set, as CAMELYON17's patients 100-199).

    Returns:
        (heatmap folder, cohort folder).
    """
    out_dir = Path(out_dir)
    heatmaps, cohort = out_dir / "heatmaps", out_dir / "cohort"
    heatmaps.mkdir(parents=True, exist_ok=True)
    (cohort / "lesion_annotations").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stages = stage_quota(dict(CAMELYON17_STAGE_COUNTS), spec.patients)
    labels = {}
    for i, stage in enumerate(stages):
        for node, label in enumerate(node_labels(stage, rng)):
            labels[f"patient_{i + first_patient:03d}_node_{node}.tif"] = label
    grid = TileGrid(spec.slide_mpp, spec.mpp, 1, 64, 0, spec.shape_hw)
    scale = spec.mpp / spec.slide_mpp
    rows = []
    for slide, label in labels.items():
        stem = Path(slide).stem
        heatmap, tissue, polygons = synthetic_heatmap(label, spec, rng)
        meta = {"checkpoint": checkpoint, "checkpoint_digest": "synthetic", "config_digest": "synthetic"}
        thumbnail = np.where(tissue[..., None], np.uint8([225, 160, 200]), np.uint8(245))  # (H, W, 3)
        prediction = SlidePrediction(stem, Path(slide), grid, heatmap, tissue, thumbnail)
        write_outputs(heatmaps, prediction, meta, tiff=False, png=spec.overlays)
        xml = ""
        if polygons:
            xml = f"lesion_annotations/{stem}.xml"
            write_asap_xml(cohort / xml, [Annotation(f"lesion {k}", "metastases", "tumor", p * scale)
                                          for k, p in enumerate(polygons)])  # fmt: skip
        patient = patient_of_node(slide)
        rows.append({"slide": slide, "path": slide, "annotation": xml, "dataset": "camelyon17", "patient": patient,
                     "centre": "0", "label": label, "mpp": str(spec.slide_mpp), "lesions_mm": ""})  # fmt: skip
    write_manifest(cohort / "manifest.csv", rows)
    patients: list[PatientRecord] = stage_patients(labels)
    write_stage_labels(cohort / "stage_labels.csv", patients)
    return heatmaps, cohort
