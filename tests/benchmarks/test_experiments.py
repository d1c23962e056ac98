"""benchmarks/experiments.py: cells sharing steps, resume, aggregation from fake reports, and the quick table."""

import csv
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import experiments
import pytest
from experiment_cells import Common, Outcome, Variant, execute, load_table, plan, run_steps, select, unique_steps
from experiment_outputs import write_outputs
from experiment_table import aggregate, read_cell

from wsiseg.evaluation import stage_kappa
from wsiseg.labels import SLIDE_LABELS

VARIANTS, QUICK, COMMON = load_table()
BY_NAME = {v.name: v for v in VARIANTS}


def test_the_table_names_its_rows_and_the_baseline_comes_first():
    assert [v.name for v in VARIANTS] == ["baseline", "ratio 2", "40X analogue", "rotation on", "XGBoost",
                                          "diameter rule", "average filter", "no negative density",
                                          "fine-tune control", "mining 1 round", "mining 2 rounds",
                                          "importance sampling", "ensemble of 3", "TTA flips",
                                          "ensemble of 3 + TTA flips", "ResNet-18 U-Net", "ResNet-34 U-Net",
                                          "centre 2 held out", "Macenko normalisation",
                                          "stronger stain augmentation"]  # fmt: skip
    assert BY_NAME["Macenko normalisation"].versus == "centre 2 held out"
    assert "stain=macenko" in BY_NAME["Macenko normalisation"].train
    assert BY_NAME["ratio 2"].train == ("sampling.neg_pos_ratio=2",)
    assert BY_NAME["no negative density"].stage == ("experiment=hard_no_negative_density",)
    assert [v.name for v in select(VARIANTS, ["XGBoost"], quick=False)] == ["baseline", "XGBoost"]
    assert [v.name for v in select(VARIANTS, None, quick=True)] == ["baseline", "rotation on", "XGBoost",
                                                                    "fine-tune control", "mining 1 round"]  # fmt: skip
    with pytest.raises(ValueError, match="unknown variants"):
        select(VARIANTS, ["XGboost"], quick=False)


def test_a_malformed_table_is_refused(tmp_path):
    (tmp_path / "t.yaml").write_text("variants:\n  - name: a\n    trian: [x=1]\n")
    with pytest.raises(ValueError, match="takes only"):
        load_table(tmp_path / "t.yaml")
    (tmp_path / "t.yaml").write_text("variants:\n  - name: a\n  - name: a\n")
    with pytest.raises(ValueError, match="unique"):
        load_table(tmp_path / "t.yaml")


def test_common_overrides_come_first_then_quick_then_the_cohort_flags(tmp_path):
    assert "trainer.precision=bf16-mixed" in COMMON.predict and "trainer.precision=bf16-mixed" in COMMON.train
    merged = experiments.common_overrides(COMMON, QUICK, True, ["synth.seed=3"])
    assert merged.predict[: len(COMMON.predict)] == COMMON.predict
    assert merged.train == (*COMMON.train, *QUICK["train"]) and merged.synth == (*QUICK["synth"], "synth.seed=3")
    assert experiments.common_overrides(COMMON, QUICK, False, []) == COMMON
    (tmp_path / "t.yaml").write_text("variants:\n  - name: a\ncommon:\n  predcit: [x=1]\n")
    with pytest.raises(ValueError, match="common section takes only"):
        load_table(tmp_path / "t.yaml")


def test_cells_share_the_model_and_heatmaps_of_equal_overrides(tmp_path):
    cells = plan(VARIANTS, [0, 1], Common(), tmp_path, python="py")
    steps = unique_steps(cells)
    # per seed: 9 trainings of their own, 4 later-round trainings, 2 more ensemble members; 16 sets of heatmaps
    assert len(cells) == 40 and Counter(s.kind for s in steps) == {"synth": 1, "train": 30, "predict": 32, "stage": 40}
    cell = {(c.variant.name, c.seed): c for c in cells}
    for classifier_variant in ("XGBoost", "diameter rule", "average filter", "no negative density"):
        for kind in ("train", "predict"):  # the baseline's model and heatmaps (and their feature cache)
            assert cell[classifier_variant, 0].step(kind) == cell["baseline", 0].step(kind)
        assert cell[classifier_variant, 0].stage.folder != cell["baseline", 0].stage.folder
    assert cell["ratio 2", 0].step("train").folder != cell["baseline", 0].step("train").folder
    assert cell["baseline", 1].step("train").folder != cell["baseline", 0].step("train").folder  # another seed
    assert len({c.step("synth").folder for c in cells}) == 1
    # a variant with predict overrides only (test-time augmentation) shares the model, not the heatmaps
    tta = plan([VARIANTS[0], Variant("tta", "d4", predict=("inference.tta=d4",))], [0], Common(), tmp_path, "py")
    assert tta[1].step("train") == tta[0].step("train") and tta[1].step("predict") != tta[0].step("predict")
    # other common overrides (--quick, --synth-override) make other steps: a quick table never reuses a full one
    quick = plan(VARIANTS[:1], [0], Common(synth=("synth.n_patients=10",)), tmp_path, "py")[0]
    assert {s.folder for s in quick.stage.chain()}.isdisjoint({s.folder for s in cell["baseline", 0].stage.chain()})


def test_the_commands_chain_the_steps_folders(tmp_path):
    cell = plan([BY_NAME["ratio 2"]], [3], Common(train=("trainer.max_epochs=1",)), tmp_path, python="py")[0]
    synth, train, predict, stage = cell.stage.chain()
    cohort = synth.folder / "hard"
    assert synth.command[2:] == (f"out_dir={cohort}", "synth=hard", f"hydra.run.dir={synth.run_dir}")
    assert train.command[1].endswith("train.py") and train.command[2:] == (
        f"paths.data_dir={synth.folder}", "experiment=hard", "seed=3", "data.split.seed=3", "trainer.max_epochs=1",
        "sampling.neg_pos_ratio=2", f"hydra.run.dir={train.run_dir}")  # fmt: skip
    assert predict.command[2:5] == (f"ckpt_path={train.run_dir}/checkpoints/last.ckpt", f"slides={cohort}",
                                    f"out_dir={predict.folder}/heatmaps")  # fmt: skip
    assert stage.command[2:] == (f"heatmaps={predict.folder}/heatmaps", f"cohort={cohort}", "seed=3",
                                 f"hydra.run.dir={stage.run_dir}")  # fmt: skip
    assert train.folder.name.startswith("train-s3-") and stage.needs is predict


def test_later_rounds_follow_the_baselines_model_and_an_ensemble_its_members(tmp_path):
    base, mining, twice, ensemble = plan(
        [BY_NAME[n] for n in ("baseline", "mining 1 round", "mining 2 rounds", "ensemble of 3")],
        [2],
        Common(),
        tmp_path,
        "py",
    )
    synth, first, later, predict, _ = mining.stage.chain()
    assert first == base.step("train") and later.needs is first  # round 0: the baseline's step, not trained again
    assert f"mining.start={first.run_dir}/checkpoints/last.ckpt" in later.command
    assert predict.command[2] == f"ckpt_path={later.run_dir}/round-1/checkpoints/last.ckpt"
    assert twice.step("predict").command[2].endswith("round-2/checkpoints/last.ckpt")
    assert twice.stage.chain()[1] == first and twice.stage.chain()[2] != later
    _, m0, m1, m2, predict, _ = ensemble.stage.chain()
    assert m0 == base.step("train") and m1.needs is m0 and m2.needs is m1
    assert [next(o for o in m.command if o.startswith("seed=")) for m in (m0, m1, m2)] == ["seed=2", "seed=1002",
                                                                                           "seed=2002"]  # fmt: skip
    assert all("data.split.seed=2" in m.command for m in (m0, m1, m2))  # one split: the same held-out patients
    members = ",".join(f"{m.run_dir}/checkpoints/last.ckpt" for m in (m0, m1, m2))
    assert predict.command[2] == f"ckpt_path=[{members}]"
    with pytest.raises(ValueError, match="members must be >= 1"):
        Variant.of({"name": "x", "members": 0})
    # the best combination: the ensemble's very models (no training of its own), predicted with TTA
    combined = plan([BY_NAME["ensemble of 3 + TTA flips"]], [2], Common(), tmp_path, "py")[0]
    assert combined.stage.chain()[1:4] == [m0, m1, m2]
    assert combined.step("predict") != predict and "experiment=hard_tta" in combined.step("predict").command


class FakeLauncher:
    """Records the commands; fails those containing ``fail``; a staging run writes a report of a cell."""

    def __init__(self, fail: str | None = None):
        self.commands, self.fail = [], fail

    def __call__(self, command, log, cwd):
        self.commands.append(command)
        log.write_text("output\n")
        if self.fail and any(self.fail in part for part in command):
            return 1
        run_dir = Path(next(p for p in command if p.startswith("hydra.run.dir=")).split("=", 1)[1])
        run_dir.mkdir(parents=True, exist_ok=True)
        if command[1].endswith("stage.py"):
            seed = int(next(p for p in command if p.startswith("seed=")).split("=")[1])
            xgboost = "experiment=hard_xgboost" in command
            write_cell(run_dir, *(VARIANT_SEED_0 if xgboost and seed == 0 else BASELINE))
        return 0


def test_a_step_with_done_json_is_skipped_and_one_without_is_rerun(tmp_path):
    cells = plan(select(VARIANTS, ["XGBoost"], quick=False), [0, 1], Common(), tmp_path, python="py")
    steps = unique_steps(cells)
    assert len(steps) == 1 + 2 * 3 + 2  # cohort; per seed one model, its heatmaps, two stagings
    launcher = FakeLauncher()
    first = run_steps(steps, launcher)
    assert [o.status for o in first.values()] == ["done"] * 9 and len(launcher.commands) == 9
    done = json.loads(steps[1].done_file.read_text())
    assert (
        done["kind"] == "train" and done["returncode"] == 0 and done["overrides"][1:] == ["seed=0", "data.split.seed=0"]
    )
    again = FakeLauncher()
    assert {o.status for o in run_steps(steps, again).values()} == {"cached"} and again.commands == []
    stage, train = cells[1].stage, cells[0].step("train")
    stage.done_file.unlink()
    (stage.folder / "stale.txt").write_text("from the interrupted run")
    rerun = FakeLauncher()
    outcomes = run_steps(steps, rerun)
    assert rerun.commands == [stage.command] and outcomes[stage.folder.name].status == "done"
    assert not (stage.folder / "stale.txt").exists()  # a step without done.json starts afresh
    assert outcomes[train.folder.name].status == "cached" and outcomes[train.folder.name].wall_s == done["wall_s"]


def test_a_failed_step_blocks_its_cells_only_and_is_rerun_next_time(tmp_path):
    cells = plan(select(VARIANTS, ["XGBoost"], quick=False), [0, 1], Common(), tmp_path, python="py")
    steps = unique_steps(cells)
    train_0 = cells[0].step("train")
    outcomes = run_steps(steps, FakeLauncher(fail="seed=0"))
    failed = outcomes[train_0.folder.name]
    assert failed.status == "failed" and failed.returncode == 1 and not train_0.done_file.exists()
    assert str(train_0.log_file) in failed.message and "train.py" in failed.message
    by_status = Counter(o.status for o in outcomes.values())
    assert by_status == {"done": 5, "failed": 1, "blocked": 3}  # cohort + seed 1's four; seed 0's rest blocked
    results, failures = experiments.collect(cells, outcomes)
    assert sorted((k, len(v)) for k, v in results.items()) == [("XGBoost", 1), ("baseline", 1)]
    assert failures["baseline"][0].startswith("seed 0: train failed (exit 1)")
    rerun = FakeLauncher()
    run_steps(steps, rerun)
    assert len(rerun.commands) == 4 and rerun.commands[0] == train_0.command


def report_of(patients, slides):
    """report.json of stage.py for held-out (patient, reference, predicted) and (slide, patient, label, predicted)."""
    index = {k: i for i, k in enumerate(SLIDE_LABELS)}
    confusion = [[0] * 4 for _ in SLIDE_LABELS]
    for _, _, label, predicted in slides:
        confusion[index[label]][index[predicted]] += 1
    per_class = {
        k: {"recall": confusion[i][i] / sum(confusion[i]) if sum(confusion[i]) else 0.0, "support": sum(confusion[i])}
        for k, i in index.items()
    }
    accuracy = sum(confusion[i][i] for i in range(4)) / len(slides)
    kappa = stage_kappa([p[1] for p in patients], [p[2] for p in patients])
    return {
        "kappa": {"test": kappa},
        "slide": {"test": {"accuracy": accuracy, "per_class": per_class, "confusion": confusion}},
        "detection": {"auc_max_prob": 0.8, "auc_classifier": 0.9, "froc": 0.7},
        "patients": {"test": [{"patient": p, "reference": r, "predicted": q} for p, r, q in patients]},
    }


def write_cell(run_dir, patients, slides):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(report_of(patients, slides)))
    rows = [["slide", "patient", "part", "label", "predicted"]] + [[s, p, "test", lb, q] for s, p, lb, q in slides]
    rows += [["patient_009_node_0.tif", "patient_009", "fit", "itc", "negative"]]  # fitted slides do not count
    with open(run_dir / "predictions.csv", "w", newline="") as stream:
        csv.writer(stream).writerows(rows)


# three held-out patients; patient_001 has two ITC slides; ten negative slides, one called itc
PATIENTS = [("patient_000", "pN0", "pN0"), ("patient_001", "pN1", "pN1"), ("patient_002", "pN2", "pN2")]
SLIDES = [(f"n{i}", "patient_000", "negative", "itc" if i == 0 else "negative") for i in range(10)]
SLIDES += [("i0", "patient_001", "itc", "itc"), ("i1", "patient_001", "itc", "itc")]
SLIDES += [("m0", "patient_002", "macro", "macro")]
BASELINE = (PATIENTS, SLIDES)
# the variant on seed 0: patient_002 staged pN1 (kappa 14/15 by hand) and one ITC slide missed
VARIANT_SEED_0 = (
    PATIENTS[:2] + [("patient_002", "pN2", "pN1")],
    SLIDES[:11] + [("i1", "patient_001", "itc", "negative"), SLIDES[12]],
)


def test_a_cell_reads_its_report_and_predictions(tmp_path):
    write_cell(tmp_path, *VARIANT_SEED_0)
    cell = read_cell("v", 0, tmp_path, train_s=120.0, predict_s=30.0)
    m = cell.metrics
    assert m["kappa"] == pytest.approx(14 / 15) and m["accuracy"] == pytest.approx(11 / 13)
    assert (m["recall_negative"], m["recall_itc"], m["recall_macro"]) == (0.9, 0.5, 1.0)
    assert math.isnan(m["recall_micro"])  # no held-out micro slide: undefined, not 0
    assert (m["fp_rate_negative"], m["froc"], m["slide_auc"], m["train_s"], m["predict_s"]) == (0.1, 0.7, 0.9, 120, 30)
    assert list(cell.stages.predicted) == ["pN0", "pN1", "pN1"] and list(cell.itc.hits) == [0, 1, 0]
    assert list(cell.itc.totals) == [0, 2, 0]  # the fitted patient's ITC slide is not counted


def test_aggregation_means_sd_and_paired_differences(tmp_path):
    for name, seed, data in (("baseline", 0, BASELINE), ("baseline", 1, BASELINE), ("v", 0, VARIANT_SEED_0),
                             ("v", 1, BASELINE)):  # fmt: skip
        write_cell(tmp_path / name / str(seed), *data)
    results = {n: [read_cell(n, s, tmp_path / n / str(s), 100.0 + s, 10.0) for s in (0, 1)] for n in ("baseline", "v")}
    rows = aggregate(results, {"v": ["seed 2: train failed"]}, {"baseline": "b", "v": "a variant"}, n_boot=300)
    base, variant = rows
    assert base.means["kappa"] == 1.0 and base.kappa_sd == 0.0 and (base.kappa_ci.low, base.kappa_ci.high) == (1, 1)
    assert variant.means["kappa"] == pytest.approx((14 / 15 + 1) / 2)
    assert variant.kappa_sd == pytest.approx((1 / 15) / math.sqrt(2))
    assert variant.kappa_ci.low < variant.means["kappa"] <= variant.kappa_ci.high
    assert variant.means["recall_itc"] == 0.75 and variant.itc_ci.estimate == 0.75 and base.means["train_s"] == 100.5
    diff = variant.difference
    assert diff.kappa.estimate == pytest.approx(-1 / 30) and diff.itc_recall.estimate == pytest.approx(-0.25)
    assert diff.seeds == (0, 1) and diff.kappa.high == 0.0  # the variant is never better on a resample
    # seed 0's ITC draws: patient_001 drawn k times -> (k - 2k) / 2k = -1/2 unless never drawn (degenerate)
    assert (diff.itc_recall.low, diff.itc_recall.high) == (-0.25, -0.25) and diff.itc_recall.n_degenerate > 0
    assert variant.failures == ("seed 2: train failed",) and base.difference is None
    text = write_outputs(rows, tmp_path / "table", {"seeds": [0, 1]})
    assert "| v | 0, 1 | 0.967 ± 0.047 |" in text and "-0.250 [-0.250, -0.250] |" in text
    assert "Failed:\n- v: seed 2: train failed" in text
    table = list(csv.DictReader((tmp_path / "table" / "table.csv").read_text().splitlines()))
    assert [r["variant"] for r in table] == ["baseline", "v"] and float(table[1]["kappa_diff"]) == pytest.approx(
        -1 / 30
    )
    assert table[1]["kappa_diff_within_noise"] in ("True", "False") and table[0]["kappa_diff"] == ""
    data = json.loads((tmp_path / "table" / "table.json").read_text())  # strict JSON: NaN written as null
    assert data["variants"][1]["per_seed"]["0"]["recall_micro"] is None and data["seeds"] == [0, 1]
    assert (tmp_path / "table" / "table.png").stat().st_size > 0


def test_a_row_with_a_control_of_its_own_is_paired_with_it(tmp_path):
    # w equals the baseline, v is worse on seed 0: w versus v is v versus the baseline, sign reversed
    for name, seed, data in (("baseline", 0, BASELINE), ("v", 0, VARIANT_SEED_0), ("w", 0, BASELINE)):
        write_cell(tmp_path / name / str(seed), *data)
    results = {n: [read_cell(n, 0, tmp_path / n / "0", 1.0, 1.0)] for n in ("baseline", "v", "w")}
    rows = aggregate(results, {}, {"baseline": "b", "v": "v", "w": "w"}, n_boot=300, versus={"w": "v"})
    base, v, w = rows
    assert v.versus is None and v.versus_difference is None and w.versus == "v"
    assert w.versus_difference.kappa.estimate == pytest.approx(1 / 15) == -v.difference.kappa.estimate
    assert w.versus_difference.itc_recall.estimate == pytest.approx(0.5) and w.difference.kappa.estimate == 0
    text = write_outputs(rows, tmp_path / "table", {"seeds": [0]})
    assert "Paired against each row's own control" in text and "| w | v | 0 | +0.067 [" in text
    table = list(csv.DictReader((tmp_path / "table" / "table.csv").read_text().splitlines()))
    assert table[2]["versus"] == "v" and float(table[2]["versus_kappa_diff"]) == pytest.approx(1 / 15)
    assert json.loads((tmp_path / "table" / "table.json").read_text())["variants"][2]["versus_difference"]["seeds"] == [
        0
    ]


def test_control_rows_come_along_and_must_exist(tmp_path):
    assert BY_NAME["mining 1 round"].versus == "fine-tune control"
    assert BY_NAME["ensemble of 3 + TTA flips"].versus == "TTA flips"
    assert [v.name for v in select(VARIANTS, ["mining 2 rounds"], quick=False)] == ["baseline", "fine-tune control",
                                                                                  "mining 2 rounds"]  # fmt: skip
    (tmp_path / "t.yaml").write_text("variants:\n  - name: a\n  - name: b\n    versus: c\n")
    with pytest.raises(ValueError, match="not another row"):
        load_table(tmp_path / "t.yaml")


def test_main_runs_resumes_and_writes_the_table(tmp_path, capsys):
    launcher = FakeLauncher()
    args = ["--out", str(tmp_path), "--only", "XGBoost", "--seeds", "0", "1", "--n-boot", "200"]
    assert experiments.main(args, launcher) == 0
    out = capsys.readouterr().out
    assert "| XGBoost | 0, 1 | 0.967 ± 0.047 |" in out and "total wall time" in out
    assert len(launcher.commands) == 9 and (tmp_path / "table.md").read_text() in out
    again = FakeLauncher()
    assert experiments.main(args, again) == 0 and again.commands == []  # everything from done.json
    assert experiments.main([*args, "--synth-override", "synth.n_patients=12"], FakeLauncher(fail="synth.py")) == 1
    failed = json.loads((tmp_path / "table.json").read_text())
    assert failed["variants"][0]["seeds"] == [] and len(failed["variants"][0]["failures"]) == 2


def test_collect_only_runs_nothing_and_tables_the_cells_done(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--only", "XGBoost", "--n-boot", "200"]
    assert experiments.main([*args, "--seeds", "0"], FakeLauncher()) == 0
    idle = FakeLauncher()
    assert experiments.main([*args, "--seeds", "0", "1", "--collect-only"], idle) == 0
    assert idle.commands == []  # seed 1's steps stay unrun
    table = json.loads((tmp_path / "table.json").read_text())
    assert table["collect_only"] is True
    baseline = table["variants"][0]
    assert baseline["seeds"] == [0] and len(baseline["failures"]) == 1
    assert baseline["failures"][0].startswith("seed 1: train not run yet")


def test_execute_refuses_nothing_and_times_the_step(tmp_path):
    step = plan(VARIANTS[:1], [0], Common(), tmp_path, python="py")[0].step("synth")
    outcome = execute(step, lambda command, log, cwd: 0)
    assert outcome.status == "done" and outcome.wall_s >= 0 and step.record()["command"] == list(step.command)


def test_a_step_records_the_cpu_time_of_its_process_tree_not_its_sleep(tmp_path):
    # a command whose child burns ~0.4 s of CPU and which then sleeps 0.5 s: CPU time counts the child, not the sleep
    burn = "import time; t = time.process_time(); exec('while time.process_time() - t < 0.4: pass')"
    script = f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {burn!r}]); time.sleep(0.5)"
    step = plan(VARIANTS[:1], [0], Common(), tmp_path, python="py")[0].step("synth")
    step = replace(step, command=(sys.executable, "-c", script))
    outcome = execute(step)
    assert outcome.status == "done" and outcome.wall_s >= 0.9
    assert 0.4 <= outcome.cpu_s < 0.85 and step.record()["cpu_s"] == round(outcome.cpu_s, 2)
    assert execute(step).cpu_s == step.record()["cpu_s"]  # cached: the recorded figure


@pytest.mark.slow
def test_the_quick_table_end_to_end(tmp_path):
    """The real commands on a 10-patient hard cohort, 2 seeds, 5 variants (~12 min on 2 CPU cores)."""
    assert experiments.main(["--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "table.json").read_text())
    names = ["baseline", "rotation on", "XGBoost", "fine-tune control", "mining 1 round"]
    assert [v["name"] for v in data["variants"]] == names
    for variant in data["variants"]:
        assert variant["seeds"] == [0, 1] and variant["failures"] == []
        assert all(math.isfinite(s["kappa"]) for s in variant["per_seed"].values())
    assert data["variants"][-1]["versus_difference"]["seeds"] == [0, 1]  # mining against its fine-tune control
    steps = data["steps"]
    # per seed: the baseline's and rotation's models, a later round each for the control and mining rows
    assert Counter(name.split("-")[0] for name in steps) == {"synth": 1, "train": 8, "predict": 8, "stage": 10}
    table = list(csv.DictReader((tmp_path / "table.csv").read_text().splitlines()))
    assert len(table) == 5 and (tmp_path / "table.png").is_file() and (tmp_path / "table.md").is_file()


def test_the_time_left_comes_from_measured_step_times(tmp_path):
    cells = plan(select(VARIANTS, ["XGBoost"], quick=False), [0], Common(), tmp_path, python="py")
    steps = unique_steps(cells)
    for step, wall_s in zip(steps[:2], (100.0, 50.0), strict=False):  # the cohort and the model, from an earlier run
        step.folder.mkdir(parents=True)
        step.done_file.write_text(json.dumps({"wall_s": wall_s}))
    progress = experiments.Progress(cells, steps)
    assert progress.time_left() == 3 * 75.0  # heatmaps and two stagings, unmeasured kinds at the mean of all
    progress(Outcome(steps[3], "done", 10.0, 0))
    assert progress.time_left() == pytest.approx(160 / 3 + 10.0) and progress.bar.n == 1  # a cell is done
    progress.close()


def test_rows_of_prediction_and_staging_name_experiment_files_every_command_composes():
    """A row's predict / stage variant is an experiment of conf/experiment: one name for the row and the CLI."""
    from hydra.utils import instantiate

    from tests.conftest import CONF, compose_config
    from wsiseg.classifiers import DiameterRule

    variants, _, _ = load_table()
    named = {o.split("=", 1)[1]: v for v in variants for o in (*v.predict, *v.stage) if o.startswith("experiment=")}
    assert {"hard_tta", "hard_xgboost", "hard_diameter_rule", "hard_average_filter"} <= set(named)
    assert all((CONF / "experiment" / f"{name}.yaml").is_file() for name in named)
    assert compose_config("predict", ["ckpt_path=x.ckpt", "experiment=hard_tta"]).inference.tta == "flips"
    stage = compose_config("stage", ["experiment=hard_diameter_rule"])
    assert isinstance(instantiate(stage.classifier, _convert_="all"), DiameterRule)
    assert compose_config("stage", ["experiment=hard_average_filter"]).features.average_filter_um == 50
    assert compose_config("stage", ["experiment=hard_xgboost"]).classifier.estimator._target_ == "xgboost.XGBClassifier"
    assert compose_config("stage", ["experiment=hard_no_negative_density"]).classifier.exclude_features == [
        "*_negative_density"
    ]
