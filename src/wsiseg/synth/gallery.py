"""A picture of what a preset draws, at full (level-0) resolution: lesions, ITCs, mimics, artefacts, centres.

``synth.py`` writes it beside the cohort as ``gallery.png``; the panels are found by planning scenes of the
preset (no slide is read), so the picture shows exactly what the cohort's slides contain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from wsiseg.atomic import atomic_path
from wsiseg.labels import ITC_MAX_MM, MICRO_MAX_MM
from wsiseg.synth.cells import CELL_KINDS
from wsiseg.synth.render import render_region
from wsiseg.synth.scene import SlideScene, plan_scene
from wsiseg.synth.spec import CohortSpec

_SIDE_UM = 240.0  # every panel shows this much of the slide
_SEARCH = 60  # scenes planned per panel before it is left out


@dataclass(frozen=True)
class Panel:
    """One picture of the gallery: a level-0 crop of a scene, centred on ``centre_xy``, with a caption."""

    caption: str
    scene: SlideScene
    centre_xy: tuple[float, float]
    outline: np.ndarray | None = None  # an annotation to draw (level-0 vertices)
    side_um: float = _SIDE_UM


def _scenes(spec: CohortSpec, label: str, seed: int) -> Iterator[SlideScene]:
    for i in range(_SEARCH):
        yield plan_scene(f"gallery_{label}_{i}", label, spec, i % spec.n_centres, seed=seed * 1000 + i)  # type: ignore[arg-type]


def _lesion_panel(spec, seed, label, caption, pick: Callable) -> Panel | None:
    for scene in _scenes(spec, label, seed):
        for lesion in scene.lesions:
            if pick(lesion):
                centre = lesion.vertices_xy.mean(0) if lesion.diameter_mm < 0.25 else lesion.vertices_xy[0]
                text = f"{caption}\n{lesion.label}, Feret {lesion.diameter_mm * 1000:.0f} um"
                text += f", {lesion.cells} cell{'s' if lesion.cells > 1 else ''}" if lesion.cells else ""
                return Panel(text, scene, tuple(centre), lesion.vertices_xy)
    return None


def _cell_panel(spec, seed, kind: str, caption: str) -> Panel | None:
    for scene in _scenes(spec, "negative", seed):
        rows = scene.cells[scene.cells[:, 8] == CELL_KINDS[kind]]
        if len(rows):
            return Panel(caption, scene, tuple(rows[len(rows) // 2, :2]))
    return None


def _feature_panel(spec, seed, caption: str, where: Callable, side_um: float = _SIDE_UM) -> Panel | None:
    for scene in _scenes(spec, "negative", seed):
        spot = where(scene)
        if spot is not None:
            return Panel(caption, scene, tuple(spot), side_um=side_um)
    return None


def _germinal_centre(scene: SlideScene):
    return scene.germinal_centres[0, :2] if len(scene.germinal_centres) else None


def _fold(scene: SlideScene):
    return scene.folds[0].points_xy[1] if scene.folds else None


def _bubble_rim(scene: SlideScene):
    return scene.bubbles[0, :2] + [scene.bubbles[0, 2], 0] if len(scene.bubbles) else None


def _blur_zone(scene: SlideScene):
    return scene.blur_zones[0, :2] if len(scene.blur_zones) else None


def _panels(spec: CohortSpec, seed: int) -> list[Panel]:
    cut = ITC_MAX_MM

    def near(lo: float, hi: float, label: str):
        return lambda ls: ls.label == label and lo <= ls.diameter_mm <= hi

    scattered, ranges = spec.lesions.itc_style == "scattered", spec.lesion_mm
    mimics, artefacts = spec.mimics, spec.artefacts
    wanted = [  # (drawn by this preset?, how to find it): a knob that is off is not searched for
        (scattered, lambda: _lesion_panel(spec, seed, "itc", "single tumour cell", lambda ls: ls.cells == 1)),
        (scattered, lambda: _lesion_panel(spec, seed, "itc", "ITC cluster", lambda ls: ls.cells >= 15)),
        (ranges["itc"][1] > 0.9 * cut,
         lambda: _lesion_panel(spec, seed, "itc", f"ITC just under {cut} mm", near(0.9 * cut, cut, "itc"))),
        (ranges["micro"][0] < 1.1 * cut,
         lambda: _lesion_panel(spec, seed, "micro", f"micro just over {cut} mm", near(cut, 1.1 * cut, "micro"))),
        (True, lambda: _lesion_panel(spec, seed, "micro", "micro-metastasis border", near(0.5, MICRO_MAX_MM, "micro"))),
        (True, lambda: _lesion_panel(spec, seed, "macro", "macro-metastasis border", lambda ls: ls.label == "macro")),
        (mimics.histiocyte_clusters_per_mm2 > 0,
         lambda: _cell_panel(spec, seed, "histiocyte", "sinus histiocytes (mimic)")),
        (mimics.hev_per_mm2 > 0, lambda: _cell_panel(spec, seed, "vessel", "high endothelial venule (mimic)")),
        (mimics.germinal_centres_per_mm2 > 0,
         lambda: _feature_panel(spec, seed, "germinal centre (mimic), 600 um", _germinal_centre, side_um=600.0)),
        (artefacts.fold_probability > 0, lambda: _feature_panel(spec, seed, "tissue fold", _fold)),
        (artefacts.bubble_probability > 0, lambda: _feature_panel(spec, seed, "air bubble rim", _bubble_rim)),
        (spec.blur_probability > 0,
         lambda: _feature_panel(spec, seed, "out of focus, 600 um", _blur_zone, side_um=600.0)),
    ]  # fmt: skip
    found = [find() for drawn, find in wanted if drawn]
    return [p for p in found if p is not None]


def _centre_panels(spec: CohortSpec, seed: int) -> list[Panel]:
    """The same kind of tissue from every centre (stain differences)."""
    panels = []
    for c in range(spec.n_centres):
        scene = plan_scene(f"gallery_centre_{c}", "negative", spec, c, seed=seed * 1000 + 900 + c)
        mpp = scene.mpp
        panels.append(
            Panel(f"centre {c}: {scene.centre.scanner}\n{mpp:.3f} um/px", scene, tuple(scene.tissue_xy[0].mean(0)))
        )
    return panels


def _crop(panel: Panel) -> np.ndarray:
    side = int(round(panel.side_um / panel.scene.mpp))
    x0, y0 = int(panel.centre_xy[0] - side / 2), int(panel.centre_xy[1] - side / 2)
    rgb = render_region(panel.scene, (x0, y0), (side, side)).rgb.copy()
    if panel.outline is not None:
        points = np.round((panel.outline - [x0, y0]) * 16).astype(np.int32)
        cv2.polylines(rgb, [points], True, (20, 170, 60), 1, cv2.LINE_AA, shift=4)
    return rgb


def write_preset_gallery(spec: CohortSpec, path: str | Path, seed: int = 0, tile_inches: float = 2.4) -> Path:
    """Write a PNG of the preset's lesions, ITCs, mimics and artefacts, and one panel per centre.

    Every panel is a 240 um square of the slide at its level-0 resolution (600 um where a structure is larger,
    as the caption says); annotations are drawn in green.

    Args:
        spec: the preset.
        path: the PNG to write.
        seed: which scenes to search (panels come from scenes planned with seeds ``seed * 1000 + i``).
        tile_inches: size of one panel.
    """
    rows = [_panels(spec, seed), _centre_panels(spec, seed)]
    n_cols = 6
    grid = [row[i : i + n_cols] for row in rows for i in range(0, len(row), n_cols)]
    fig = Figure(figsize=(tile_inches * n_cols, (tile_inches + 0.45) * len(grid)))
    axes = fig.subplots(len(grid), n_cols, squeeze=False)
    for r, row in enumerate(grid):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_axis_off()
            if c < len(row):
                ax.imshow(_crop(row[c]), interpolation="nearest")
                ax.set_title(row[c].caption, fontsize=8)
    mpp = np.mean([spec.centre_mpp(c) for c in range(spec.n_centres)])
    fig.suptitle(f"preset {spec.name!r}: {_SIDE_UM:.0f} um per panel at level 0 (~{mpp:.2f} um/px)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


__all__ = ["Panel", "write_preset_gallery"]
