"""The ``hard`` preset's knobs, each measured on generated slides (scenes planned and regions rendered)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate
from scipy.spatial import ConvexHull, cKDTree

from tests.conftest import compose_config
from wsiseg.annotations.geometry import max_feret_diameter
from wsiseg.slide import open_slide
from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff
from wsiseg.synth import plan_scene, render_region
from wsiseg.synth.cells import CELL_KINDS, HISTIOCYTE
from wsiseg.synth.cohort import lesion_annotations
from wsiseg.synth.grid import PLAN_UM, plan_mask, sinus_band
from wsiseg.synth.spec import CentreShift, CohortSpec


@pytest.fixture(scope="module")
def hard() -> CohortSpec:
    return instantiate(compose_config("synth", ["synth=hard"]).synth, _convert_="all")


@pytest.fixture(scope="module")
def demo() -> CohortSpec:
    return instantiate(compose_config("synth", ["synth=demo"]).synth, _convert_="all")


def _scenes(spec: CohortSpec, label: str, n: int, first_seed: int = 0):
    return [plan_scene(f"s{i}", label, spec, i % spec.n_centres, seed=first_seed + i) for i in range(n)]


@pytest.fixture(scope="module")
def itc_scenes(hard):
    return _scenes(hard, "itc", 40)


@pytest.fixture(scope="module")
def negative_scenes(hard):
    return _scenes(hard, "negative", 12, first_seed=500)


def _tissue_mm2(scene) -> float:
    return float(plan_mask(scene.size_wh, scene.mpp, scene.tissue_xy).sum() * (PLAN_UM / 1000) ** 2)


def test_lesion_sizes_fall_on_both_sides_of_each_cut_off(hard):
    """Diameters measured on the written annotations: every label on its side, many within 10% of a cut-off."""
    measured: dict[str, list[float]] = {"itc": [], "micro": [], "macro": []}
    for label in measured:
        for scene in _scenes(hard, label, 40, first_seed=1000):
            for annotation, lesion in zip(
                lesion_annotations(scene, "metastases", "normal")[: len(scene.lesions)], scene.lesions, strict=True
            ):
                measured[lesion.label].append(max_feret_diameter(annotation.vertices_xy) * scene.mpp / 1000)
    itc, micro, macro = (np.array(measured[k]) for k in ("itc", "micro", "macro"))
    assert itc.max() < 0.2 < micro.min() and micro.max() < 2.0 < macro.min()
    assert ((itc >= 0.18) & (itc < 0.2)).sum() >= 3 and ((micro > 0.2) & (micro <= 0.22)).sum() >= 3
    assert ((micro >= 1.8) & (micro < 2.0)).sum() >= 3 and ((macro > 2.0) & (macro <= 2.2)).sum() >= 3
    # continuous, not bands: the demo's empty gaps (0.17-0.3 mm, 1.7-2.3 mm) are populated
    assert ((micro > 0.2) & (micro < 0.3)).sum() >= 5 and ((macro > 2.0) & (macro < 2.3)).sum() >= 5


def _cells_inside(cells: np.ndarray, outline: np.ndarray) -> int:
    contour = outline.astype(np.float32).reshape(-1, 1, 2)
    return sum(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in cells[:, :2])


def test_scattered_itcs_are_single_cells_or_clusters_under_200_cells(itc_scenes):
    counts, sinus_hits = [], []
    for scene in itc_scenes:
        tumour_cells = scene.cells[scene.cells[:, 8] == CELL_KINDS["tumour"]]
        inside = plan_mask(scene.size_wh, scene.mpp, scene.tissue_xy)
        band = sinus_band(inside)
        for lesion in scene.lesions:
            assert not lesion.solid and lesion.diameter_mm < 0.2
            n = _cells_inside(tumour_cells, lesion.vertices_xy)
            assert n == lesion.cells  # every cell of the ITC lies inside its annotation
            counts.append(n)
            cx, cy = (lesion.vertices_xy.mean(0) * scene.mpp / PLAN_UM).astype(int)
            sinus_hits.append(bool(band[cy, cx]))
    counts = np.array(counts)
    assert counts.max() < 200 and counts.min() >= 1
    assert (counts == 1).sum() >= 5 and (counts >= 10).sum() >= 5  # single cells and real clusters
    assert 0.35 < np.mean(sinus_hits) < 0.9  # half placed in the sinus, the rest anywhere (some land there too)


def test_scattered_itc_cells_render_as_pale_large_nuclei_among_lymphocytes(itc_scenes):
    """At each ITC cell's centre the pixel is nuclear (dark); its ring of cytoplasm is paler; no filled disc."""
    scene = max(itc_scenes, key=lambda s: max(ls.cells for ls in s.lesions))
    lesion = max(scene.lesions, key=lambda ls: ls.cells)
    x0, y0 = (lesion.vertices_xy.min(0) - 20).astype(int)
    x1, y1 = (lesion.vertices_xy.max(0) + 20).astype(int)
    region = render_region(scene, (x0, y0), (x1 - x0, y1 - y0))
    grey = region.rgb.astype(float).mean(2)
    cells = scene.cells[scene.cells[:, 8] == CELL_KINDS["tumour"]]
    cells = cells[[_cells_inside(c[None], lesion.vertices_xy) == 1 for c in cells]]
    centre = np.array([grey[int(y - y0), int(x - x0)] for x, y in cells[:, :2]])
    ring = np.array(
        [
            grey[int(y - y0 + r * 1.35 * np.sin(a)), int(x - x0 + r * 1.35 * np.cos(a))]
            for x, y, r in cells[:, :3]
            for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)
        ]
    ).reshape(len(cells), 8)
    assert np.mean(centre < np.median(ring, axis=1)) > 0.8
    assert region.tumour.any() and region.tumour.mean() > 0.3  # the annotation is the outline around the cells
    # the outline is mostly lymphoid background: the tumour cells cover a minority of it
    nucleus_area = (np.pi * cells[:, 2] ** 2).sum()
    assert nucleus_area < 0.5 * region.tumour.sum()


def _solidity(outline: np.ndarray) -> float:
    return float(cv2.contourArea(outline.astype(np.float32)) / ConvexHull(outline).volume)


def test_micro_metastases_have_infiltrative_borders(hard, demo):
    def solidity(spec):
        return [
            _solidity(ls.vertices_xy) for s in _scenes(spec, "micro", 15) for ls in s.lesions if ls.label == "micro"
        ]

    hard_s, demo_s = solidity(hard), solidity(demo)
    assert np.median(demo_s) > 0.95  # smooth ovals
    assert np.median(hard_s) < 0.88 and np.median(hard_s) < np.median(demo_s) - 0.07


def _nucleus_stats(scene, cells: np.ndarray) -> np.ndarray:
    """(area px, mean grey) of each explicit nucleus: the dark pixels within its ellipse's reach, on a crop."""
    out = []
    for x, y, r, aspect in cells[:, :4]:
        reach = int(np.ceil(r * aspect)) + 1
        crop = render_region(scene, (int(x) - 3 * reach, int(y) - 3 * reach), (6 * reach, 6 * reach))
        grey = crop.rgb.astype(float).mean(2)
        yy, xx = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
        near = np.hypot(xx + int(x) - 3 * reach - x, yy + int(y) - 3 * reach - y) <= reach
        window = grey[near]
        dark = window < np.percentile(grey[crop.tissue], 40)
        out.append((dark.sum(), window[dark].mean() if dark.any() else np.nan))
    return np.array(out)


def test_tumour_nuclei_overlap_the_mimics_in_size_and_colour(hard):
    """Measured on pixels: the tumour cells' nucleus areas and darkness overlap the histiocytes'."""
    tumour, histio = [], []
    for scene in _scenes(hard, "itc", 6, first_seed=200):
        for kind, sink in ((CELL_KINDS["tumour"], tumour), (CELL_KINDS["histiocyte"], histio)):
            cells = scene.cells[scene.cells[:, 8] == kind][:12]
            sink.append(_nucleus_stats(scene, cells))
    tumour, histio = np.concatenate(tumour), np.concatenate(histio)
    tumour, histio = tumour[~np.isnan(tumour[:, 1])], histio[~np.isnan(histio[:, 1])]
    assert len(tumour) > 20 and len(histio) > 20
    for column in (0, 1):  # the interquartile ranges intersect: neither size nor colour separates them
        t_lo, t_hi = np.percentile(tumour[:, column], [25, 75])
        h_lo, h_hi = np.percentile(histio[:, column], [25, 75])
        assert t_lo < h_hi and h_lo < t_hi, (column, (t_lo, t_hi), (h_lo, h_hi))
    assert HISTIOCYTE["radius"][0] < hard.lesions.tumour_radius_um[1]


def test_mimics_appear_at_their_stated_rate_per_mm2(hard, negative_scenes):
    area = sum(_tissue_mm2(s) for s in negative_scenes)
    venules = sum(int((s.cells[:, 8] == CELL_KINDS["vessel"]).sum()) for s in negative_scenes)
    groups = 0
    for s in negative_scenes:  # histiocyte groups: cells chained closer than the packing spacing
        pts = s.cells[s.cells[:, 8] == CELL_KINDS["histiocyte"], :2]
        tree = cKDTree(pts)
        parent = list(range(len(pts)))

        def root(i, parent=parent):
            while parent[i] != i:
                i = parent[i]
            return i

        for i, j in tree.query_pairs(60 / s.mpp):
            parent[root(i)] = root(j)
        groups += len({root(i) for i in range(len(pts))})
    germinal = sum(len(s.germinal_centres) for s in negative_scenes)
    assert venules / area == pytest.approx(hard.mimics.hev_per_mm2, rel=0.3)
    assert groups / area == pytest.approx(hard.mimics.histiocyte_clusters_per_mm2, rel=0.4)
    assert germinal / area == pytest.approx(hard.mimics.germinal_centres_per_mm2, rel=0.6)


def test_germinal_centres_are_pale_inside_a_dense_mantle(negative_scenes):
    scene = next(s for s in negative_scenes if len(s.germinal_centres))
    x, y, r = scene.germinal_centres[0]
    outer = next(f for f in scene.follicles if np.hypot(f[0] - x, f[1] - y) < 1 and f[2] > r)[2]
    x0, y0 = int(x - outer), int(y - outer)
    region = render_region(scene, (x0, y0), (int(2 * outer), int(2 * outer)))
    yy, xx = np.mgrid[0 : region.rgb.shape[0], 0 : region.rgb.shape[1]]
    dist = np.hypot(xx + x0 - x, yy + y0 - y)
    grey = region.rgb.astype(float).mean(2)
    centre, mantle = (
        grey[(dist < r * 0.8) & region.tissue],
        grey[(dist > r * 1.1) & (dist < outer * 0.95) & region.tissue],
    )
    assert centre.mean() > mantle.mean() + 5  # the germinal centre is paler than its mantle


def _mean_tissue_colour(scene) -> np.ndarray:
    """Mean RGB of a 400 px tissue crop from the middle of the first section."""
    cx, cy = scene.tissue_xy[0].mean(0).astype(int)
    region = render_region(scene, (cx - 200, cy - 200), (400, 400))
    return region.rgb[region.tissue].astype(float).mean(0)


def test_centre_shift_spreads_the_centres_stains(hard):
    plain = replace(hard, centre_shift=CentreShift())

    def spread(spec):
        colours = np.array([_mean_tissue_colour(plan_scene("s", "negative", spec, c, seed=5)) for c in range(5)])
        return max(np.linalg.norm(a - b) for a in colours for b in colours)

    assert spread(hard) > 30 and spread(hard) > 1.5 * spread(plain)
    # slides of one centre vary (slide jitter) but less than the centres do
    same = np.array([_mean_tissue_colour(plan_scene("s", "negative", hard, 2, seed=s)) for s in (5, 6, 7)])
    within = max(np.linalg.norm(a - b) for a in same for b in same)
    assert 0 < within < spread(hard)


def test_folds_are_darker_bands_and_bubbles_have_dark_rims(hard):
    from wsiseg.synth.render import _discs, _stroke

    always = replace(hard, artefacts=replace(hard.artefacts, fold_probability=1.0, bubble_probability=1.0))
    scene = plan_scene("s", "negative", always, 0, seed=3)
    assert scene.folds and len(scene.bubbles)
    bare = replace(scene, folds=(), bubbles=np.zeros((0, 3)))
    fold = scene.folds[0]
    x, y, r = scene.bubbles[0]
    boxes = {  # render only around the fold and the first bubble
        "fold": (fold.points_xy.min(0) - fold.width_px, fold.points_xy.max(0) + fold.width_px),
        "bubble": (np.array([x - r - 4, y - r - 4]), np.array([x + r + 4, y + r + 4])),
    }
    grey = {}
    for name, (lo, hi) in boxes.items():
        origin, size = tuple(int(v) for v in lo), tuple(int(v) for v in hi - lo)
        a, b = render_region(scene, origin, size), render_region(bare, origin, size)
        grey[name] = (a.rgb.astype(float).mean(2), b.rgb.astype(float).mean(2), a.tissue, origin)
    with_fold, without, tissue, origin = grey["fold"]
    band = (
        _stroke(tissue.shape, origin, fold.points_xy, fold.width_px)
        & tissue
        & ~_discs(tissue.shape, origin, scene.bubbles)
    )
    assert band.sum() > 100 and with_fold[band].mean() < without[band].mean() - 20  # doubled tissue: darker
    with_bubble, without, tissue, origin = grey["bubble"]
    rim = _discs(tissue.shape, origin, scene.bubbles[:1], rim=2.0)
    rim &= ~_stroke(tissue.shape, origin, fold.points_xy, fold.width_px)
    assert with_bubble[rim].mean() < without[rim].mean() - 30


def test_illumination_is_uneven_across_the_glass(hard):
    scene = plan_scene("s", "negative", hard, 1, seed=9)
    flat = replace(scene, illumination_field=None)
    corners = [
        (0, 0),
        (scene.size_wh[0] - 64, 0),
        (0, scene.size_wh[1] - 64),
        (scene.size_wh[0] - 64, scene.size_wh[1] - 64),
    ]
    lit = [render_region(scene, c, (64, 64)).rgb.astype(float).mean() for c in corners]
    even = [render_region(flat, c, (64, 64)).rgb.astype(float).mean() for c in corners]
    assert np.ptp(even) < 3 and np.ptp(lit) > 0.4 * hard.artefacts.illumination * np.mean(even)


def test_hard_blur_zones_and_jpeg_quality(hard, demo, tmp_path):
    zones = [len(s.blur_zones) for s in _scenes(hard, "negative", 40, first_seed=3000)]
    assert 0.2 < np.mean([z > 0 for z in zones]) < 0.5 and max(zones) > 1
    scene = plan_scene("s", "micro", hard, 0, seed=4)
    region = render_region(scene, (0, 0), (512, 512)).rgb
    errors = {}
    for quality in (hard.jpeg_quality, demo.jpeg_quality):
        path = tmp_path / f"q{quality}.tif"
        write_pyramid_tiff(path, (512, 512), lambda y0, h: region[y0 : y0 + h], 1.0, TiffOptions(quality=quality))
        with open_slide(path) as slide:
            back = slide.read_region((0, 0), (512, 512), 1.0)
        errors[quality] = np.abs(back.astype(float) - region).mean()
    assert hard.jpeg_quality < demo.jpeg_quality and errors[hard.jpeg_quality] > 1.05 * errors[demo.jpeg_quality]


def test_a_tumour_nucleus_spans_a_few_pixels_at_the_model_input(hard):
    """Baseline (20X analogue): tumour nuclei of ~2-4 px at the U-Net's input; the 40X analogue doubles it."""
    base = instantiate(compose_config("train", ["experiment=hard"]).sampling)
    forty = instantiate(compose_config("train", ["experiment=hard", "sampling.magnification=1.0"]).sampling)
    scene = next(s for s in _scenes(hard, "macro", 3) if s.lesions)
    cx, cy = scene.lesions[0].vertices_xy.mean(0).astype(int)
    rgb = render_region(scene, (cx - 256, cy - 256), (512, 512)).rgb
    sizes = {}
    for name, spec in (("20x", base), ("40x", forty)):
        small = cv2.resize(
            rgb, None, fx=scene.mpp / spec.out_mpp, fy=scene.mpp / spec.out_mpp, interpolation=cv2.INTER_AREA
        )
        grey = small.astype(float).mean(2)
        n, _, stats, _ = cv2.connectedComponentsWithStats((grey < np.percentile(grey, 25)).astype(np.uint8), 4)
        areas = stats[1:, cv2.CC_STAT_AREA]
        sizes[name] = float(np.sqrt(np.median(areas[areas > 1]) * 4 / np.pi))
    assert 1.5 < sizes["20x"] < 5 and sizes["40x"] > 1.5 * sizes["20x"]
