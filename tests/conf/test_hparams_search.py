"""conf/hparams_search/: Optuna sweeps of train.py and stage.py; one real 2-trial sweep of stage.py."""

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.conftest import CONF, REPO
from wsiseg.synth.heatmaps import HeatmapCohortSpec, write_heatmap_cohort

SEARCHES = {  # config -> (root config, what it optimises, the keys it varies)
    "train_optuna": ("train", "val/dice", {"model.optimizer.lr", "sampling.neg_pos_ratio", "model.net.dropout"}),
    "stage_optuna": (
        "stage",
        "kappa/test",
        {
            "classifier.estimator.n_estimators",
            "classifier.estimator.min_samples_leaf",
            "classifier.estimator.max_features",
            "features.average_filter_um",
        },
    ),
}
ROOT_OVERRIDES = {"train": ["experiment=demo"], "stage": []}


def test_every_search_is_listed():
    assert sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml")) == sorted(SEARCHES)


@pytest.mark.parametrize("search", sorted(SEARCHES))
def test_search_varies_keys_of_the_root_config(search):
    """Without the plugin: the file's metric and every searched key exist in what the task composes."""
    from tests.conftest import compose_config

    root, metric, keys = SEARCHES[search]
    spec = OmegaConf.load(CONF / "hparams_search" / f"{search}.yaml")
    assert spec.optimized_metric == metric and spec.hydra.sweeper.direction == "maximize"
    assert set(spec.hydra.sweeper.params) == keys
    cfg = compose_config(root, [*ROOT_OVERRIDES[root], "paths.output_dir=/tmp/wsiseg-test-out"])
    assert cfg.optimized_metric == metric  # the root's own default agrees
    missing = [key for key in keys if OmegaConf.select(cfg, key, default="<missing>") == "<missing>"]
    assert not missing, f"{search} searches keys that {root}.yaml does not have: {missing}"


@pytest.mark.parametrize("search", sorted(SEARCHES))
def test_search_composes_an_optuna_sweeper(search):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='the optuna extra: pip install -e ".[optuna]"')
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
    from optuna.distributions import CategoricalDistribution

    root, metric, keys = SEARCHES[search]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(root, [*ROOT_OVERRIDES[root], f"hparams_search={search}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert (sweeper.direction, cfg.optimized_metric, str(cfg.hydra.mode)) == ("maximize", metric, "RunMode.MULTIRUN")
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.n_jobs == 1
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in sweeper.params.items()])
    spaces = {o.get_key_element(): create_optuna_distribution_from_override(o) for o in parsed}
    assert set(spaces) == keys
    if root == "train":
        lr, ratio, dropout = spaces["model.optimizer.lr"], spaces["sampling.neg_pos_ratio"], spaces["model.net.dropout"]
        assert (lr.low, lr.high, type(lr).__name__) == (1e-4, 1e-2, "LogUniformDistribution")
        assert isinstance(ratio, CategoricalDistribution) and ratio.choices == (2, 3)  # one patch cache each
        assert (dropout.low, dropout.high) == (0.0, 0.5)
    else:
        trees, leaf = spaces["classifier.estimator.n_estimators"], spaces["classifier.estimator.min_samples_leaf"]
        assert (trees.low, trees.high, leaf.low, leaf.high) == (100, 600, 1, 8)
        assert spaces["features.average_filter_um"].choices == (0, 50, 100)
        assert cfg.classifier.estimator._target_ == "sklearn.ensemble.RandomForestClassifier"


def test_stage_rejects_a_metric_it_does_not_compute():
    from wsiseg.tasks.sweep import check_metric_name, sweep_value

    with pytest.raises(ValueError, match=r"kappa/tset.*\['kappa/cv', 'kappa/test'\]"):
        check_metric_name("kappa/tset", ("kappa/test", "kappa/cv"))
    assert sweep_value({"kappa/cv": 0.5}, "kappa/test", {"kappa/test": "kappa/cv"}) == 0.5  # no held-out patients
    assert sweep_value({"kappa/cv": 0.5, "kappa/test": 0.7}, "kappa/test", {"kappa/test": "kappa/cv"}) == 0.7
    assert sweep_value({"val/dice": 0.25}, "val/dice") == 0.25 and sweep_value({}, "val/dice") is None


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_two_trial_optuna_sweep_of_stage(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='the optuna extra: pip install -e ".[optuna]"')
    heatmaps, cohort = write_heatmap_cohort(tmp_path / "cohort", HeatmapCohortSpec(patients=10, shape_hw=(200, 260)))
    sweep = tmp_path / "sweep"
    args = [
        "hparams_search=stage_optuna", f"heatmaps={heatmaps}", f"cohort={cohort}", "holdout=none", "workers=1",
        "cv_folds=3", "classifier.estimator.n_jobs=1", "pictures.gallery_per_label=0", "pictures.roi_figure=false",
        "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "stage.py"), *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    assert results.name == "optuna" and set(results.best_params) == SEARCHES["stage_optuna"][2]
    kappas = []
    for job in ("0", "1"):
        report = OmegaConf.load(sweep / job / "report.json")  # JSON is YAML
        assert "test" not in report.kappa  # holdout=none: the sweeper got the out-of-fold kappa
        kappas.append(report.kappa.cv)
    assert results.best_value == pytest.approx(max(kappas))
