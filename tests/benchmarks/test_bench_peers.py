"""bench_peers.py on a tiny slide: every tool predicts the same tiles, and the table says how close they are."""

import json

import bench_peers
import pytest


@pytest.mark.slow  # ~17 s: the fast suite stays under 5 minutes on a 2-core machine
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
    assert bench_peers.OWN_LAYOUT not in tools  # predict.py runs the checkpoint as trained: the peers' model
    assert all(row["median_s"] > 0 and len(row["seconds"]) == 1 for row in tools.values())
    assert "| wsiseg |" in bench_peers.markdown(result)


def test_the_tiatoolbox_mask_selects_exactly_wsisegs_tiles(tiny_cohort):
    # TIAToolbox keeps a tile when any mask pixel lies in its input window (min_mask_ratio 0); its windows are
    # the core grid's cores grown by the margin, so one pixel at each chosen core's centre selects exactly those
    import peer_tiatoolbox

    from wsiseg.inference import PredictSettings
    from wsiseg.inference.plan import plan_task

    slide = tiny_cohort / "centre_0" / "patient_000_node_0.tif"
    task = plan_task(slide.stem, slide, PredictSettings(model_mpp=4.0, tile=64))
    grid, mask = task.grid, peer_tiatoolbox.core_centre_mask(task)
    assert mask.sum() == len(task.cores) > 50
    step = grid.core_hm
    rows, cols = -(-grid.heatmap_hw[0] // step), -(-grid.heatmap_hw[1] // step)
    kept = set()
    for r in range(rows):  # every tile of TIAToolbox's grid: output at the core, input grown by the margin
        for c in range(cols):
            y0, x0 = r * step - grid.margin, c * step - grid.margin
            window = mask[max(y0, 0) : y0 + grid.tile, max(x0, 0) : x0 + grid.tile]
            if window.any():
                kept.add((c * step, r * step))
    assert kept == {tuple(xy) for xy in task.cores.tolist()}


@pytest.mark.slow  # a whole prediction run: make test-all
def test_a_tiatoolbox_row_is_shared_against_its_own_model_alone(tiny_cohort, tmp_path, monkeypatch):
    # the TIAToolbox environment is not installed here: a stand-in tool with its reported figures
    slide = tiny_cohort / "centre_0" / "patient_000_node_0.tif"

    def fake_tiatoolbox(model, path, settings, out, args):
        seconds, heatmap = bench_peers.run_model_alone(model, path, settings, out, args)
        bench_peers.TIATOOLBOX_RUNS.append({"tool": "TIAToolbox 2.1.3 SemanticSegmentor", "torch": "2.12.0",
                                            "tiles": 99, "model_alone_median_s": 2.0, "median_s": 4.0})  # fmt: skip
        return 4.0, heatmap

    monkeypatch.setattr(bench_peers, "TIATOOLBOX_RUNS", [])
    monkeypatch.setattr(bench_peers, "predict_layout", lambda: True)  # as if predict.py ran channels-last
    monkeypatch.setattr(bench_peers, "tiatoolbox", lambda python, checkpoint: fake_tiatoolbox)
    result = bench_peers.main(["--slide", str(slide), "--repeats", "1", "--batch-size", "16",
                               "--tiatoolbox-python", "python", "--tools", "TIAToolbox SemanticSegmentor"])  # fmt: skip
    row = result["tools"]["TIAToolbox SemanticSegmentor"]
    assert row["model_share"] == 0.5 and row["torch"] == "2.12.0" and row["tool_tiles"] == 99
    assert list(result["tools"]) == ["wsiseg", "TIAToolbox SemanticSegmentor", "model alone", bench_peers.OWN_LAYOUT]
    # wsiseg loads the checkpoint as predict.py would: its own model alone is a row, its share against that
    own, tools = result["tools"][bench_peers.OWN_LAYOUT], result["tools"]
    assert own["model_share"] == 1.0 and own["mad_vs_wsiseg"] < 1e-3
    assert tools["wsiseg"]["model_share"] == pytest.approx(own["median_s"] / tools["wsiseg"]["median_s"])
    table = bench_peers.markdown(result)
    assert "| TIAToolbox SemanticSegmentor | 4.00 |" in table and "0.50 * |" in table and "2.00 s" in table
