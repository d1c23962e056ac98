"""bench_peers.py on a tiny slide: every tool predicts the same tiles, and the table says how close they are."""

import json

import bench_peers
import pytest


def test_every_tool_predicts_the_same_tiles_into_the_same_heatmap(tiny_cohort, tmp_path):
    slide = tiny_cohort / "centre_0" / "patient_000_node_0.tif"
    result = bench_peers.main(["--slide", str(slide), "--repeats", "1", "--batch-size", "16", "--monai-workers", "0",
                               "--json", str(tmp_path / "peers.json")])  # fmt: skip
    tools = result["tools"]
    assert {"wsiseg", "MONAI PatchWSIDataset", "plain tiffslide loop", "model alone"} <= set(tools)  # MONAI: dev extra
    assert result["tiles"] > 50 and json.loads((tmp_path / "peers.json").read_text())["tiles"] == result["tiles"]
    # the model alone runs wsiseg's batches and the peers' stitching: equal up to float16 rounding, so the
    # stitching of the peers is wsiseg's crop blending
    assert tools["model alone"]["mad_vs_wsiseg"] < 1e-3
    # the plain loop resamples on its own (cv2 INTER_AREA from the nearest finer level): close, not equal
    assert 0 < tools["plain tiffslide loop"]["mad_vs_wsiseg"] < 0.02
    assert tools["model alone"]["model_share"] == pytest.approx(1.0)
    assert all(row["median_s"] > 0 and len(row["seconds"]) == 1 for row in tools.values())
    assert "| wsiseg |" in bench_peers.markdown(result)
