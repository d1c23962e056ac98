import json

import numpy as np
import pytest

from wsiseg.features import FeatureSpec, cache_folder, compute_features, find_heatmaps
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort


@pytest.fixture(scope="module")
def heatmaps(tmp_path_factory):
    folder, _ = write_heatmap_cohort(tmp_path_factory.mktemp("hm"), HeatmapCohortSpec(patients=2, shape_hw=(200, 240)))
    return folder


def test_find_heatmaps_lists_finished_ones_only(heatmaps, tmp_path):
    found = find_heatmaps(heatmaps)
    assert len(found) == 10 and found[0].slide == "patient_000_node_0.tif" and found[0].mpp == 8.0
    # a copy with one heatmap file missing and one unreadable metadata file
    for path in heatmaps.glob("patient_000_node_[01].*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "patient_000_node_0.heatmap.npy").unlink()
    (tmp_path / "patient_000_node_1.json").write_text("{not json")
    with pytest.raises(FileNotFoundError, match="no finished heatmap"):
        find_heatmaps(tmp_path)
    with pytest.raises(FileNotFoundError, match="run predict.py"):
        find_heatmaps(tmp_path / "absent")


def test_cache_hits_and_invalidation(heatmaps, tmp_path):
    records = find_heatmaps(heatmaps)[:4]
    spec = FeatureSpec()
    first, hits = compute_features(records, spec, tmp_path, workers=1)
    assert hits == 0 and len(first) == 4
    again, hits = compute_features(records, spec, tmp_path, workers=1)
    assert hits == 4 and again == first
    # another feature setting: another folder, computed afresh
    _, hits = compute_features(records, FeatureSpec(merge_um=75), tmp_path, workers=1)
    assert hits == 0 and cache_folder(tmp_path, spec) != cache_folder(tmp_path, FeatureSpec(merge_um=75))
    # a half-written entry and a changed heatmap are both recomputed
    folder = cache_folder(tmp_path, spec)
    (folder / f"{records[0].name}.json").write_text('{"heatmap_digest": ')
    data = np.load(records[1].heatmap)
    data[:] = 0
    np.save(records[1].heatmap, data)
    fresh, hits = compute_features(records, spec, tmp_path, workers=1)
    assert hits == 2 and fresh[0] == first[0]
    assert fresh[1]["max_prob"] == 0.0 and first[1]["max_prob"] >= 0.0
    assert json.loads((folder / f"{records[1].name}.json").read_text())["features"]["max_prob"] == 0.0


def test_features_are_the_same_in_one_process_or_two(heatmaps):
    records = find_heatmaps(heatmaps)
    one, _ = compute_features(records, FeatureSpec(), None, workers=1)
    two, _ = compute_features(records * 2, FeatureSpec(), None, workers=2)  # 20 jobs: really in 2 processes
    assert two[: len(records)] == one and two[len(records) :] == one


RACE = """
import json, sys, time
from pathlib import Path
from wsiseg.features import FeatureSpec, compute_features, find_heatmaps
records = find_heatmaps(sys.argv[1])
print("ready", flush=True)
while not Path(sys.argv[3]).exists():
    time.sleep(0.005)
features, hits = compute_features(records, FeatureSpec(), sys.argv[2], workers=1)
print(json.dumps({"hits": hits, "features": features}))
"""


@pytest.mark.parametrize("runs", [2, 3])
def test_concurrent_runs_compute_each_entry_once(heatmaps, tmp_path, runs):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    records = find_heatmaps(heatmaps)
    reference, _ = compute_features(records, FeatureSpec(), None, workers=1)
    go = tmp_path / "go"
    command = [sys.executable, "-c", RACE, str(heatmaps), str(tmp_path / "cache"), str(go)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) for _ in range(runs)]
    assert all(proc.stdout.readline().strip() == "ready" for proc in procs)
    go.touch()  # all start together: they contend for the same entries
    results = [json.loads(proc.communicate(timeout=300)[0]) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * runs
    computed = sum(len(records) - r["hits"] for r in results)
    assert computed == len(records)  # each entry computed by exactly one run, read by the others
    assert all(r["features"] == reference for r in results)
