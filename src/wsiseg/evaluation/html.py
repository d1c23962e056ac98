"""``report.html``: a staging run in one self-contained page for a browser.

Sections: the run in brief (heatmaps, classifier, detection, lesions), the headline scores with their
bootstrap intervals over patients, the confusion matrices, FROC curve, gallery and ROI figure, a sortable
table of patients (reference, predicted and out-of-fold pN stage; each node's reference and predicted label)
whose rows open to their slides (overlay, labels, class probabilities, predicted lesions, IoU with the
annotation), and the run's provenance and resolved config (``run.json``).

Self-contained: the style and script are inline and every image is a ``data:`` URI, so the file can be
mailed or moved alone and the page (its Content-Security-Policy says so) loads nothing else. The plots are
embedded as written (PNG, tens of kB each), the gallery and ROI figure as JPEG (photos: a fifth of their PNG),
each slide's overlay as a JPEG thumbnail of at most ``overlay_px`` pixels a side (about 20 kB of the file
for the synthetic H&E: some 10 MB for 500 slides, where the overlays themselves would make hundreds), with
relative links to the full overlay and the lesion files, which work while the run and heatmap folders stay
where they are. Every text from data (names, paths, config values) is escaped; no data goes into the script.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import cv2
import numpy as np

from wsiseg.atomic import write_text_atomic
from wsiseg.classifiers import SlideRow
from wsiseg.evaluation.bootstrap import BootstrapCI
from wsiseg.evaluation.html_page import page
from wsiseg.evaluation.lesions import LesionMeasures
from wsiseg.evaluation.records import StageReport
from wsiseg.evaluation.scores import PART_TITLES, confusion_name
from wsiseg.labels import PN_STAGES, SLIDE_LABELS, parse_node

#: Lesions listed per slide, largest first (all of them are in the slide's lesion files).
MAX_LESIONS = 10
#: The embedded JPEGs' quality, and the largest side of the gallery and ROI figure (photos: JPEG, not PNG).
JPEG_QUALITY, PHOTO_PX = 80, 1600
_DASH = "&mdash;"


@dataclass(frozen=True)
class HtmlInputs:
    """What ``report.html`` shows.

    Attributes:
        report: the run's report.
        rows: every slide's row.
        stages: the submitted pN stage of every staged patient.
        provenance: the run's ``run.json`` (time, versions, git revision, command, resolved config).
        config_text: the resolved config as the page shows it (YAML, from the task); ``""``: run.json's as JSON.
    """

    report: StageReport
    rows: Sequence[SlideRow]
    stages: Mapping[str, str]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    config_text: str = ""


@dataclass(frozen=True)
class _Patient:
    """One row of the patient table: the patient's slides and stages (``None``: unknown)."""

    name: str
    slides: list[SlideRow]
    reference: str | None
    predicted: str | None
    oof: str | None

    @property
    def mismatch(self) -> bool:
        """A predicted or out-of-fold stage differs from the reference."""
        return self.reference is not None and any(s not in (None, self.reference) for s in (self.predicted, self.oof))


def write_html_report(path: Path, inputs: HtmlInputs, overlay_px: int = 320) -> Path:
    """Write ``report.html`` to ``path``; its figures are read from ``path``'s folder, the run's."""
    return write_text_atomic(path, render_html(inputs, path.parent, overlay_px))


def render_html(inputs: HtmlInputs, out_dir: Path, overlay_px: int = 320) -> str:
    """The page: figures read from ``out_dir``, overlays as thumbnails of ``overlay_px`` (0: none)."""
    links = [("#scores", "Scores"), ("#figures", "Figures"), ("#patients-section", "Patients"),
             ("#provenance", "Provenance and config")]  # fmt: skip
    nav = tag("p", " &middot; ".join(tag("a", text, href=href) for href, text in links), class_="sub")
    body = [tag("h1", f"wsiseg stage: {escape(out_dir.name)}"), nav, _summary(inputs, out_dir),
            _scores(inputs.report), _figures(inputs.report, out_dir), _patients(inputs, out_dir, overlay_px),
            _provenance(inputs.provenance, inputs.config_text)]  # fmt: skip
    return page(f"wsiseg stage report: {out_dir.name}", "\n".join(body))


def tag(name: str, content: str = "", **attributes: object) -> str:
    """``<name ...>content</name>``: ``content`` is HTML already; attribute values are escaped here.

    ``class_`` is ``class``, ``data_sort`` is ``data-sort``; ``None`` values are left out. An ``img`` has no
    content and no end tag.
    """
    text = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for k, v in attributes.items()
                   if v is not None)  # fmt: skip
    return f"<{name}{text}>" if name == "img" else f"<{name}{text}>{content}</{name}>"


def _num(value: float | None, digits: int = 3) -> str:
    return _DASH if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _with_ci(value: float, ci: BootstrapCI | None, suffix: str = "") -> str:
    """The value (and ``suffix``), and below them its interval when there is one."""
    if ci is None:
        return _num(value) + suffix
    skipped = f", {ci.n_degenerate} undefined skipped" if ci.n_degenerate else ""
    what = f"{ci.level:.0%} percentile bootstrap CI over patients, {ci.n_boot} draws{skipped}"
    return f"{_num(value)}{suffix}" + tag("span", f"[{_num(ci.low)}, {_num(ci.high)}]", class_="ci", title=what)


def _link(path: Path | str, out_dir: Path, text: str) -> str:
    """A link to a local file, relative to the run folder (a ``file:`` URI where no relative path exists)."""
    try:
        href = pathname2url(os.path.relpath(path, out_dir))
    except ValueError:  # another drive (Windows)
        href = Path(path).resolve().as_uri()
    return tag("a", escape(text), href=href)


def _facts(items: Sequence[tuple[str, str]]) -> str:
    """A two-column table; the values are HTML already."""
    return tag("table", "".join(tag("tr", tag("th", escape(k)) + tag("td", v)) for k, v in items), class_="facts")


def _summary(inputs: HtmlInputs, out_dir: Path) -> str:
    """The run in brief: inputs, classifier, detection scores, lesions, where the files are."""
    report = inputs.report
    items = [("heatmaps", escape(report.heatmaps)), ("slides", f"{report.slides} ({report.fit_slides} fitted here)"),
             ("patients staged", str(report.patients_staged)), ("classifier", escape(report.classifier)),
             ("submission", _link(report.submission, out_dir, report.submission.name))]  # fmt: skip
    if report.training.checkpoint is not None:
        items.append(("U-Net checkpoint", escape(str(report.training.checkpoint))))
    det = report.detection
    if det.curve is not None:
        items.append(("lesion FROC", f"{_num(det.curve.score)} ({det.curve.n_lesions} lesions, {det.slides} slides)"))
    if det.curve is not None or det.auc_max_prob is not None:
        aucs = (("heatmap max", det.auc_max_prob, det.auc_max_prob_ci),
                ("classifier", det.auc_classifier, det.auc_classifier_ci))  # fmt: skip
        text = ", ".join(f"{k} {_with_ci(v, ci)}" for k, v, ci in aucs if v is not None) or _DASH
        items.append(("slide ROC AUC", f"{text} ({det.auc_slides} slides; {escape(det.scope)})"))
    if report.missing_nodes:
        named = "; ".join(f"{m.patient} node {m.node}: {m.reason}" for m in report.missing_nodes)
        items.append(("nodes counted negative", escape(f"{len(report.missing_nodes)} without a heatmap ({named})")))
    if report.inventory is not None:
        items.append(("cohort inventory", f"{escape(str(report.inventory))} ({escape(str(report.left_out))} left out)"))
    lesions = report.lesions
    if lesions.folder is not None:
        text = ", ".join(f"{n} {c}" for c, n in lesions.as_dict()["lesions"].items())
        if lesions.iou:
            text += f"; mean IoU with the annotations {_num(lesions.mean_iou)} over {len(lesions.iou)} slides"
        items.append(("predicted lesions", f"{escape(text)} ({_link(lesions.folder, out_dir, 'lesions/')})"))
    return _facts(items)


def _scores(report: StageReport) -> str:
    """Per scored part: kappa, slide accuracy and recall per class, with intervals where computed."""
    if not report.parts:
        return _section("scores", "Scores", tag("p", "No labelled slide was scored.", class_="muted"))
    names = ["part", "patients", "kappa (CAMELYON17)", "slides", "slide accuracy"]
    names += [f"recall {c} (n)" for c in SLIDE_LABELS]
    head = tag("tr", "".join(tag("th", escape(n), class_="num" if i else None) for i, n in enumerate(names)))
    lines = []
    for part, scores in report.parts.items():
        staging, slides, ci = scores.staging, scores.slides, scores.slide_ci
        cells = [str(staging.n) if staging else _DASH, _with_ci(staging.kappa, staging.kappa_ci) if staging else _DASH,
                 str(int(slides.support.sum())), _with_ci(slides.accuracy, ci.accuracy if ci else None)]  # fmt: skip
        cells += [_with_ci(r, ci.recall.get(c) if ci else None, f" ({int(n)})") if n else f"{_DASH} (0)"
                  for c, r, n in zip(slides.labels, slides.recall, slides.support, strict=True)]  # fmt: skip
        title = tag("td", escape(PART_TITLES[part]))
        lines.append(tag("tr", title + "".join(tag("td", c, class_="num") for c in cells)))
    level = next((s.slide_ci.accuracy.level for s in report.parts.values() if s.slide_ci is not None), None)
    note = "The out-of-fold scores are the fitted patients' cross-validation."
    if level is not None:
        note = f"Below a score: its {level:.0%} percentile bootstrap interval over the held-out patients. " + note
    table = tag("table", tag("thead", head) + tag("tbody", "".join(lines)))
    return _section("scores", "Scores", table + tag("p", escape(note), class_="sub"))


def _section(id_: str, title: str, content: str) -> str:
    return tag("section", tag("h2", escape(title)) + content, id=id_)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _figures(report: StageReport, out_dir: Path) -> str:
    """The run's pictures, embedded: the plots as written (PNG), the gallery and ROI figure as JPEG (photos)."""
    plots: list[tuple[Path, str]] = []
    for part, scores in report.parts.items():
        plots.append((out_dir / confusion_name("slide", part), f"Slide labels, {PART_TITLES[part]}"))
        if scores.staging is not None:
            plots.append((out_dir / confusion_name("patient", part), f"pN stages, {PART_TITLES[part]}"))
    if report.detection.curve is not None:
        plots.append((out_dir / "froc.png", "Lesion-level FROC (CAMELYON16)"))
    images = [(_data_uri(p.read_bytes(), "image/png"), p, c) for p, c in plots if p.is_file()]
    photos = ((report.pictures.gallery, "Overlays per reference label"), (report.pictures.roi, "Tissue ROI"))
    for path, caption in photos:
        photo = _jpeg(Path(path), PHOTO_PX) if path is not None else None
        if photo is not None:
            images.append((photo[0], Path(path), caption))
    figures = [tag("figure", tag("img", src=uri, alt=c) + tag("figcaption", escape(f"{c} ({p.name})")))
               for uri, p, c in images]  # fmt: skip
    return _section("figures", "Figures", tag("div", "".join(figures), class_="figures"))


def _patient_list(inputs: HtmlInputs) -> list[_Patient]:
    """Patients in name order, their slides in node order, with the reference and out-of-fold stages scored."""
    reference: dict[str, str] = {}
    oof: dict[str, str] = {}
    for part, scores in inputs.report.parts.items():
        for score in scores.staging.stages if scores.staging is not None else ():
            reference[score.patient] = score.reference
            if part == "cv":
                oof[score.patient] = score.predicted
    by_patient: dict[str, list[SlideRow]] = defaultdict(list)
    for row in inputs.rows:
        by_patient[row.patient].append(row)
    return [_Patient(name, sorted(rows, key=_slide_order), reference.get(name), inputs.stages.get(name),
                     oof.get(name)) for name, rows in sorted(by_patient.items())]  # fmt: skip


def _slide_order(row: SlideRow) -> tuple[int, int, str]:
    """Node slides in node order, then the others by name."""
    node = parse_node(row.heatmap.slide)
    return (0, node[1], "") if node else (1, 0, row.heatmap.slide)


def _stage_cell(stage: str | None, reference: str | None) -> str:
    """A stage, sortable in stage order, marked where it differs from the reference."""
    rank = PN_STAGES.index(stage) if stage in PN_STAGES else -1
    bad = "bad" if stage is not None and reference is not None and stage != reference else None
    return tag("td", escape(stage) if stage else _DASH, data_sort=rank, class_=bad)


def _chip(row: SlideRow) -> str:
    """A slide's node (or name) and its label where the prediction is right, else reference -> predicted."""
    node = parse_node(row.heatmap.slide)
    name = f"n{node[1]}" if node else row.heatmap.name
    title = f"{row.heatmap.slide}: reference {row.label or 'unknown'}, predicted {row.predicted}"
    if row.label == row.predicted:
        return tag("span", f"{escape(name)} {escape(row.label)}", class_="chip", title=title)
    text = f"{escape(name)} {escape(row.label or '?')} &rarr; {escape(row.predicted)}"
    return tag("span", text, class_="chip bad" if row.label else "chip", title=title)


#: The patient table's columns: (title, sort type (None: not sortable), numeric).
_COLUMNS = (
    ("patient", "text", False), ("part", "text", False), ("reference", "number", False),
    ("predicted", "number", False), ("out-of-fold", "number", False),
    ("slides (reference → predicted where wrong)", None, False), ("wrong slides", "number", True),
    ("lesions", "number", True), ("max prob", "number", True),
)  # fmt: skip


def _patients(inputs: HtmlInputs, out_dir: Path, overlay_px: int) -> str:
    """The sortable patient table; each patient row is followed by its hidden detail row (its slides)."""
    head = "".join(tag("th", escape(t), data_type=kind, class_="num" if num else None) for t, kind, num in _COLUMNS)
    lines = []
    for i, patient in enumerate(_patient_list(inputs)):
        cards = "".join(_slide_card(r, inputs, out_dir, overlay_px) for r in patient.slides)
        lines.append(_patient_row(i, patient, inputs) + tag("tr", tag("td", tag("div", cards, class_="slides"),
                     colspan=len(_COLUMNS)), class_="detail", id=f"detail-{i}", hidden=""))  # fmt: skip
    note = tag("p", "Click a column header to sort, a patient to show its slides. Red: differs from the "
                    "reference. Out-of-fold: the stage of the cross-validated slide labels (fitted patients). Slides: "
                    "n0 to n4 are the patient's nodes.", class_="sub")  # fmt: skip
    table = tag("table", tag("thead", tag("tr", head)) + tag("tbody", "".join(lines)), id="patients")
    return _section("patients-section", "Patients", note + table)


def _patient_row(i: int, patient: _Patient, inputs: HtmlInputs) -> str:
    """One patient's row: stages, slide chips, wrong slides, lesions, the highest heatmap probability."""
    slides, counts = patient.slides, inputs.report.lesions.counts
    wrong = sum(r.label is not None and r.predicted != r.label for r in slides)
    n_lesions = sum(sum(counts.get(r.heatmap.name, {}).values()) for r in slides)
    top = max((r.features.get("max_prob", np.nan) for r in slides), default=np.nan)
    button = tag("button", escape(patient.name), type="button", aria_expanded="false")
    cells = [tag("td", button, data_sort=patient.name), tag("td", escape(", ".join(sorted({r.part for r in slides})))),
             _stage_cell(patient.reference, None), _stage_cell(patient.predicted, patient.reference),
             _stage_cell(patient.oof, patient.reference), tag("td", "".join(_chip(r) for r in slides)),
             tag("td", str(wrong), class_="num"), tag("td", str(n_lesions), class_="num"),
             tag("td", _num(top), class_="num", data_sort=-1 if np.isnan(top) else f"{top:.4f}")]  # fmt: skip
    return tag("tr", "".join(cells), class_="patient mismatch" if patient.mismatch else "patient", data_index=i,
               data_detail=f"detail-{i}")  # fmt: skip


def _jpeg(path: Path | None, max_px: int) -> tuple[str, int, int] | None:
    """A JPEG data URI of the image at ``path`` shrunk to at most ``max_px`` a side, and its size (w, h)."""
    if path is None or max_px <= 0 or not path.is_file():
        return None
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)  # (H, W, 3) BGR, None if unreadable
    if image is None:
        return None
    h, w = image.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return (_data_uri(encoded.tobytes(), "image/jpeg"), image.shape[1], image.shape[0]) if ok else None


def _slide_card(row: SlideRow, inputs: HtmlInputs, out_dir: Path, overlay_px: int) -> str:
    """One slide: its labels and probabilities, overlay thumbnail, links, lesions and IoU with its annotation."""
    name, lesions = row.heatmap.name, inputs.report.lesions
    labels = (("reference", row.label, None), ("predicted", row.predicted, row.label),
              ("out-of-fold", row.oof, row.label))  # fmt: skip
    text = " &middot; ".join(f"{what} " + tag("span", escape(value), class_="bad" if ref and value != ref else "ok")
                             for what, value, ref in labels if value)  # fmt: skip
    if row.proba is not None:
        probs = " ".join(f"{c} {p:.2f}" for c, p in zip(SLIDE_LABELS, row.proba, strict=True))
        text += "<br>" + tag("span", f"P: {escape(probs)}", class_="muted")
    thumb = _jpeg(row.heatmap.overlay, overlay_px)
    image = tag("p", "no overlay", class_="muted")
    links = []
    if thumb is not None and row.heatmap.overlay is not None:
        image = tag("img", src=thumb[0], width=thumb[1], height=thumb[2], alt=f"overlay of {name}")
        links.append(_link(row.heatmap.overlay, out_dir, "full overlay"))
    if lesions.folder is not None and name in lesions.counts:
        links += [_link(lesions.folder / f"{name}.lesions.{ext}", out_dir, what)
                  for ext, what in (("geojson", "QuPath GeoJSON"), ("xml", "ASAP XML"))]  # fmt: skip
    iou = lesions.iou.get(name)
    iou_text = tag("div", f"IoU of the lesions with the annotation: {_num(iou)}") if iou is not None else ""
    content = (tag("h3", escape(name)) + tag("div", text) + image + tag("div", " &middot; ".join(links)) + iou_text
               + _lesion_table(lesions.measures.get(name)))  # fmt: skip
    return tag("div", content, class_="slide")


def _lesion_table(measures: Sequence[LesionMeasures] | None) -> str:
    """The slide's predicted lesions, largest first (at most :data:`MAX_LESIONS`)."""
    if measures is None:
        return ""
    if not measures:
        return tag("p", "no predicted lesion", class_="muted")
    names = ("#", "class", "area mm²", "diameter mm", "max p", "mean p")
    head = "".join(tag("th", escape(n), class_=None if n == "class" else "num") for n in names)
    rows = [(str(i + 1), escape(m.size_class), f"{m.area_mm2:.4f}", f"{m.feret_mm:.3f}", f"{m.max_prob:.2f}",
             f"{m.mean_prob:.2f}") for i, m in enumerate(measures[:MAX_LESIONS])]  # fmt: skip
    body = "".join(tag("tr", "".join(tag("td", v, class_=None if j == 1 else "num") for j, v in enumerate(r)))
                   for r in rows)  # fmt: skip
    more = len(measures) - MAX_LESIONS
    note = tag("p", f"and {more} smaller (in the lesion files)", class_="muted") if more > 0 else ""
    return tag("table", tag("thead", tag("tr", head)) + tag("tbody", body), class_="lesions") + note


def _provenance(run: Mapping[str, Any], config_text: str = "") -> str:
    """``run.json``: when, where and with what the run was made, and its resolved config."""
    if not run:
        return _section("provenance", "Provenance and config", tag("p", "no run record", class_="muted"))
    command = shlex.join(str(c) for c in run.get("command") or [])
    items = [(k, escape(str(run.get(k)))) for k in ("time", "git_revision", "seed", "python", "platform", "host")]
    items.insert(2, ("command", tag("code", escape(command))))
    packages = _facts([(k, escape(str(v))) for k, v in (run.get("packages") or {}).items()])
    config = run.get("config")
    text = config_text or (json.dumps(config, indent=2) if isinstance(config, dict) else str(config))
    content = (_facts(items) + tag("details", tag("summary", "package versions") + packages)
               + tag("details", tag("summary", "config (resolved, as run.json records it)")
                     + tag("pre", escape(text)), open=""))  # fmt: skip
    return _section("provenance", "Provenance and config", content)
