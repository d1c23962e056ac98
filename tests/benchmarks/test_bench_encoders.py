"""bench_encoders.py: every network timed on the same tiles, ratios to the paper U-Net of the same run."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow  # ~20 s: builds the paper U-Net and times four networks
def test_every_network_gets_a_time_per_tile_and_a_ratio(tmp_path):
    out = tmp_path / "encoders.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_encoders.py"), "--models", "unet_tiny", "resnet18_unet",
         "vit_tiny", "--tile", "32", "--batch", "2", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert set(record["seconds_per_tile"]) == {"unet", "unet_tiny", "resnet18_unet", "vit_tiny"}  # the U-Net added
    assert record["params"]["unet"] == 31_037_633 and record["params"]["resnet18_unet"] == 12_458_025
    for figures in record["seconds_per_tile"].values():
        assert set(figures) == {"train_fp32", "train_bf16", "predict_fp32", "predict_bf16"}
        assert all(0 < seconds < 60 for seconds in figures.values())
    assert "(1.00x)" in done.stdout and "resnet18_unet" in done.stdout
