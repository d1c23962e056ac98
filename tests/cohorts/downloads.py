"""The challenges' downloads rebuilt exactly (file and folder names, labels files) from the tiny synthetic cohort.

Nothing here is wsiseg's own layout: these are the layouts a user has after downloading CAMELYON17 and
CAMELYON16 from the challenge's shared folders or from the open-data bucket (see ``shared/docs/camelyon.md``).
Slides are copied, so a test may damage a copy without touching the session's cohort.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wsiseg.cohorts import SlideRecord, read_cohort
from wsiseg.labels import PatientRecord, format_stage_labels, read_stage_labels

#: How the CAMELYON16 test slides of the rebuilt test set are made: test_001 from the tumour slide, test_002
#: from the normal one; the reference file's lines, as the organisers wrote them (no header).
REFERENCE_LINES = ["test_001,Tumor,Macro,Primary", "test_002,Normal"]


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _nodes(tiny: Path) -> list[SlideRecord]:
    return [r for r in read_cohort(tiny) if r.dataset == "camelyon17"]


def _renumbered(patients: list[PatientRecord], offset: int) -> list[PatientRecord]:
    """The patients as test-set patients (``patient_000`` -> ``patient_100``)."""

    def name(patient: str) -> str:
        return f"patient_{int(patient[-3:]) + offset:03d}"

    return [
        PatientRecord(name(p.patient), p.stage, tuple(type(n)(n.slide.replace(p.patient, name(p.patient)), n.label)
                                                      for n in p.nodes))
        for p in patients
    ]  # fmt: skip


def write_labels(path: Path, patients: list[PatientRecord], bom_crlf: bool = False) -> Path:
    """The labels file in the official format; ``bom_crlf``: as a Windows editor saves it (UTF-8 BOM, CRLF)."""
    text = format_stage_labels(patients)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bom_crlf:
        path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    else:
        path.write_text(text)
    return path


def camelyon17_challenge(tiny: Path, root: Path, test_labels: bool = False, bom_crlf: bool = False) -> Path:
    """``CAMELYON17/`` as the challenge's shared folders hold it.

    ``training/center_K/patient_XXX_node_Y.tif`` (American spelling), ``training/lesion_annotations/*.xml``,
    ``training/stage_labels.csv``; the test set flat in ``testing/patients/patient_1XX_node_Y.tif`` (the training
    slides renumbered), with ``testing/stage_labels.csv`` only when ``test_labels`` (a labelled held-out set).
    """
    top = root / "CAMELYON17"
    for r in _nodes(tiny):
        _copy(r.path, top / "training" / f"center_{r.centre}" / r.slide)
        if r.annotation:
            _copy(r.annotation, top / "training" / "lesion_annotations" / r.annotation.name)
        test_name = r.slide.replace(r.patient, f"patient_{int(r.patient[-3:]) + 100:03d}")
        _copy(r.path, top / "testing" / "patients" / test_name)
    patients = read_stage_labels(tiny / "stage_labels.csv")
    write_labels(top / "training" / "stage_labels.csv", patients, bom_crlf)
    if test_labels:
        write_labels(top / "testing" / "stage_labels.csv", _renumbered(patients, 100), bom_crlf)
    return top


def camelyon17_zips_unpacked(tiny: Path, root: Path) -> Path:
    """``CAMELYON17/training/center_K/`` with each ``patient_XXX.zip`` unpacked in place into ``patient_XXX/``."""
    top = root / "CAMELYON17"
    for r in _nodes(tiny):
        folder = top / "training" / f"center_{r.centre}"
        (folder / f"{r.patient}.zip").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{r.patient}.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty archive, already unpacked
        _copy(r.path, folder / r.patient / r.slide)
    write_labels(top / "training" / "stage_labels.csv", read_stage_labels(tiny / "stage_labels.csv"))
    return top


def camelyon17_bucket(tiny: Path, root: Path) -> Path:
    """``CAMELYON17/`` as the open-data bucket holds it: flat ``images/`` and ``annotations/``, ``stages.csv``."""
    top = root / "CAMELYON17"
    for r in _nodes(tiny):
        _copy(r.path, top / "images" / r.slide)
        if r.annotation:
            _copy(r.annotation, top / "annotations" / r.annotation.name)
    write_labels(top / "stages.csv", read_stage_labels(tiny / "stage_labels.csv"))
    return top


def _camelyon16_slides(tiny: Path) -> tuple[SlideRecord, SlideRecord]:
    records = {r.stem: r for r in read_cohort(tiny) if r.dataset == "camelyon16"}
    return records["tumor_001"], records["normal_001"]


def camelyon16_challenge(tiny: Path, root: Path) -> Path:
    """``CAMELYON16/`` as the challenge's shared folders hold it.

    ``training/tumor/tumor_001.tif``, ``training/normal/normal_001.tif``, ``training/lesion_annotations/``; the
    test set in ``testing/images/test_XXX.tif`` with ``testing/reference.csv`` and ``testing/lesion_annotations/``.
    """
    top = root / "CAMELYON16"
    tumour, normal = _camelyon16_slides(tiny)
    _copy(tumour.path, top / "training" / "tumor" / tumour.slide)
    _copy(normal.path, top / "training" / "normal" / normal.slide)
    _copy(tumour.annotation, top / "training" / "lesion_annotations" / tumour.annotation.name)
    _copy(tumour.path, top / "testing" / "images" / "test_001.tif")
    _copy(normal.path, top / "testing" / "images" / "test_002.tif")
    _copy(tumour.annotation, top / "testing" / "lesion_annotations" / "test_001.xml")
    (top / "testing" / "reference.csv").write_text("\n".join(REFERENCE_LINES) + "\n")
    return top


def camelyon16_bucket(tiny: Path, root: Path) -> Path:
    """``CAMELYON16/`` as the open-data bucket holds it: every slide in ``images/``, ``annotations/``, and the
    test set's reference in ``evaluation/reference.csv``."""
    top = root / "CAMELYON16"
    tumour, normal = _camelyon16_slides(tiny)
    for source, name in ((tumour, "tumor_001"), (normal, "normal_001"), (tumour, "test_001"), (normal, "test_002")):
        _copy(source.path, top / "images" / f"{name}.tif")
    _copy(tumour.annotation, top / "annotations" / "tumor_001.xml")
    _copy(tumour.annotation, top / "annotations" / "test_001.xml")
    (top / "evaluation").mkdir(parents=True)
    (top / "evaluation" / "reference.csv").write_text("\n".join(REFERENCE_LINES) + "\n")
    return top
