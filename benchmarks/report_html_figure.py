"""The README's screenshot of ``report.html`` (``benchmarks/figures/report_html.png``), with the page's size and time.

Stages a synthetic heatmap cohort (20 patients at the heatmap cohort's default size, every third patient held
out by a checkpoint's split) in a temporary folder, opens its ``report.html`` in headless Chromium (Debian's
``chromium``, driven as ``tests/evaluation/test_html.py`` drives it), opens the first patient after the
third with a macro-metastasis in one of its first three nodes, captures the page down to that patient's
first row of slides, shrinks it to ``--scale`` and stores it with 256 colours (a PNG of about 200 kB).

    python benchmarks/report_html_figure.py [--patients 20] [--out benchmarks/figures/report_html.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from wsiseg.model.spec import DATAMODULE_KEY
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort
from wsiseg.tasks.stage import run

REPO = Path(__file__).resolve().parents[1]

OPEN_A_PATIENT = """(() => {
    const rows = Array.from(document.querySelectorAll('#patients tr.patient'));
    const macro = (r) => Array.from(r.cells[5].children).slice(0, 3).some(c => c.textContent.includes('macro'));
    const row = rows.find((r, i) => i > 2 && macro(r)) || rows[0];
    row.querySelector('button').click();
    const cards = document.getElementById(row.dataset.detail).querySelectorAll('.slide');
    return cards[Math.min(2, cards.length - 1)].getBoundingClientRect().bottom + window.scrollY + 12;
})()"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "figures" / "report_html.png")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # the tests' config composition and browser driver
    from tests.conftest import compose_config
    from tests.tasks.chromium import Chromium

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        split = {f"patient_{i:03d}": "test" if i % 3 == 0 else "train" for i in range(args.patients)}
        torch.save({DATAMODULE_KEY: {"split": split}}, root / "model.ckpt")
        spec = HeatmapCohortSpec(patients=args.patients)
        heatmaps, cohort = write_heatmap_cohort(root, spec, seed=0, checkpoint=str(root / "model.ckpt"))
        overrides = [f"heatmaps={heatmaps}", f"cohort={cohort}", f"out_dir={root / 'stage'}", "paths.output_dir=unused"]
        result = run(compose_config("stage", overrides))
        report = result.out_dir / "report.html"
        start = time.perf_counter()
        with Chromium(root / "profile") as browser:
            browser.open(report.as_uri(), width=1280, height=900)
            loaded = time.perf_counter() - start
            bottom = browser.evaluate(OPEN_A_PATIENT)
            errors = browser.errors()
            shot = browser.screenshot(root / "page.png", full_page=True)
        if errors:
            raise SystemExit(f"the page logged errors: {errors}")
        image = Image.open(shot).convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, round(bottom))))
        image = image.resize((round(image.width * args.scale), round(image.height * args.scale)), Image.LANCZOS)
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
        print(f"report.html: {report.stat().st_size / 1e6:.2f} MB for {result.report.slides} slides; "
              f"Chromium started and loaded it in {loaded:.2f} s")  # fmt: skip
        print(f"{args.out}: {image.width} x {image.height} px, {args.out.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
