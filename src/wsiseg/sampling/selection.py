"""Which of a cohort's slides feed patch sampling, and why each other slide does not."""

from __future__ import annotations

from collections.abc import Iterable

from wsiseg.cohorts import Excluded, SlideRecord


def training_selection(
    records: Iterable[SlideRecord],
    tumour_from: Iterable[str] = ("camelyon16", "camelyon17"),
    normal_from: Iterable[str] = ("camelyon17",),
) -> tuple[list[SlideRecord], list[Excluded]]:
    """The slides that feed patch sampling, as in the paper's update, and every other slide with its reason.

    Tumour slides need a lesion annotation (tumour patches must be known pixel by pixel, and a tumour slide's
    unannotated regions are not guaranteed normal, so it gives no normal patch either); normal slides are the
    slides known to be negative. Test-set slides never train.

    Args:
        records: the cohort.
        tumour_from: datasets whose annotated tumour slides are used.
        normal_from: datasets whose negative slides are used.
    """
    tumour_from, normal_from = set(tumour_from), set(normal_from)
    chosen, left_out = [], []
    for r in records:
        reason, detail = _reason(r, tumour_from, normal_from)
        if reason is None:
            chosen.append(r)
        else:
            left_out.append(Excluded(r.slide, r.path, reason, detail))
    return chosen, left_out


def _reason(r: SlideRecord, tumour_from: set[str], normal_from: set[str]) -> tuple[str | None, str]:
    if r.subset == "testing":
        return "test set", "a slide of the challenge's test set never trains"
    if r.has_tumour is None:
        return "no label", "no labels file gives this slide a label"
    used = tumour_from if r.has_tumour else normal_from
    if r.dataset not in used:
        kind, key = ("tumour", "tumour_from") if r.has_tumour else ("normal", "normal_from")
        return "dataset not used", f"{kind} slides of {r.dataset} are not used (data.{key}={sorted(used)})"
    if r.has_tumour and r.annotation is None:
        return "positive slide without annotation", (
            f"labelled {r.label or 'tumour'} but has no usable lesion annotation: its tumour is not known pixel by "
            "pixel, so it gives neither tumour nor normal patches"
        )
    return None, ""


def select_training_slides(
    records: Iterable[SlideRecord],
    tumour_from: Iterable[str] = ("camelyon16", "camelyon17"),
    normal_from: Iterable[str] = ("camelyon17",),
) -> list[SlideRecord]:
    """The slides of :func:`training_selection`, without the reasons for the others."""
    return training_selection(records, tumour_from, normal_from)[0]
