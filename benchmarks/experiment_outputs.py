"""The experiment table's files: ``table.md``, ``table.csv``, ``table.json`` and ``table.png``."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiment_table import COLUMNS, VariantSummary, as_json, within_noise

from wsiseg.atomic import write_text_atomic
from wsiseg.evaluation import BootstrapCI


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(ci: BootstrapCI | None) -> str:
    return "n/a" if ci is None or not math.isfinite(ci.low) else f"[{ci.low:.3f}, {ci.high:.3f}]"


def _change(ci: BootstrapCI | None) -> str:
    """``+0.031 [-0.020, 0.080], within noise`` for a difference and its CI."""
    if ci is None or not math.isfinite(ci.estimate):
        return "n/a"
    noise = ", within noise" if within_noise(ci) else ""
    return f"{ci.estimate:+.3f} {_interval(ci)}{noise}"


_HEADER = ("variant", "seeds", "kappa mean ± SD", "95% CI of the mean", "Δ kappa vs baseline [95% CI]", "ITC recall",
           "Δ ITC recall [95% CI]", "slide accuracy", "recall negative / itc / micro / macro", "FROC", "slide AUC",
           "FP rate, negative slides", "train s", "predict s", "train CPU s", "predict CPU s")  # fmt: skip


def _markdown_row(row: VariantSummary, baseline: bool) -> list[str]:
    m, diff = row.means, row.difference
    if not row.cells:
        return [row.name, "0", *["n/a"] * (len(_HEADER) - 2)]
    recalls = " / ".join(_number(m[f"recall_{k}"], 2) for k in ("negative", "itc", "micro", "macro"))
    return [
        row.name, ", ".join(map(str, row.seeds)), f"{_number(m['kappa'])} ± {_number(row.kappa_sd)}",
        _interval(row.kappa_ci), "baseline" if baseline else _change(diff.kappa if diff else None),
        _number(m["recall_itc"]), "baseline" if baseline else _change(diff.itc_recall if diff else None),
        _number(m["accuracy"]), recalls, _number(m["froc"]), _number(m["slide_auc"]),
        _number(m["fp_rate_negative"]), _number(m["train_s"], 0), _number(m["predict_s"], 0),
        _number(m["train_cpu_s"], 0), _number(m["predict_cpu_s"], 0),
    ]  # fmt: skip


def markdown(rows: Sequence[VariantSummary], level: float = 0.95) -> str:
    """The table, then each variant's description, then what failed."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_markdown_row(r, i == 0)) + " |" for i, r in enumerate(rows)]
    lines += ["", f"CIs: {level:.0%} percentile bootstrap over the held-out patients of every seed; differences",
              "paired (the same resampled patients for the variant and the baseline).", ""]  # fmt: skip
    lines += [f"- **{r.name}**: {r.description}" + (f" ({r.difference.note})" if r.difference and r.difference.note
                                                   else "") for r in rows]  # fmt: skip
    lines += _versus_lines(rows)
    failures = [f"- {r.name}: {f}" for r in rows for f in r.failures]
    return "\n".join([*lines, *(["", "Failed:", *failures] if failures else [])]) + "\n"


def _versus_lines(rows: Sequence[VariantSummary]) -> list[str]:
    """The paired differences of the rows that name a control row of their own (none: no lines)."""
    paired = [r for r in rows if r.versus and r.cells]
    if not paired:
        return []
    header = "| variant | control | seeds | Δ kappa [95% CI] | Δ ITC recall [95% CI] |"
    lines = ["", "Paired against each row's own control (the same resampled patients for both rows):", "", header,
             "|---|---|---|---|---|"]  # fmt: skip
    for r in paired:
        diff = r.versus_difference
        seeds = ", ".join(map(str, diff.seeds)) if diff and diff.seeds else "none"
        kappa = _change(diff.kappa) if diff and not diff.note else f"n/a ({diff.note if diff else 'no cells'})"
        lines.append(f"| {r.name} | {r.versus} | {seeds} | {kappa} | {_change(diff.itc_recall if diff else None)} |")
    return lines


def _ci_columns(prefix: str, ci: BootstrapCI | None) -> dict[str, Any]:
    if ci is None:
        return dict.fromkeys((prefix, f"{prefix}_low", f"{prefix}_high"), "")
    return {prefix: ci.estimate, f"{prefix}_low": ci.low, f"{prefix}_high": ci.high}


def csv_rows(rows: Sequence[VariantSummary]) -> list[dict[str, Any]]:
    """One flat record per variant: means, SD, CIs, differences, failures."""
    records = []
    for r in rows:
        diff = r.difference
        record: dict[str, Any] = {"variant": r.name, "description": r.description, "seeds": " ".join(map(str, r.seeds))}
        record |= {f"{k}_mean": r.means.get(k, "") for k in COLUMNS} | {"kappa_sd": r.kappa_sd}
        record |= _ci_columns("kappa_ci", r.kappa_ci) | _ci_columns("itc_recall_ci", r.itc_ci)
        record |= _ci_columns("kappa_diff", diff.kappa if diff else None)
        record |= {"kappa_diff_within_noise": within_noise(diff.kappa) if diff else ""}
        record |= _ci_columns("itc_recall_diff", diff.itc_recall if diff else None)
        record |= {"itc_recall_diff_within_noise": within_noise(diff.itc_recall) if diff else ""}
        against = r.versus_difference
        record |= {"versus": r.versus or ""} | _ci_columns("versus_kappa_diff", against.kappa if against else None)
        record |= _ci_columns("versus_itc_recall_diff", against.itc_recall if against else None)
        records.append(record | {"failures": " | ".join(r.failures)})
    return records


def save_png(rows: Sequence[VariantSummary], path: Path) -> None:
    """Bars per variant: the mean kappa with its CI, and the ITC recall with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.6), sharey=True)
    for ax, attr, key, title in ((axes[0], "kappa_ci", "kappa", "held-out kappa (mean over seeds)"),
                                 (axes[1], "itc_ci", "recall_itc", "ITC slide recall (mean over seeds)")):  # fmt: skip
        cis = [getattr(r, attr) for r in rows]
        values = [r.means.get(key, math.nan) if r.cells else math.nan for r in rows]
        low = [v - ci.low if ci and math.isfinite(ci.low) else 0 for v, ci in zip(values, cis, strict=True)]
        high = [ci.high - v if ci and math.isfinite(ci.high) else 0 for v, ci in zip(values, cis, strict=True)]
        ax.barh(names, [0 if math.isnan(v) else v for v in values], xerr=[low, high], color="#4c72b0", capsize=3)
        lowest = min([0.0, *(v - d for v, d in zip(values, low, strict=True) if math.isfinite(v))])
        ax.set_xlim(lowest - 0.05 if lowest < 0 else 0.0, 1.05)
        ax.set_title(title, fontsize=10)
        if math.isfinite(values[0]):
            ax.axvline(values[0], color="grey", lw=0.8, ls="--")  # the baseline
    axes[0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _null_for_nan(value: Any) -> Any:
    """JSON has no NaN: undefined numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _null_for_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_null_for_nan(v) for v in value]
    return value


def write_outputs(rows: Sequence[VariantSummary], out: Path, meta: dict[str, Any]) -> str:
    """``table.md``, ``table.csv``, ``table.json`` and ``table.png`` in ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows)
    write_text_atomic(out / "table.md", text)
    records = csv_rows(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    write_text_atomic(out / "table.csv", buffer.getvalue())
    data = _null_for_nan(meta | {"variants": [as_json(r) for r in rows]})
    write_text_atomic(out / "table.json", json.dumps(data, indent=2, allow_nan=False) + "\n")
    save_png(rows, out / "table.png")
    return text
