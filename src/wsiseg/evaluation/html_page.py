"""The page around ``report.html``'s sections: its inline style sheet and script (no network, no template engine).

The script does two things, on the table ``#patients`` only: a click (or Enter) on a header with a
``data-type`` sorts the patient rows by that column (``data-sort`` of the cells when given, else their
text; numbers or text; a second click reverses; ties keep the page's order), each row keeping its detail row
right below it; a click on a patient row shows or hides its detail row (the slides' overlays and lesions).
The Content-Security-Policy lets the page load nothing but its own inline style, script and ``data:`` images.
"""

from __future__ import annotations

from html import escape

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 0 24px 48px; color: #1d2330; background: #fff; }
h1 { font-size: 22px; margin: 20px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #dde;
     padding-bottom: 4px; } h3 { font-size: 15px; margin: 0 0 6px; }
.sub { color: #5a6372; margin: 0 0 12px; }
table { border-collapse: collapse; margin: 6px 0; } th, td { padding: 4px 9px; text-align: left; vertical-align: top; }
thead th { background: #eef1f6; border-bottom: 2px solid #c9cfda; white-space: nowrap; }
tbody td { border-bottom: 1px solid #e6e9ef; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts th { background: none; border: 0; color: #5a6372; font-weight: 500; padding-left: 0; }
.facts td { border: 0; }
.ci { display: block; color: #5a6372; font-size: 12px; white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; } figure { margin: 0; }
figure img { display: block; height: 240px; border: 1px solid #e6e9ef; cursor: zoom-in; }
figure img.zoom { height: auto; max-width: 100%; cursor: zoom-out; }
figcaption { color: #5a6372; font-size: 12px; max-width: 280px; }
#patients { width: 100%; } #patients thead th[data-type] { cursor: pointer; user-select: none; }
#patients thead th[data-type]::after { content: " \\2195"; color: #9aa3b2; }
#patients thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: #1d2330; }
#patients thead th[aria-sort="descending"]::after { content: " \\25BC"; color: #1d2330; }
tr.patient { cursor: pointer; } tr.patient:hover { background: #f5f7fb; }
tr.patient.mismatch td:first-child { box-shadow: inset 4px 0 #d33; }
tr.patient button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; }
tr.patient button::before { content: "\\25B8 "; color: #9aa3b2; }
tr.patient button[aria-expanded="true"]::before { content: "\\25BE "; }
.bad { background: #fde2e1; color: #8a1c1c; font-weight: 600; } .ok { color: #1b6b2f; }
.chip { display: inline-block; margin: 1px 3px 1px 0; padding: 0 5px; border-radius: 3px; background: #eef1f6;
        font-size: 12px; white-space: nowrap; }
.chip.bad { background: #fde2e1; }
tr.detail > td { background: #f8f9fc; padding: 10px 12px 14px; }
.slides { display: flex; flex-wrap: wrap; gap: 14px; }
.slide { background: #fff; border: 1px solid #dde2ea; border-radius: 4px; padding: 8px; width: 360px; }
.slide img { display: block; max-width: 100%; height: auto; margin: 4px 0; }
.slide table { font-size: 12px; } .slide th, .slide td { padding: 2px 6px; }
.muted { color: #8a93a3; } pre { background: #f6f8fa; padding: 10px; overflow: auto; max-height: 480px; }
details > summary { cursor: pointer; font-weight: 600; margin: 6px 0; }
"""

SCRIPT = """
"use strict";
(() => {
  const table = document.getElementById("patients");
  if (!table) return;
  const body = table.tBodies[0];
  const value = (row, col, numeric) => {
    const cell = row.cells[col];
    const text = cell.dataset.sort ?? cell.textContent.trim();
    return numeric ? Number(text) : text;
  };
  const sortBy = (th) => {
    const col = th.cellIndex, numeric = th.dataset.type === "number";
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of th.parentElement.cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const rows = Array.from(body.querySelectorAll("tr.patient"));
    rows.sort((a, b) => {
      const x = value(a, col, numeric), y = value(b, col, numeric);
      const order = numeric ? x - y : x.localeCompare(y);
      return (ascending ? order : -order) || a.dataset.index - b.dataset.index;
    });
    for (const row of rows) body.append(row, document.getElementById(row.dataset.detail));
  };
  for (const th of table.tHead.rows[0].cells) {
    if (!th.dataset.type) continue;
    th.tabIndex = 0;
    th.addEventListener("click", () => sortBy(th));
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(th); }
    });
  }
  for (const img of document.querySelectorAll("figure img")) {
    img.addEventListener("click", () => img.classList.toggle("zoom"));
  }
  body.addEventListener("click", (event) => {
    const row = event.target.closest("tr.patient");
    if (!row || event.target.closest("a")) return;
    const detail = document.getElementById(row.dataset.detail);
    detail.hidden = !detail.hidden;
    row.querySelector("button").setAttribute("aria-expanded", String(!detail.hidden));
  });
})();
"""


def page(title: str, body: str) -> str:
    """The whole document: ``title`` (plain text, escaped here) and ``body`` (HTML, escaped by its maker)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
