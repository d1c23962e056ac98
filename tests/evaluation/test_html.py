"""report.html: one self-contained page of a real stage run, read as HTML and in a real browser (headless Chromium)."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from urllib.parse import unquote

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import compose_config
from tests.tasks.chromium import Chromium, chromium_path
from wsiseg.classifiers import SlideRow
from wsiseg.evaluation import DetectionResult
from wsiseg.evaluation.html import MAX_LESIONS, HtmlInputs, render_html
from wsiseg.evaluation.records import StageReport
from wsiseg.features import FeatureSpec, HeatmapRecord
from wsiseg.labels import PN_STAGES, read_stage_labels
from wsiseg.model.spec import DATAMODULE_KEY
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort
from wsiseg.tasks.stage import run

PATIENTS = 10
VOID = {"meta", "link", "img", "br", "input", "hr"}


class Element:
    """A parsed element: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs, self.children, self.parts = tag, attrs, [], []

    @property
    def text(self) -> str:
        return "".join(self.parts + [c.text for c in self.children]).strip()

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        found = [e for c in self.children for e in [c, *c.find(tag)] if e.tag == tag]
        return [e for e in found if cls is None or cls in e.classes()]

    def iter(self) -> list[Element]:
        return [e for c in self.children for e in (c, *c.iter())]


class TreeBuilder(HTMLParser):
    """The document as a tree of :class:`Element` (the text of an element kept before its children's)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"  # well nested
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(text: str) -> Element:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.stack == [builder.root]  # every element closed
    return builder.root


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """A stage run over 10 synthetic patients, 4 of them held out by the heatmaps' checkpoint: (out_dir, cohort)."""
    root = tmp_path_factory.mktemp("report_html")
    split = {f"patient_{i:03d}": "test" if i % 3 == 0 else "train" for i in range(PATIENTS)}
    torch.save({DATAMODULE_KEY: {"split": split}}, root / "model.ckpt")
    spec = HeatmapCohortSpec(patients=PATIENTS, shape_hw=(300, 400))
    heatmaps, cohort = write_heatmap_cohort(root, spec, seed=3, checkpoint=str(root / "model.ckpt"))
    cfg = compose_config("stage", [f"heatmaps={heatmaps}", f"cohort={cohort}", f"out_dir={root / 'out'}", "workers=1",
                                   "paths.output_dir=unused", "classifier.estimator.n_estimators=60"])  # fmt: skip
    return run(cfg).out_dir, cohort


def test_report_html_is_one_self_contained_page(staged):
    out, cohort = staged
    text = (out / "report.html").read_text()
    page = parse(text)
    assert len(text) < 2_000_000  # 50 slides: figures and overlay thumbnails embedded
    report = json.loads((out / "report.json").read_text())
    # nothing to fetch: no script or style file, images are data URIs that decode, links are local files
    assert [e.attrs for e in page.find("script")] == [{}] and not page.find("link", "stylesheet")
    images = page.find("img")
    assert len(images) == 6 + 5 * PATIENTS  # 4 confusion matrices, FROC, gallery; one overlay per slide
    for image in images:
        header, data = image.attrs["src"].split(",", 1)
        assert header in ("data:image/png;base64", "data:image/jpeg;base64")
        assert cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR) is not None
    for element in page.iter():
        for name, value in element.attrs.items():
            assert "://" not in (value or ""), (element.tag, name, value)
        if element.tag == "a" and not element.attrs["href"].startswith("#"):
            assert (out / unquote(element.attrs["href"])).exists(), element.attrs["href"]
    # the scores, with the held-out kappa's interval
    scores = page.find("section")[0].find("tr")
    ci = report["kappa_ci"]["test"]
    assert scores[1].find("td")[2].text == f"{report['kappa']['test']:.3f}[{ci['low']:.3f}, {ci['high']:.3f}]"
    assert scores[2].find("td")[0].text == "out-of-fold (grouped CV)" and len(scores) == 3
    # one row per patient with its stages; a mismatch marked; then its hidden detail row with its five slides
    truth = {p.patient: p.stage for p in read_stage_labels(cohort / "stage_labels.csv")}
    submitted = {p.patient: p.stage for p in read_stage_labels(out / "submission.csv")}
    out_of_fold = {p.patient: p.stage for p in read_stage_labels(out / "submission_cv.csv")}
    (table,) = [t for t in page.find("table") if t.attrs.get("id") == "patients"]
    rows = table.find("tr", "patient")
    assert [r.find("td")[0].text for r in rows] == sorted(truth) and len(rows) == PATIENTS
    held_out = {p["patient"] for p in report["patients"]["test"]}
    for row in rows:
        patient, part, reference, predicted, oof = (c.text for c in row.find("td")[:5])
        assert (part, reference, predicted) == ("test" if patient in held_out else "fit", truth[patient],
                                                submitted[patient])  # fmt: skip
        assert oof == out_of_fold.get(patient, "—")
        assert ("mismatch" in row.classes()) == (predicted != reference or oof not in ("—", reference))
    details = table.find("tr", "detail")
    assert len(details) == PATIENTS and all("hidden" in d.attrs for d in details)
    cards = [card for d in details for card in d.find("div", "slide")]
    assert len(cards) == 5 * PATIENTS and all(len(card.find("img")) == 1 for card in cards)
    # each slide's lesions as the lesion files hold them (the largest first), and its IoU where annotated
    summary = report["lesions"]
    for card in cards:
        name = card.find("h3")[0].text
        features = json.loads((out / "lesions" / f"{name}.lesions.geojson").read_text())["features"]
        listed = card.find("table", "lesions")[0].find("tr")[1:] if features else []
        assert len(listed) == min(len(features), MAX_LESIONS)
        for row, feature in zip(listed, features, strict=False):
            measured = feature["properties"]["measurements"]
            assert row.find("td")[1].text == feature["properties"]["classification"]["name"]
            assert row.find("td")[3].text == f"{measured['Max Feret diameter mm']:.3f}"
        iou = summary["iou_with_annotations"].get(name)
        assert (f"with the annotation: {iou:.3f}" in card.text) if iou is not None else ("IoU" not in card.text)
    # provenance and config
    record = json.loads((out / "run.json").read_text())
    provenance = page.find("section")[-1]
    assert str(record["git_revision"]) in provenance.text and "holdout: checkpoint" in provenance.find("pre")[0].text


def test_text_from_data_is_escaped(tmp_path):
    name = 'x<b>bold</b>&"q'
    heatmap = HeatmapRecord(name, f"{name}.tif", tmp_path / "h.npy", tmp_path / "t.npy", 8.0, 0.25, tmp_path / "s.tif")
    row = SlideRow(heatmap, "<i>p</i>", label="macro", predicted="itc", features={"max_prob": 0.9})
    report = StageReport("<script>heat</script>", 1, 1, 0, "Cls<b>", FeatureSpec(), tmp_path / "s<b>.csv", {},
                         DetectionResult(1))  # fmt: skip
    provenance = {"command": ["stage.py", "cohort=<img src=x onerror=alert(1)>"], "git_revision": "<b>r</b>",
                  "config": {"cohort": "</pre><script>alert(1)</script>"}}  # fmt: skip
    text = render_html(HtmlInputs(report, [row], {"<i>p</i>": "pN1"}, provenance), tmp_path / "run<b>")
    page = parse(text)
    tags = {e.tag for e in page.iter()}
    assert not tags & {"b", "i", "img"} and len(page.find("script")) == 1  # nothing from data became markup
    for literal in (name, "<i>p</i>", "<script>heat</script>", "Cls<b>", "cohort=<img src=x onerror=alert(1)>",
                    "<b>r</b>", "</pre><script>alert(1)</script>", "run<b>"):  # fmt: skip
        assert literal in page.text, literal
    (patient,) = page.find("tr", "patient")
    assert patient.find("td")[0].attrs["data-sort"] == "<i>p</i>"  # attributes escaped and read back whole
    assert patient.find("span", "chip")[0].attrs["title"] == f"{name}.tif: reference macro, predicted itc"


def test_report_html_in_a_real_browser(staged, tmp_path):
    """Chromium loads the page: tables, every image decoded, sorting, a row opening to its slides, no error."""
    if chromium_path() is None:
        pytest.skip("no chromium on PATH: install Debian's package (apt-get install chromium, as .ci/run does)")
    out, _ = staged
    submitted = {p.patient: p.stage for p in read_stage_labels(out / "submission.csv")}
    names = "Array.from(document.querySelectorAll('#patients tr.patient'), r => r.cells[0].textContent)"
    with Chromium(tmp_path / "profile") as browser:
        browser.open((out / "report.html").as_uri())
        assert browser.evaluate("document.querySelectorAll('table').length") >= 4
        assert browser.evaluate(names) == sorted(submitted)
        images = browser.evaluate("Array.from(document.images, i => i.complete && i.naturalWidth > 0)")
        assert len(images) == 6 + 5 * PATIENTS and all(images)

        def sort(column: str) -> list[str]:
            browser.evaluate(f"Array.from(document.querySelectorAll('#patients th'))"
                             f".find(th => th.textContent === '{column}').click()")  # fmt: skip
            return browser.evaluate(names)

        assert sort("patient") == sorted(submitted)
        assert sort("patient") == sorted(submitted, reverse=True)  # a second click reverses
        by_stage = sorted(submitted, key=lambda p: (PN_STAGES.index(submitted[p]), p))  # ties: the page's order
        assert sort("predicted") == by_stage
        sort("max prob")
        rows = "Array.from(document.querySelectorAll('#patients tr.patient'))"
        top = browser.evaluate(f"{rows}.map(r => +r.cells[8].dataset.sort)")
        assert top == sorted(top) and len(set(top)) > 1
        # every detail row still follows its patient; a click on a patient opens its slides, a second closes them
        assert browser.evaluate(f"{rows}.every(r => r.nextElementSibling.id === r.dataset.detail)")
        row = f"({rows}.find(r => r.classList.contains('mismatch')) || {rows}[0])"
        opened = browser.evaluate(f"""(() => {{
            const row = {row}; row.querySelector('button').click();
            const detail = document.getElementById(row.dataset.detail);
            const shown = Array.from(detail.querySelectorAll('img'), i => i.getBoundingClientRect().width);
            return {{hidden: detail.hidden, height: detail.getBoundingClientRect().height, shown,
                     expanded: row.querySelector('button').getAttribute('aria-expanded')}};
        }})()""")
        assert not opened["hidden"] and opened["height"] > 300 and opened["expanded"] == "true"
        assert len(opened["shown"]) == 5 and min(opened["shown"]) > 100  # its five overlays on screen
        browser.screenshot(tmp_path / "report.png", full_page=True)
        assert browser.evaluate(f"(() => {{ const row = {row}; row.click(); "
                                "return document.getElementById(row.dataset.detail).hidden; })()")  # fmt: skip
        assert browser.errors() == []
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
