"""Every config file composes, and what it describes instantiates (the paper's sizes included)."""

import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF, compose_config
from wsiseg.data import PatchDataModule
from wsiseg.model import SegmentationModule, UNet
from wsiseg.synth import CohortSpec
from wsiseg.tasks.instantiate import instantiate_list
from wsiseg.tissue import TissueParams

BASE = ["paths.output_dir=/tmp/wsiseg-test-out"]


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("experiment", names("experiment"))
def test_experiments_compose_and_instantiate(experiment):
    cfg = compose_config("train", [*BASE, f"experiment={experiment}", "trainer.accelerator=cpu"])
    model = instantiate(cfg.model)
    assert isinstance(model, SegmentationModule) and isinstance(model.net, UNet)
    assert isinstance(instantiate(cfg.data), PatchDataModule)
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert isinstance(trainer, pl.Trainer)


def test_paper_versions_are_pure_overrides():
    v1 = compose_config("train", [*BASE, "experiment=paper_v1"])
    v2 = compose_config("train", [*BASE, "experiment=paper_v2"])
    assert (v1.sampling.magnification, v1.sampling.neg_pos_ratio, v1.data.loader.train_transform.rotate90) == (
        "40x",
        2,
        True,
    )
    assert (v2.sampling.magnification, v2.sampling.neg_pos_ratio, v2.data.loader.train_transform.rotate90) == (
        "20x",
        3,
        False,
    )
    assert list(v2.data.normal_from) == ["camelyon17"] and list(v2.data.tumour_from) == ["camelyon16", "camelyon17"]
    for cfg in (v1, v2):
        assert (cfg.sampling.patch_size, cfg.sampling.out_size, cfg.sampling.normal_per_tumour) == (512, 256, 4)
        assert (cfg.trainer.devices, cfg.trainer.strategy, cfg.trainer.sync_batchnorm) == (4, "ddp", True)
        assert cfg.model.optimizer.lr == 1e-3 and list(cfg.model.scheduler.milestones) == [20]
        assert cfg.model.scheduler.gamma == 0.1


def test_experiment_settings_win_over_the_root(tmp_path):
    """_self_ comes first in every root config: an experiment that sets a root key is not overridden by it."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "probe.yaml").write_text(
        "# @package _global_\nseed: 7\noptimized_metric: val/iou\nsampling:\n  neg_pos_ratio: 3\n"
        "tissue:\n  min_area_mm2: 0.2\n"
    )
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("train", overrides=[*BASE, "experiment=probe"])
    assert (cfg.seed, cfg.optimized_metric, cfg.sampling.neg_pos_ratio) == (7, "val/iou", 3)
    dm = instantiate(cfg.data)
    assert dm.spec.neg_pos_ratio == 3 and dm.tissue.min_area_mm2 == 0.2  # the data module gets the shared nodes
    for root in ("train", "predict", "stage", "synth"):
        defaults = OmegaConf.load(CONF / f"{root}.yaml").defaults
        groups = [i for i, entry in enumerate(defaults) if not isinstance(entry, str)]  # "group: choice" entries
        assert defaults.index("_self_") < min(groups), root  # only a schema may come before _self_


def _leaves(node, prefix=""):
    """``(dotted key, value)`` of every scalar an experiment file sets (lists count as one value)."""
    for key, value in node.items():
        if key == "defaults":
            continue
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("experiment", names("experiment"))
def test_every_value_an_experiment_sets_wins(experiment):
    """What ``python train.py experiment=<x> --cfg job`` prints holds each value the experiment file sets."""
    stated = OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml"))
    cfg = OmegaConf.to_container(compose_config("train", [*BASE, f"experiment={experiment}"]), resolve=False)
    leaves = list(_leaves(stated))
    assert leaves or any("override" in str(d) for d in stated.get("defaults", [])), experiment  # states something
    for key, value in leaves:
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert node == value, (experiment, key)


ROOTS = {"train": [], "predict": ["ckpt_path=x.ckpt"], "stage": []}  # the three commands, with what each requires


def _at(tree, key):
    for part in key.split("."):
        tree = tree[part]
    return tree


@pytest.mark.parametrize("experiment", names("experiment"))
def test_every_experiment_configures_every_command(experiment):
    """One name for train.py, predict.py and stage.py: each composes with it, holds every value the file sets,
    and its run record (run.json) resolves, training groups loaded into predict / stage included."""
    stated = list(_leaves(OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml"))))
    for root, extra in ROOTS.items():
        cfg = compose_config(root, [*BASE, *extra, f"experiment={experiment}"])
        unresolved = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
        for key, value in stated:
            assert _at(unresolved, key) == value, (experiment, root, key)
        OmegaConf.to_container(cfg, resolve=True)  # what record_run writes: every interpolation resolves
    if experiment == "hard_tta":  # the hard benchmark's training, and flips in prediction
        train = compose_config("train", [*BASE, "experiment=hard_tta"])
        assert OmegaConf.to_container(train) == OmegaConf.to_container(
            compose_config("train", [*BASE, "experiment=hard", "+inference.tta=flips"])
        )
        predict = compose_config("predict", [*BASE, "ckpt_path=x.ckpt", "experiment=hard_tta"])
        assert instantiate(predict.inference, _convert_="all")(model_mpp=1.0, tile=64).tta == "flips"


def test_an_experiment_sets_prediction_and_staging_keys(tmp_path):
    """An experiment overriding a stage group (classifier) and setting keys of every command: each command gets
    its own, the others carry them unused, and every run record resolves (the classifier's seed in predict)."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "probe.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: synthetic\n  - override /classifier: xgboost\n"
        "inference:\n  tta: d4\nfeatures:\n  average_filter_um: 50\ntissue:\n  min_area_mm2: 0.2\n"
    )
    configs = {}
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        for root, extra in ROOTS.items():
            configs[root] = compose(root, overrides=[*BASE, *extra, "experiment=probe"])
            OmegaConf.to_container(configs[root], resolve=True)
    stage, predict, train = configs["stage"], configs["predict"], configs["train"]
    assert stage.classifier.estimator._target_ == "xgboost.XGBClassifier" and stage.features.average_filter_um == 50
    assert stage.classifier.estimator.random_state == stage.seed and predict.classifier.estimator.random_state is None
    assert instantiate(predict.inference, _convert_="all")(model_mpp=1.0, tile=64).tta == "d4"
    assert instantiate(train.data).tissue.min_area_mm2 == 0.2  # recorded in the checkpoint, which predict.py reads


def test_the_other_commands_groups_are_empty_without_an_experiment():
    """The placeholders that let an experiment reach every command add nothing to a command run without one."""
    train = compose_config("train", BASE)
    predict = compose_config("predict", [*BASE, "ckpt_path=x.ckpt"])
    stage = compose_config("stage", BASE)
    assert not {"inference", "classifier", "features"} & set(train)
    assert not {"data", "model", "sampling", "callbacks", "logger", "mining", "classifier", "features"} & set(predict)
    assert predict.tissue_from == "checkpoint"
    for group in ("data", "model", "sampling", "trainer", "callbacks", "logger", "mining", "inference"):
        assert stage[group] is None, group  # StageSchema's open slots, None as before


@pytest.mark.parametrize("root", ["train", "predict", "stage"])
def test_one_tissue_node_reaches_every_stage(root, tmp_path):
    extra = {"predict": ["ckpt_path=x.ckpt"]}.get(root, [])
    cfg = compose_config(root, [*BASE, *extra, "tissue.min_area_mm2=0.3", "tissue.thumbnail_mpp=16"])
    tissue = instantiate(cfg.tissue, _convert_="all")
    assert isinstance(tissue, TissueParams) and (tissue.min_area_mm2, tissue.thumbnail_mpp) == (0.3, 16.0)
    assert tissue.green_hue_deg == (70.0, 190.0)  # a tuple again, as the record declares
    if root == "train":
        assert instantiate(cfg.data).tissue == tissue
    if root == "predict":
        assert instantiate(cfg.inference, _convert_="all")(model_mpp=1.0, tile=64).tissue == tissue


def test_sampling_presets_are_records():
    from wsiseg.sampling import SamplingSpec

    paper = instantiate(compose_config("train", BASE).sampling)
    demo = instantiate(compose_config("train", [*BASE, "experiment=demo"]).sampling)
    assert isinstance(paper, SamplingSpec) and (paper.mpp, paper.patch_size, paper.out_size) == (0.5, 512, 256)
    assert (demo.mpp, demo.patch_size, demo.out_size, demo.neg_pos_ratio) == (2.0, 128, 64, 2)
    assert demo.max_pool == 20000 and demo.min_normal_patches == 64  # every field is reachable from the config


def test_paper_unet_has_31m_parameters_and_takes_256x256x3():
    import torch

    net = instantiate(compose_config("train", BASE).model.net)
    assert net.num_parameters == 31_037_633
    with torch.no_grad():
        assert net.eval()(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 256, 256)


@pytest.mark.parametrize("trainer", names("trainer"))
def test_trainer_configs(trainer):
    cfg = compose_config("train", [*BASE, f"trainer={trainer}"])
    gpu = cfg.trainer.accelerator == "gpu"
    if gpu:  # no GPU here: the same config must still build on CPU
        cfg.trainer.accelerator = "cpu"
        cfg.trainer.precision = "32-true"
    assert isinstance(instantiate(cfg.trainer, logger=False, enable_checkpointing=False), pl.Trainer)


@pytest.mark.parametrize("group", ["callbacks", "logger"])
def test_callbacks_and_loggers(group):
    cfg = compose_config("train", BASE)
    objects = instantiate_list(cfg[group])
    assert len(objects) == len(cfg[group]) and all(o is not None for o in objects)


@pytest.mark.parametrize("preset", names("synth"))
def test_synth_presets(preset):
    spec = instantiate(compose_config("synth", [f"synth={preset}"]).synth, _convert_="all")
    assert isinstance(spec, CohortSpec) and spec.name == preset


def test_the_mining_node_is_a_record():
    from wsiseg.mining import MiningSpec

    spec = instantiate(compose_config("train", [*BASE, "mining.rounds=2", "mining.restart=afresh"]).mining)
    assert isinstance(spec, MiningSpec) and (spec.rounds, spec.restart, spec.share) == (2, "afresh", 0.25)
    assert instantiate(compose_config("train", BASE).mining) == MiningSpec()  # the YAML's defaults are the record's


def test_a_later_round_has_its_own_folder_epochs_and_learning_rate():
    from wsiseg.mining import MiningSpec
    from wsiseg.tasks.rounds import round_config

    cfg = compose_config("train", [*BASE, "experiment=hard"])
    later = round_config(cfg, MiningSpec(rounds=2, epochs=3, lr=1e-4), 2)
    assert later.paths.output_dir == "/tmp/wsiseg-test-out/round-2" and later.trainer.max_epochs == 3
    assert instantiate(later.model).hparams.optimizer.keywords["lr"] == 1e-4
    assert cfg.paths.output_dir == "/tmp/wsiseg-test-out" and cfg.model.optimizer.lr == 1e-3  # the run's own: unchanged
    same = round_config(cfg, MiningSpec(rounds=1), 1)
    assert same.trainer.max_epochs == cfg.trainer.max_epochs and same.model.optimizer.lr == 1e-3


def test_every_model_and_data_file(tmp_path):
    import torch

    from wsiseg.model.spec import untrusted_targets

    built = {}
    for model in names("model"):  # with a stain normaliser: its node is one more target a checkpoint stores
        cfg = compose_config("train", [*BASE, f"model={model}", "stain=macenko"])
        assert untrusted_targets(OmegaConf.to_container(cfg.model, resolve=True)) == [], model
        if cfg.model.net.get("weights"):  # the foundation models' presets: weights from the HF cache (none here)
            cfg.model.net.weights = None
        with torch.device("meta"):  # ViT-g included: shapes only, no memory
            module = instantiate(cfg.model)
        assert isinstance(module, SegmentationModule)
        built[model] = sum(p.numel() for p in module.parameters())
    # the paper's U-Net and the foundation encoders at their published sizes (parameters, decoder included)
    assert built["unet"] == 31_037_633
    assert 303e6 < built["uni"] < 306e6  # ViT-L/16 (UNI: 303M) + decoder
    assert 631e6 < built["virchow2"] < 634e6  # ViT-H/14 (Virchow2: 632M)
    assert 1_134e6 < built["h_optimus_0"] < 1_140e6  # ViT-g/14 (H-optimus-0: 1.1B)
    assert 681e6 < built["uni2_h"] < 684e6  # ViT-H/14 SwiGLU (UNI2-h: 681M)
    for data in names("data"):
        assert isinstance(instantiate(compose_config("train", [*BASE, f"data={data}"]).data), PatchDataModule)


@pytest.mark.parametrize("task", ["train", "predict", "stage"])
def test_every_command_reads_cohorts_with_one_config_group(task):
    from hydra.errors import ConfigCompositionException

    from wsiseg.cohorts import CohortOptions

    extra = ["ckpt_path=x.ckpt"] if task == "predict" else []
    cfg = compose_config(task, [*BASE, *extra, "cohorts.group_roles={Metastasis: tumor}", "cohorts.on_bad_slide=fail"])
    options = instantiate(cfg.cohorts, _convert_="all")
    assert options == CohortOptions(group_roles={"Metastasis": "tumor"}, on_bad_slide="fail")
    if task == "train":  # the datamodule is handed the same record
        assert instantiate(cfg.data).cohort_options == options
    with pytest.raises(ConfigCompositionException):  # a misspelt choice fails before any work
        compose_config(task, [*BASE, *extra, "cohorts.on_bad_slide=abort"])


def test_slurm_launcher_composes():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node) == (4, 4)


def test_every_yaml_file_is_covered():
    covered = {"train.yaml", "synth.yaml", "predict.yaml", "stage.yaml"}
    for group in [
        "experiment",
        "trainer",
        "synth",
        "model",
        "data",
        "callbacks",
        "logger",
        "paths",
        "hydra",
        "inference",
        "classifier",
        "features",
        "mining",
        "tissue",
        "sampling",
        "cohorts",
        "froc",  # test_stage_settings_are_target_nodes_declared_by_their_classes
        "lesions",
        "bootstrap",
        "stain",  # test_every_stain_file_puts_a_normaliser_in_the_model
        "debug",  # tests/conf/test_debug.py
        "hparams_search",  # tests/conf/test_hparams_search.py
    ]:
        covered |= {str(Path(group) / f"{n}.yaml") for n in names(group)}
    covered |= {"hydra/launcher/slurm.yaml", "local/example.yaml"}  # local/: tests/conf/test_local.py
    found = {str(p.relative_to(CONF)) for p in CONF.rglob("*.yaml")}
    found = {f for f in found if not f.startswith("local/") or f == "local/example.yaml"}  # this machine's: ignored
    assert found == covered
    assert OmegaConf.load(CONF / "train.yaml").defaults


def test_predict_config_composes_and_its_settings_build():
    from wsiseg.inference import PredictSettings

    cfg = compose_config("predict", [*BASE, "ckpt_path=x.ckpt", "trainer=ddp", "inference.blend=weighted"])
    settings = instantiate(cfg.inference, _convert_="all")(model_mpp=1.0, tile=256)
    assert isinstance(settings, PredictSettings)
    assert (settings.heatmap_mpp, settings.blend, settings.block_tiles) == (4.0, "weighted", 8)
    assert settings.tissue == TissueParams()  # the shared tissue node, built
    assert cfg.trainer.devices == 4 and cfg.out_dir == "data/heatmaps"


@pytest.mark.parametrize("classifier", names("classifier"))
def test_stage_classifiers_compose_and_instantiate(classifier):
    from wsiseg.classifiers import DiameterRule, FeatureClassifier
    from wsiseg.features import FeatureSpec

    cfg = compose_config("stage", [*BASE, f"classifier={classifier}", "seed=7"])
    model = instantiate(cfg.classifier, _convert_="all")
    assert isinstance(model, (FeatureClassifier, DiameterRule))
    if isinstance(model, FeatureClassifier):
        assert model.estimator.get_params()["random_state"] == 7
    spec = instantiate(cfg.features, _convert_="all")
    assert isinstance(spec, FeatureSpec) and list(spec.thresholds) == [0.3, 0.5, 0.7, 0.9]
    assert cfg.features_cache == f"{cfg.heatmaps}/features" and cfg.holdout == "checkpoint"


@pytest.mark.parametrize("bad", ["classifier=nope", "features.thresholdz=[0.5]", "holdout_typo=none"])
def test_stage_bad_overrides_fail_with_hydras_message(bad):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config("stage", [*BASE, bad])


@pytest.mark.parametrize(
    ("root", "bad", "valid"),
    [
        ("stage", "holdout=chekpoint", "[checkpoint, none]"),
        ("stage", "froc.sweep=al", "[official, all]"),
        ("predict", "inference.blend=wieghted", "[crop, weighted]"),
        ("predict", "inference.backend=openslid", "[auto, tiffslide, openslide]"),
        ("predict", "inference.tta=d8", "[none, flips, d4]"),
        ("predict", "inference.reduction=sum", "[mean, median, max]"),
        ("predict", "tissue_from=checkpiont", "[checkpoint, config]"),
        ("train", "mining.restart=later", "[finetune, afresh]"),
        ("stage", "classifier=diameter_rule classifier.diameter=ferret", "[feret, major_axis]"),
        ("stage", "cv_folds=five", "cv_folds"),
        ("stage", "lesions.max_per_slide=many", "max_per_slide"),
        ("stage", "bootstrap.n_boot=lots", "n_boot"),
    ],
)
def test_closed_choices_fail_at_composition_naming_the_valid_values(root, bad, valid):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as err:
        compose_config(root, [*BASE, "ckpt_path=x.ckpt", *bad.split()] if root == "predict" else [*BASE, *bad.split()])
    assert valid in str(err.value) + str(err.value.__cause__)


def test_typed_choices_reach_the_code_as_plain_strings():
    from wsiseg.classifiers import DiameterRule

    cfg = compose_config("predict", [*BASE, "ckpt_path=x.ckpt", "inference.blend=weighted"])
    settings = instantiate(cfg.inference, _convert_="all")(model_mpp=1.0, tile=64)
    assert type(settings.blend) is str and type(settings.backend) is str and settings.blend == "weighted"
    stage = compose_config("stage", [*BASE, "classifier=diameter_rule", "holdout=none"])
    assert stage.holdout == "none" and stage.froc.sweep == "official"
    assert isinstance(instantiate(stage.classifier, _convert_="all"), DiameterRule)


def test_stage_settings_are_target_nodes_declared_by_their_classes():
    """froc, lesions and bootstrap: one declaration each (the class), values in the YAML, types from the class."""
    from dataclasses import fields

    from wsiseg.evaluation import BootstrapSettings, DetectionSettings, LesionSettings

    cfg = compose_config("stage", [*BASE, "froc.threshold=0.3", "lesions.max_per_slide=null", "bootstrap.n_boot=0"])
    for node, cls in (("froc", DetectionSettings), ("lesions", LesionSettings), ("bootstrap", BootstrapSettings)):
        built = instantiate(cfg[node], _convert_="all")
        assert type(built) is cls
        yaml_keys = set(OmegaConf.load(CONF / node / "default.yaml")) - {"defaults", "_target_"}
        assert yaml_keys == {f.name for f in fields(cls)}, node  # every field set in the YAML, none unknown
    froc = instantiate(cfg.froc, _convert_="all")
    assert froc.threshold == 0.3 and type(froc.sweep) is str  # a plain string, as the FROC code compares it
    assert instantiate(cfg.lesions).max_per_slide is None and instantiate(cfg.bootstrap).n_boot == 0
    defaults = instantiate(compose_config("stage", BASE).froc, _convert_="all")
    assert defaults == DetectionSettings(merge_um=75.0)  # the YAML's values are the class's defaults


@pytest.mark.parametrize(("model", "size", "message"), [
    ("vit_tiny", 72, r"multiples of 16, got 72x72.*\(e.g. 64 or 80\)"),
    pytest.param("resnet18_unet", 48, r"divisible by 32, got 48x48.*\(e.g. 32 or 64\)", marks=pytest.mark.slow),
])  # fmt: skip
def test_a_tile_size_the_network_cannot_take_fails_before_any_patch_is_read(model, size, message):
    from wsiseg.tasks.train import check_input_size

    cfg = compose_config("train", [*BASE, "experiment=demo", f"model={model}", f"sampling.out_size={size}"])
    with pytest.raises(ValueError, match=f"sampling.out_size={size} does not suit model.net: .*{message}"):
        check_input_size(instantiate(cfg.model), instantiate(cfg.data))
    cfg = compose_config("train", [*BASE, "experiment=demo", f"model={model}"])  # the demo's 64 px tiles suit both
    check_input_size(instantiate(cfg.model), instantiate(cfg.data))


@pytest.mark.parametrize("stain", ["macenko", pytest.param("none", marks=pytest.mark.slow),
                                   pytest.param("reinhard", marks=pytest.mark.slow)])  # fmt: skip
def test_every_stain_file_puts_a_normaliser_in_the_model(stain):
    from wsiseg.data.stain import StainNormalizer
    from wsiseg.model import StainReference

    cfg = compose_config("train", [*BASE, "experiment=demo", f"stain={stain}"])
    module = instantiate(cfg.model)
    callbacks = instantiate_list(cfg.callbacks)
    if stain == "none":
        assert module.stain is None and not any(isinstance(c, StainReference) for c in callbacks)
    else:
        assert isinstance(module.stain, StainNormalizer) and module.stain.method == stain
        assert [c.tiles for c in callbacks if isinstance(c, StainReference)] == [256]
