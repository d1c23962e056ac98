"""Generate a synthetic cohort laid out exactly like the CAMELYON17 training set (and a CAMELYON16 part).

Layout under ``out_dir``::

    centre_K/patient_XXX_node_Y.tif          tiled JPEG BigTIFF pyramids
    lesion_annotations/patient_XXX_node_Y.xml ASAP XML (groups ``metastases`` / ``normal``), tumour slides only
    stage_labels.csv                          the official format, patient stages from the pN rules
    camelyon16/training/{tumor,normal}/*.tif  CAMELYON16-style slides (groups ``_0`` / ``_2``), if asked for
    camelyon16/training/lesion_annotations/tumor_NNN.xml
    manifest.csv                              one row per slide: path, label, centre, mpp, annotation, ...
    cohort.json                               the preset and seed that made it (reruns reuse a complete cohort)
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wsiseg.annotations import Annotation, write_asap_xml
from wsiseg.atomic import atomic_path, write_text_atomic
from wsiseg.labels import PN_STAGES, NodeRecord, PatientRecord, PatientStage, SlideLabel, write_stage_labels
from wsiseg.parallel import map_slides
from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff
from wsiseg.staging import pn_stage
from wsiseg.synth.render import render_strip
from wsiseg.synth.scene import SlideScene, plan_scene
from wsiseg.synth.spec import CohortSpec

log = logging.getLogger(__name__)
MANIFEST_FIELDS = (
    "slide",
    "path",
    "annotation",
    "dataset",
    "patient",
    "centre",
    "label",
    "mpp",
    "lesions_mm",
)


@dataclass(frozen=True)
class SlideJob:
    """One slide to make: where it goes and what it shows."""

    name: str
    label: SlideLabel
    centre: int
    seed: int
    tif: str  # relative to the cohort folder
    xml: str  # relative; written only when the slide has lesions
    dataset: str  # "camelyon17" | "camelyon16"
    patient: str = ""
    tumour_group: str = "metastases"
    exclude_group: str = "normal"


def stage_quota(counts: dict[str, int], n_patients: int) -> list[PatientStage]:
    """Distribute ``n_patients`` over stages in proportion to ``counts`` (largest remainder), ordinal order.

    With at least as many patients as stages, every stage gets one patient.
    """
    weights = np.array([counts.get(s, 0) for s in PN_STAGES], float)
    exact = weights / weights.sum() * n_patients
    quota = np.floor(exact).astype(int)
    if n_patients >= len(PN_STAGES):
        quota = np.maximum(quota, (weights > 0).astype(int))
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    i = 0
    while quota.sum() < n_patients:
        quota[order[i % len(order)]] += 1
        i += 1
    while quota.sum() > n_patients:
        quota[int(np.argmax(quota))] -= 1
    return [stage for stage, q in zip(PN_STAGES, quota, strict=True) for _ in range(q)]


def node_labels(stage: PatientStage, rng: np.random.Generator, nodes: int = 5) -> list[SlideLabel]:
    """Five node labels whose pN stage is ``stage`` (CAMELYON17-like positive-node counts)."""
    pick = {
        "pN0": [],
        "pN0(i+)": ["itc"] * int(rng.choice([1, 2], p=[0.6, 0.4])),
        "pN1mi": ["micro"] * int(rng.choice([1, 2], p=[0.75, 0.25])) + ["itc"] * int(rng.random() < 0.4),
        "pN1": ["macro"] + list(rng.choice(["macro", "micro"], int(rng.choice([0, 1, 2], p=[0.5, 0.3, 0.2])))),
        "pN2": ["macro", "macro"] + list(rng.choice(["macro", "micro"], int(rng.choice([2, 3])))),
    }[stage]
    if stage in ("pN1", "pN2") and rng.random() < 0.3 and len(pick) < nodes:
        pick = [*pick, "itc"]
    labels: list[SlideLabel] = [str(x) for x in pick] + ["negative"] * (nodes - len(pick))  # type: ignore[list-item]
    rng.shuffle(labels)
    assert pn_stage(labels) == stage, (stage, labels)
    return labels


def plan_cohort(spec: CohortSpec, seed: int) -> tuple[list[PatientRecord], list[SlideJob]]:
    """Decide every patient's stage and node labels, and the slides to render (no pixels yet)."""
    rng = np.random.default_rng(seed)
    stages = stage_quota(spec.stage_counts, spec.n_patients)
    rng.shuffle(stages)
    patients, jobs = [], []
    for p, stage in enumerate(stages):
        patient, centre = f"patient_{p:03d}", p * spec.n_centres // spec.n_patients
        labels = node_labels(stage, rng)
        patients.append(
            PatientRecord(
                patient,
                stage,
                tuple(NodeRecord(f"{patient}_node_{y}.tif", lb) for y, lb in enumerate(labels)),
            )
        )
        for y, label in enumerate(labels):
            name = f"{patient}_node_{y}"
            jobs.append(
                SlideJob(
                    name,
                    label,
                    centre,
                    seed * 100_000 + p * 10 + y,
                    f"centre_{centre}/{name}.tif",
                    f"lesion_annotations/{name}.xml",
                    "camelyon17",
                    patient,
                )
            )
    jobs += _camelyon16_jobs(spec, seed, rng)
    return patients, jobs


def _camelyon16_jobs(spec: CohortSpec, seed: int, rng: np.random.Generator) -> list[SlideJob]:
    root = "camelyon16/training"
    jobs = []
    for kind, count in (("tumor", spec.camelyon16_tumor), ("normal", spec.camelyon16_normal)):
        for i in range(1, count + 1):
            name = f"{kind}_{i:03d}"
            label = str(rng.choice(["macro", "micro"], p=[0.6, 0.4])) if kind == "tumor" else "negative"
            jobs.append(
                SlideJob(
                    name,
                    label,
                    (0, 2)[i % 2],
                    seed * 100_000 + 90_000 + len(jobs),  # type: ignore[arg-type]
                    f"{root}/{kind}/{name}.tif",
                    f"{root}/lesion_annotations/{name}.xml",
                    "camelyon16",
                    tumour_group="_0",
                    exclude_group="_2",
                )
            )
    return jobs


def lesion_annotations(scene: SlideScene, tumour_group: str, exclude_group: str) -> list[Annotation]:
    """The scene's lesions as ASAP annotations (tumour outlines, then cut-outs)."""
    annotations = [
        Annotation(f"Annotation {i}", tumour_group, "tumor", ls.vertices_xy) for i, ls in enumerate(scene.lesions)
    ]
    cutouts = [c for ls in scene.lesions for c in ls.cutouts_xy]
    annotations += [
        Annotation(f"Annotation {len(annotations) + i}", exclude_group, "exclude", c) for i, c in enumerate(cutouts)
    ]
    return annotations


def render_slide(job: SlideJob, spec: CohortSpec, out_dir: Path) -> dict[str, str]:
    """Plan, render and write one slide (and its annotation); returns its manifest row."""
    scene = plan_scene(job.name, job.label, spec, job.centre, job.seed)
    width, height = scene.size_wh
    tif = out_dir / job.tif
    if not tif.exists():
        if scene.lesions:
            write_asap_xml(out_dir / job.xml, lesion_annotations(scene, job.tumour_group, job.exclude_group))
        write_pyramid_tiff(
            tif,
            (height, width),
            lambda y0, h: render_strip(scene, y0, h),
            scene.mpp,
            TiffOptions(mpp_storage=spec.centre(job.centre).mpp_storage, tile=spec.tile, quality=spec.jpeg_quality),
        )
    return {
        "slide": Path(job.tif).name,
        "path": job.tif,
        "annotation": job.xml if scene.lesions else "",
        "dataset": job.dataset,
        "patient": job.patient,
        "centre": str(job.centre),
        "label": job.label,
        "mpp": f"{scene.mpp:.6f}",
        "lesions_mm": " ".join(f"{ls.diameter_mm:.3f}" for ls in scene.lesions),
    }


def _spec_record(spec: CohortSpec, seed: int) -> dict:
    return {"spec": json.loads(json.dumps(spec.record())), "seed": seed, "format": 1}


def _check_folder(out_dir: Path, record: dict, overwrite: bool) -> bool:
    """True when ``out_dir`` already holds this exact complete cohort; raises on a different one."""
    meta = out_dir / "cohort.json"
    if not meta.exists():
        return False
    found = json.loads(meta.read_text())
    same = {k: found.get(k) for k in record} == record
    if not same and not overwrite:
        raise FileExistsError(
            f"{out_dir} holds a cohort made with another preset or seed ({meta}); choose another out_dir "
            "or pass overwrite=true"
        )
    if not same:
        for tif in out_dir.rglob("*.tif"):
            tif.unlink()
    return same and found.get("complete", False)


def generate_cohort(
    spec: CohortSpec, out_dir: str | Path, seed: int = 0, workers: int = 2, overwrite: bool = False
) -> Path:
    """Write the cohort; slides are rendered in parallel with a progress bar; reruns reuse finished slides.

    Args:
        spec: the preset.
        out_dir: the cohort folder.
        seed: everything about the cohort follows from it.
        workers: processes rendering slides.
        overwrite: replace a cohort made with another preset or seed instead of refusing.

    Returns:
        The path of ``stage_labels.csv``.
    """
    out_dir = Path(out_dir)
    record = _spec_record(spec, seed)
    if _check_folder(out_dir, record, overwrite):
        log.info("cohort %s is complete for this preset and seed; reusing it", out_dir)
        return out_dir / "stage_labels.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "cohort.json", json.dumps({**record, "complete": False}, indent=2))
    patients, jobs = plan_cohort(spec, seed)
    rows = map_slides(render_slide, [(job, spec, out_dir) for job in jobs], workers, f"synth {spec.name}")
    write_manifest(out_dir / "manifest.csv", rows)
    labels = write_stage_labels(out_dir / "stage_labels.csv", patients)
    write_text_atomic(out_dir / "cohort.json", json.dumps({**record, "complete": True, "slides": len(rows)}, indent=2))
    return labels


def write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    """Write the cohort's ``manifest.csv`` (one row per slide, :data:`MANIFEST_FIELDS`), atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
