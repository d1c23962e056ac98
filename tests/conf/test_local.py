"""conf/local/: a git-ignored default.yaml holds one machine's paths and wins over every config file."""

import shutil
import subprocess

import pytest
from hydra import compose, initialize_config_dir

from tests.conftest import CONF, REPO

LOCAL = """# @package _global_
paths:
  data_dir: /mnt/camelyon
data:
  loader:
    num_workers: 7
"""


@pytest.fixture
def conf_with_local(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "local" / "default.yaml").write_text(LOCAL)
    return conf


def compose_in(conf, name, overrides=()):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def test_local_default_overrides_paths_of_every_task(conf_with_local):
    train = compose_in(conf_with_local, "train", ["experiment=demo"])
    assert train.paths.data_dir == "/mnt/camelyon" and train.paths.cache_dir == "/mnt/camelyon/cache"
    assert (
        list(train.data.cohorts) == ["/mnt/camelyon/demo"] and train.data.loader.num_workers == 7
    )  # over the experiment
    predict = compose_in(conf_with_local, "predict", ["ckpt_path=x.ckpt"])
    assert predict.slides == "/mnt/camelyon/demo" and predict.out_dir == "/mnt/camelyon/heatmaps"
    stage = compose_in(conf_with_local, "stage")
    assert stage.heatmaps == "/mnt/camelyon/heatmaps" and stage.cohort == "/mnt/camelyon/demo"


def test_the_command_line_still_wins_and_debug_too(conf_with_local):
    cfg = compose_in(conf_with_local, "train", ["experiment=demo", "paths.data_dir=/elsewhere", "debug=default"])
    assert cfg.paths.data_dir == "/elsewhere" and cfg.data.loader.num_workers == 0


def test_the_committed_example_only_repeats_the_defaults():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        example = compose("train", overrides=["local=example", "paths.output_dir=out"])
    assert dict(example.paths) == {"data_dir": "data", "cache_dir": "data/cache", "output_dir": "out"}


def test_local_files_are_git_ignored_but_the_example_is_not():
    def ignored(path):
        proc = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", path], check=False)
        return proc.returncode == 0

    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True, check=False).returncode:
        pytest.skip("not a git checkout")
    assert ignored("conf/local/default.yaml") and ignored("conf/local/gpu_box.yaml")
    assert not ignored("conf/local/example.yaml") and not ignored("conf/train.yaml")
