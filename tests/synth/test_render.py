import numpy as np
import pytest

from wsiseg.annotations import rasterize
from wsiseg.synth import plan_scene, render_region
from wsiseg.synth.cohort import lesion_annotations


@pytest.fixture(scope="module")
def macro_scene(tiny_spec):
    return plan_scene("s", "macro", tiny_spec, centre_index=0, seed=7)


def test_planning_is_deterministic(tiny_spec):
    a, b = (plan_scene("s", "micro", tiny_spec, 2, seed=3) for _ in range(2))
    assert a.size_wh == b.size_wh and np.array_equal(a.lesions[0].vertices_xy, b.lesions[0].vertices_xy)
    c = plan_scene("s", "micro", tiny_spec, 2, seed=4)
    assert not np.array_equal(a.lesions[0].vertices_xy, c.lesions[0].vertices_xy)


def test_regions_tile_seamlessly(macro_scene):
    """Any region renders to exactly the pixels of the same area of a larger render: no seams between tiles."""
    full = render_region(macro_scene, (0, 0), macro_scene.size_wh)
    for origin in [(0, 0), (137, 255), (400, 311)]:
        part = render_region(macro_scene, origin, (200, 150))
        x, y = origin
        assert np.array_equal(part.rgb, full.rgb[y : y + 150, x : x + 200])
        assert np.array_equal(part.tumour, full.tumour[y : y + 150, x : x + 200])


def test_annotation_matches_rendered_tumour(macro_scene):
    region = render_region(macro_scene, (0, 0), macro_scene.size_wh)
    mask = rasterize(lesion_annotations(macro_scene, "metastases", "normal"), macro_scene.size_wh, 1.0)
    inter, union = (mask & region.tumour).sum(), (mask | region.tumour).sum()
    assert inter / union > 0.98


def test_looks_like_h_and_e(macro_scene):
    """Glass is near white; tissue is pink-purple (G lowest); tumour nuclei are larger than lymphocytes."""
    region = render_region(macro_scene, (0, 0), macro_scene.size_wh)
    glass = region.rgb[~region.tissue].astype(float).mean(0)
    tissue = region.rgb[region.tissue & ~region.tumour].astype(float).mean(0)
    assert glass.min() > 225
    assert tissue[1] < tissue[0] and tissue[1] < tissue[2] and tissue.mean() < 200
    tumour_share = region.tumour.sum() / region.tissue.sum()
    assert 0.05 < tumour_share < 0.9
