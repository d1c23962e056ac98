"""Placement of a heatmap on its slide and the colour TIFF's table, against hand-computed values."""

import json

import cv2
import numpy as np
import pytest

from wsiseg.inference import colour_table, heatmap_placement, make_tile_grid, read_description
from wsiseg.inference.overlay import display_alpha, tiff_description


def test_placement_of_a_camelyon_slide_at_4_um():
    """A 97792 x 221184 px slide at 0.243 um/px: ceil(23763.5 / 4) x ceil(53747.7 / 4) heatmap pixels."""
    grid = make_tile_grid((97792, 221184), 0.243, 1.0, 256, 4.0, 0.25)
    placement = heatmap_placement(grid, "patient_004_node_4.tif")
    assert placement.heatmap_wh == (5941, 13437) and placement.slide_wh == (97792, 221184)
    assert placement.downsample == pytest.approx(16.460905)  # 4 / 0.243
    assert placement.extent_wh == pytest.approx((97794.239, 221185.185))  # 5941 * 4 / 0.243, 13437 * 4 / 0.243
    overshoot = np.subtract(placement.extent_wh, placement.slide_wh)  # level-0 px: under one heatmap pixel
    assert overshoot == pytest.approx((2.239, 1.185), abs=1e-3) and (overshoot < placement.downsample).all()
    record = placement.record()
    assert record["origin_level0_xy"] == [0.0, 0.0] and record["slide"] == "patient_004_node_4.tif"
    assert record["slide_wh"] == [97792, 221184] and record["heatmap_wh"] == [5941, 13437]
    assert json.loads(json.dumps(record)) == record  # plain values


def test_placement_of_a_whole_multiple():
    """0.5 um/px slide, 4 um/px heatmap: 8 level-0 px per heatmap px; 5597 x 4795 px -> 700 x 600, 3 and 5 px over."""
    placement = heatmap_placement(make_tile_grid((5597, 4795), 0.5, 2.0, 64, 4.0, 0.0), "s.tif")
    assert placement.heatmap_wh == (700, 600) and placement.downsample == 8.0
    assert placement.extent_wh == (5600.0, 4800.0)


def test_description_round_trips_and_names_its_content():
    placement = heatmap_placement(make_tile_grid((5597, 4795), 0.5, 2.0, 64, 4.0, 0.0), "s.tif")
    grey = read_description(tiff_description(placement, "probability"))
    colour = read_description(tiff_description(placement, "colour"))
    assert grey["content"] == "probability" and "round(255 * p)" in grey["values"]
    assert colour["content"] == "colour" and colour["colour_map"] == "jet"
    assert (colour["display_floor"], colour["opaque_at"]) == (0.1, 0.5)
    for record in (grey, colour):
        assert {k: record[k] for k in placement.record()} == placement.record()
    with pytest.raises(ValueError, match="not a wsiseg heatmap"):
        read_description('{"shape": [3, 4]}')  # tifffile's own JSON
    with pytest.raises(ValueError, match="not a wsiseg heatmap"):
        read_description("Aperio Image Library")


def test_colour_table_is_jet_with_alpha_from_the_display_floor():
    table = colour_table()
    assert table.shape == (256, 4) and table.dtype == np.uint8
    jet = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)[:, 0, ::-1]  # RGB
    np.testing.assert_array_equal(table[26:, :3], jet[26:])
    assert tuple(table[26, :3]) == (0, 0, 232) and tuple(table[255, :3]) == (128, 0, 0)  # blue .. dark red
    alpha = table[:, 3].astype(int)
    assert (table[:26] == 0).all()  # p = v / 255 < 0.1 for v <= 25: transparent, (0, 0, 0, 0)
    assert alpha[26] == 1  # p = 0.102: (0.102 - 0.1) / 0.4 * 255 = 1.25
    assert alpha[64] == 96  # p = 0.251: 0.151 / 0.4 * 255 = 96.25
    assert (alpha[128:] == 255).all()  # p >= 0.5
    assert (np.diff(alpha) >= 0).all()


def test_display_alpha():
    np.testing.assert_allclose(display_alpha(np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.9])), [0, 0, 0.25, 0.5, 1, 1],
                               atol=1e-6)  # fmt: skip
