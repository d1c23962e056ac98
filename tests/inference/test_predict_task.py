"""predict.py end to end: per-slide errors, resume after SIGKILL, atomic outputs, DDP with 2 CPU processes,
runs sharing one output folder."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from tests.conftest import REPO, compose_config
from wsiseg.inference import PredictSettings, find_slides, settings_digest
from wsiseg.inference.claims import lock_path
from wsiseg.locks import owner, try_claim
from wsiseg.model import load_model
from wsiseg.model.spec import MODEL_KEY, tissue_record
from wsiseg.slide.writer import TiffOptions, write_pyramid_tiff_from_array
from wsiseg.tasks.predict import checkpoint_paths, digest_settings, load_members, predict_settings, run
from wsiseg.tissue import TissueParams


def args(checkpoint, slides, out):
    return [f"ckpt_path={checkpoint}", f"slides={slides}", f"out_dir={out}", "num_workers=1", "plan_workers=1",
            "inference.heatmap_mpp=7.776", "write_png=false"]  # fmt: skip


def cli(arguments, cwd, wait=True):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(REPO / "predict.py"), *arguments, f"hydra.run.dir={cwd / 'run'}"]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def full_run(tiny_cohort, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    summary = run(compose_config("predict", args(tiny_checkpoint, tiny_cohort, out) + [f"paths.output_dir={out}-run"]))
    return out, summary


def test_every_slide_gets_complete_outputs(full_run, tiny_cohort):
    out, summary = full_run
    names = [n for n, _ in find_slides(tiny_cohort)]
    assert sorted(summary.done) == sorted(names) and not summary.failed and not summary.skipped
    for name in names:
        meta = json.loads((out / f"{name}.json").read_text())
        assert meta["model_mpp"] == pytest.approx(3.888 * 32 / 32)  # read from the checkpoint's data config
        assert meta["checkpoint_digest"] and meta["config_digest"] and meta["slide_mpp"] > 0
        heatmap = np.load(out / meta["files"]["heatmap"])
        assert heatmap.dtype == np.float16 and tuple(meta["shape_hw"]) == heatmap.shape
        assert (out / meta["files"]["tiff"]).is_file()
    assert json.loads((out / "summary.json").read_text())["failed"] == {}


def test_rerun_skips_finished_slides(full_run, tiny_checkpoint, tiny_cohort):
    out, _ = full_run
    again = run(compose_config("predict", args(tiny_checkpoint, tiny_cohort, out) + [f"paths.output_dir={out}-run"]))
    assert again.done == [] and len(again.skipped) == len(find_slides(tiny_cohort))


@pytest.mark.slow  # a whole prediction run: make test-all
def test_write_tiff_colour_writes_and_records_the_rgba_tiff(tiny_checkpoint, tiny_cohort, tmp_path):
    """Off by default (``full_run``); on, the slide's ``.json`` lists it; a rerun that switches it on later
    does not predict the slide again but adds the TIFF from its stored heatmap, the same as a fresh run's."""
    name, slide = find_slides(tiny_cohort)[0]
    overrides = args(tiny_checkpoint, slide, tmp_path) + [f"paths.output_dir={tmp_path}-run"]
    assert run(compose_config("predict", overrides)).done == [name]
    assert "tiff_colour" not in json.loads((tmp_path / f"{name}.json").read_text())["files"]
    heatmap_written = (tmp_path / f"{name}.heatmap.npy").stat().st_mtime_ns
    assert run(compose_config("predict", [*overrides, "write_tiff_colour=true"])).skipped == [name]
    assert (tmp_path / f"{name}.heatmap.npy").stat().st_mtime_ns == heatmap_written  # not predicted again
    assert json.loads((tmp_path / f"{name}.json").read_text())["files"]["tiff_colour"] == f"{name}.heatmap.rgba.tif"
    out = tmp_path / "colour"
    colour = args(tiny_checkpoint, slide, out) + [f"paths.output_dir={out}-run", "write_tiff_colour=true"]
    assert run(compose_config("predict", colour)).done == [name]
    assert json.loads((out / f"{name}.json").read_text())["files"]["tiff_colour"] == f"{name}.heatmap.rgba.tif"
    assert (out / f"{name}.heatmap.rgba.tif").is_file() and (out / f"{name}.heatmap.tif").is_file()
    added, fresh = (tifffile.imread(d / f"{name}.heatmap.rgba.tif") for d in (tmp_path, out))
    np.testing.assert_array_equal(added, fresh)


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_bad_slides_are_reported_and_the_others_go_on(tiny_cohort, tiny_checkpoint, tmp_path):
    folder = tmp_path / "slides"
    folder.mkdir()
    good = tiny_cohort / "centre_0" / "patient_000_node_0.tif"
    shutil.copy(good, folder / "good.tif")
    (folder / "truncated.tif").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "not_a_tiff.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    write_pyramid_tiff_from_array(folder / "blank.tif", np.full((600, 800, 3), 243, np.uint8), 3.888)
    tissue = tifffile.imread(good, level=0)
    write_pyramid_tiff_from_array(folder / "no_mpp.tif", tissue, 3.888, TiffOptions(mpp_storage="none"))
    resolution = {"resolution": (1e4 / 3.888, 1e4 / 3.888), "resolutionunit": "CENTIMETER"}
    tifffile.imwrite(folder / "no_pyramid.tif", tissue, tile=(256, 256), compression="jpeg", **resolution)
    tifffile.imwrite(folder / "jpeg2000.tif", tissue, tile=(256, 256), compression="jpeg2000", **resolution)
    tifffile.imwrite(folder / "small.tif", tissue[300:330, 300:340], **resolution)  # smaller than one tile
    proc = cli(args(tiny_checkpoint, folder, tmp_path / "out"), tmp_path)
    assert proc.returncode == 1  # some slide failed
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sorted(summary["done"]) == ["good", "jpeg2000", "no_pyramid"]  # JPEG 2000 and single-level TIFFs work
    assert set(summary["failed"]) == {"truncated", "not_a_tiff", "blank", "no_mpp", "small"}
    assert "smaller than one model tile" in summary["failed"]["small"]
    assert "no tissue" in summary["failed"]["blank"] and "inference.slide_mpp=" in summary["failed"]["no_mpp"]
    assert "FAILED truncated" in proc.stdout + proc.stderr
    # the remedy the message names: give the spacing by hand
    by_hand = [*args(tiny_checkpoint, folder / "no_mpp.tif", tmp_path / "fixed"), "inference.slide_mpp=3.888"]
    fixed = run(compose_config("predict", [*by_hand, f"paths.output_dir={tmp_path}/run"]))
    assert fixed.done == ["no_mpp"] and not fixed.failed


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_killed_run_leaves_nothing_that_looks_complete_and_resumes_identically(
    full_run, tiny_cohort, tiny_checkpoint, tmp_path
):
    out = tmp_path / "out"
    proc = cli(args(tiny_checkpoint, tiny_cohort, out), tmp_path, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in out.glob("*.json")}
    assert 3 <= len(finished) < len(find_slides(tiny_cohort))
    for meta_path in out.glob("*.json"):  # a metadata file only ever sits beside complete outputs
        meta = json.loads(meta_path.read_text())
        for name in meta["files"].values():
            assert (out / name).is_file()
    pending = sorted({n for n, _ in find_slides(tiny_cohort)} - finished)[-1]
    (out / f".{pending}.heatmap.npy.deadbeef.part").write_bytes(b"half")  # as a kill mid-write leaves
    resumed = run(compose_config("predict", args(tiny_checkpoint, tiny_cohort, out) + [f"paths.output_dir={out}-run"]))
    assert set(resumed.skipped) == finished and not resumed.failed
    assert len(resumed.done) + len(resumed.skipped) == len(find_slides(tiny_cohort))
    reference, _ = full_run
    for name, _ in find_slides(tiny_cohort):
        assert np.array_equal(np.load(out / f"{name}.heatmap.npy"), np.load(reference / f"{name}.heatmap.npy")), name
    assert not list(out.glob(".*.part"))  # the rerun cleaned the killed run's temporary files


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_ddp_predict_writes_each_slide_once(tiny_cohort, tiny_checkpoint, tmp_path, full_run):
    out = tmp_path / "out"
    proc = cli([*args(tiny_checkpoint, tiny_cohort, out), "trainer=ddp_cpu"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (out / f"summary-{summary['run']}.json").read_text() == (out / "summary.json").read_text()
    ranks = summary["done_by_rank"]
    assert ranks[0] and ranks[1] and not set(ranks[0]) & set(ranks[1])
    assert sorted(ranks[0] + ranks[1]) == sorted(n for n, _ in find_slides(tiny_cohort))
    reference, _ = full_run
    name = ranks[1][0]
    assert np.array_equal(np.load(out / f"{name}.heatmap.npy"), np.load(reference / f"{name}.heatmap.npy"))


@pytest.mark.slow  # make test-all; the fast suite stays under 5 minutes
def test_missing_checkpoint_fails_before_any_work(tmp_path, tiny_cohort):
    proc = cli(args(tmp_path / "nope.ckpt", tiny_cohort, tmp_path / "out"), tmp_path)
    assert proc.returncode != 0 and "checkpoint not found" in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # 6 s: a whole prediction run
def test_manifest_names_cannot_escape_the_output_folder(tiny_cohort, tiny_checkpoint, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(tiny_cohort / "centre_0" / "patient_000_node_0.tif", cohort / "a.tif")
    (cohort / "manifest.csv").write_text(
        "slide,path,annotation,dataset,patient,centre,label,mpp,lesions_mm\n"
        "../../escaped.tif,a.tif,,camelyon17,p,0,negative,,\n"
    )
    out = tmp_path / "deep" / "er" / "out"
    summary = run(compose_config("predict", [*args(tiny_checkpoint, cohort, out), f"paths.output_dir={tmp_path}/run"]))
    assert summary.done == ["escaped"] and (out / "escaped.json").is_file()
    assert [p for p in tmp_path.rglob("escaped*") if p.parent not in (out, out / ".claims")] == []  # nowhere else


@pytest.mark.slow  # 14 s: a second prediction run beside a live claim
def test_a_slide_another_live_run_holds_is_left_to_it(few_slides, tiny_checkpoint, tmp_path, full_run):
    out, names = tmp_path / "out", sorted(n for n, _ in find_slides(few_slides))
    held, stale = names[0], names[1]
    (out / ".work").mkdir(parents=True)
    theirs = out / ".work" / f"{held}.20260101-000000-aaaaaa-r0.sum.npy"  # the live run's accumulator
    theirs.write_bytes(b"their partial sums")
    dead = out / ".work" / f"{stale}.20250101-000000-bbbbbb-r0.sum.npy"  # a killed run's
    dead.write_bytes(b"stale")
    claim = try_claim(lock_path(out, held), owner("20260101-000000-aaaaaa"))
    first = run(compose_config("predict", args(tiny_checkpoint, few_slides, out) + [f"paths.output_dir={out}-1"]))
    assert list(first.elsewhere) == [held] and first.elsewhere[held].startswith("run 20260101-000000-aaaaaa (pid")
    assert sorted(first.done) == names[1:] and not (out / f"{held}.json").exists()
    assert theirs.read_bytes() == b"their partial sums" and not dead.exists()  # only what was claimed is cleaned
    claim.release()
    second = run(compose_config("predict", args(tiny_checkpoint, few_slides, out) + [f"paths.output_dir={out}-2"]))
    assert second.done == [held] and sorted(second.skipped) == names[1:] and not second.elsewhere
    reference, _ = full_run
    assert np.array_equal(np.load(out / f"{held}.heatmap.npy"), np.load(reference / f"{held}.heatmap.npy"))
    summaries = sorted(out.glob("summary-*.json"))  # one per run: neither overwrote the other's
    assert [json.loads(p.read_text())["run"] for p in summaries] == [first.run_id, second.run_id]


@pytest.mark.parametrize(
    ("runs", "cohort"),
    [pytest.param(2, "few_slides", marks=pytest.mark.slow), pytest.param(3, "tiny_cohort", marks=pytest.mark.slow)],
)
def test_concurrent_runs_on_one_folder_predict_each_slide_once(
    runs, cohort, request, tiny_checkpoint, tmp_path, full_run
):
    slides = request.getfixturevalue(cohort)
    out, names = tmp_path / "out", sorted(n for n, _ in find_slides(slides))
    folders = [tmp_path / f"job{i}" for i in range(runs)]
    for folder in folders:
        folder.mkdir()
    procs = [cli(args(tiny_checkpoint, slides, out), folder, wait=False) for folder in folders]
    logs = [proc.communicate(timeout=900)[0] for proc in procs]
    for proc, text in zip(procs, logs, strict=True):
        assert proc.returncode == 0, text[-3000:]  # not < 0 either: no run died of a signal
    summaries = [json.loads(p.read_text()) for p in out.glob("summary-*.json")]
    assert len(summaries) == runs
    done = [name for s in summaries for name in s["done"]]
    assert sorted(done) == names  # every slide predicted, and exactly once
    for s in summaries:
        assert sorted(s["done"] + s["skipped"] + list(s["elsewhere"])) == names and not s["failed"]
    reference, _ = full_run
    for name in names:
        assert np.array_equal(np.load(out / f"{name}.heatmap.npy"), np.load(reference / f"{name}.heatmap.npy")), name
    assert not list(out.glob(".*.part")) and not (out / ".work").exists() and not (out / ".runs").exists()


def perturbed_copy(checkpoint, path, shift):
    """Another model with the same record: the checkpoint with ``shift`` added to its output layer's bias."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    last = [k for k in state["state_dict"] if k.endswith("bias")][-1]
    state["state_dict"][last] = state["state_dict"][last] + shift
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def one_slide(few_slides, tmp_path_factory):
    folder = tmp_path_factory.mktemp("one_slide")
    first = sorted(few_slides.glob("*.tif"))[0]
    shutil.copy(first, folder / first.name)
    return folder


@pytest.mark.slow  # five prediction runs: make test-all
def test_an_ensemble_heatmap_is_the_mean_of_its_members_and_names_them(one_slide, tiny_checkpoint, tmp_path):
    other = perturbed_copy(tiny_checkpoint, tmp_path / "other.ckpt", 2.0)
    maps = {}
    for key, ckpt in (("a", tiny_checkpoint), ("b", other), ("ab", f"[{tiny_checkpoint},{other}]")):
        out = tmp_path / key
        summary = run(compose_config("predict", args(ckpt, one_slide, out) + [f"paths.output_dir={out}-run"]))
        (name,) = summary.done
        heatmap = np.load(out / f"{name}.heatmap.npy").astype(np.float32)
        maps[key] = (heatmap, json.loads((out / f"{name}.json").read_text()))
    (a, meta_a), (b, _), (ab, meta) = maps["a"], maps["b"], maps["ab"]
    assert np.abs(a - b).max() > 0.05  # two different models
    assert np.abs(ab - (a + b) / 2).max() < 2e-3  # float16 storage of three heatmaps
    assert [m["path"] for m in meta["checkpoints"]] == [str(tiny_checkpoint), str(other)]
    assert meta["checkpoint"] is None and meta["checkpoint_digest"] not in {m["digest"] for m in meta["checkpoints"]}
    assert meta_a["checkpoints"] == [{"path": str(tiny_checkpoint), "digest": meta_a["checkpoint_digest"]}]
    # unchanged members: the ensemble's heatmap is reused; a member retrained in place: it is predicted again
    ensemble = args(f"[{tiny_checkpoint},{other}]", one_slide, tmp_path / "ab") + [f"paths.output_dir={tmp_path}-run"]
    assert run(compose_config("predict", ensemble)).skipped
    perturbed_copy(tiny_checkpoint, other, -1.0)
    again = run(compose_config("predict", ensemble))
    assert again.done and not again.skipped


@pytest.mark.slow  # two prediction runs: make test-all
def test_a_channels_last_network_gives_the_contiguous_networks_heatmap(one_slide, tiny_checkpoint, tmp_path):
    """``channels_last=true`` (a GPU's choice) changes the network's memory layout, not its probabilities."""
    maps = {}
    for key, extra in (("as trained", []), ("channels-last", ["channels_last=true"])):
        out = tmp_path / key.replace(" ", "_")
        (name,) = run(compose_config("predict", args(tiny_checkpoint, one_slide, out) + extra
                                     + [f"paths.output_dir={out}-run"])).done  # fmt: skip
        maps[key] = np.load(out / f"{name}.heatmap.npy").astype(np.float32)
    assert maps["as trained"].shape == maps["channels-last"].shape and maps["as trained"].max() > 0.01
    assert np.abs(maps["as trained"] - maps["channels-last"]).max() <= 1e-3  # float16 storage: one step at most


@pytest.mark.slow  # ~13 s (the views' exact inverses are tests/inference/test_tta.py, fast)
def test_tta_is_a_setting_of_the_heatmap(one_slide, tiny_checkpoint, tmp_path):
    plain, flips = tmp_path / "plain", tmp_path / "flips"
    for out, extra in ((plain, []), (flips, ["inference.tta=flips"])):
        run(compose_config("predict", args(tiny_checkpoint, one_slide, out) + extra + [f"paths.output_dir={out}-run"]))
    (name,) = [p.name.removesuffix(".heatmap.npy") for p in plain.glob("*.heatmap.npy")]
    meta_plain, meta_flips = (json.loads((f / f"{name}.json").read_text()) for f in (plain, flips))
    assert meta_flips["settings"]["tta"] == "flips" and meta_plain["config_digest"] != meta_flips["config_digest"]
    h_plain, h_flips = (np.load(f / f"{name}.heatmap.npy").astype(np.float32) for f in (plain, flips))
    assert h_plain.shape == h_flips.shape and np.abs(h_plain - h_flips).max() > 0


def test_ensemble_members_must_tile_alike(one_slide, tiny_checkpoint, tmp_path):
    import torch

    from wsiseg.errors import CheckpointError

    state = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    state["wsiseg_model"]["input_mpp"] = state["wsiseg_model"]["input_mpp"] * 2
    torch.save(state, tmp_path / "coarse.ckpt")
    with pytest.raises(CheckpointError, match="must share their input resolution and tile size"):
        run(compose_config("predict", args(f"[{tiny_checkpoint},{tmp_path / 'coarse.ckpt'}]", one_slide, tmp_path)))
    with pytest.raises(ValueError, match="names a checkpoint twice"):
        run(compose_config("predict", args(f"[{tiny_checkpoint},{tiny_checkpoint}]", one_slide, tmp_path)))


def recorded_tissue(checkpoint, path, **tissue):
    """A copy of ``checkpoint`` whose record holds these tissue settings (none: no record, as before it existed)."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state[MODEL_KEY]["tissue"] = tissue_record(TissueParams(**tissue)) if tissue else None
    torch.save(state, path)
    return path


def planned_tissue(checkpoints, *overrides):
    """The tissue settings predict.py would plan slides with (no slide is read)."""
    ckpt = checkpoints[0] if len(checkpoints) == 1 else f"[{','.join(map(str, checkpoints))}]"
    cfg = compose_config("predict", [f"ckpt_path={ckpt}", "paths.output_dir=.", *overrides])
    paths = checkpoint_paths(cfg.ckpt_path)
    return predict_settings(cfg, load_members(paths, None)[1], paths).tissue


def test_training_records_its_tissue_settings(tiny_checkpoint):
    assert load_model(tiny_checkpoint)[1].tissue == TissueParams()  # conf/tissue as train.py composed it


def test_prediction_uses_the_tissue_settings_the_checkpoint_records(tiny_checkpoint, tmp_path, caplog):
    ckpt = recorded_tissue(tiny_checkpoint, tmp_path / "a.ckpt", min_area_mm2=0.123)
    with caplog.at_level("INFO", logger="wsiseg"):
        assert planned_tissue([ckpt]).min_area_mm2 == 0.123  # not conf/tissue's 0.05
    assert "a.ckpt records (its training's); min_area_mm2=0.123 (conf/tissue: 0.05)" in caplog.text
    assert planned_tissue([ckpt], "tissue.min_area_mm2=0.3").min_area_mm2 == 0.123  # the record wins
    assert planned_tissue([ckpt], "tissue_from=config").min_area_mm2 == 0.05
    assert planned_tissue([ckpt], "tissue_from=config", "tissue.min_area_mm2=0.3").min_area_mm2 == 0.3
    # the settings key the heatmaps: others than those a folder's heatmaps were made with predict them again
    a, b = (PredictSettings(1.0, 64, tissue=TissueParams(min_area_mm2=m)) for m in (0.05, 0.123))
    assert settings_digest(digest_settings(a, 1)) != settings_digest(digest_settings(b, 1))


def test_a_checkpoint_without_the_record_falls_back_to_conf_tissue(tiny_checkpoint, tmp_path, caplog):
    old = recorded_tissue(tiny_checkpoint, tmp_path / "old.ckpt")
    with caplog.at_level("WARNING", logger="wsiseg"):
        assert planned_tissue([old], "tissue.min_area_mm2=0.3").min_area_mm2 == 0.3
    assert "conf/tissue, as" in caplog.text and "old.ckpt records no tissue settings" in caplog.text


def test_an_ensemble_whose_members_disagree_uses_the_first_ones_with_a_warning(tiny_checkpoint, tmp_path, caplog):
    first = recorded_tissue(tiny_checkpoint, tmp_path / "first.ckpt", min_area_mm2=0.2)
    other = recorded_tissue(tiny_checkpoint, tmp_path / "other.ckpt", min_area_mm2=0.4)
    with caplog.at_level("WARNING", logger="wsiseg"):
        assert planned_tissue([first, other]).min_area_mm2 == 0.2
    assert "other tissue settings than" in caplog.text and "other.ckpt" in caplog.text


@pytest.mark.slow  # ~17 s: the fast suite stays under 5 minutes on a 2-core machine
def test_multirun_over_two_slide_globs_through_the_submitit_launcher(tiny_cohort, tiny_checkpoint, tmp_path):
    """``predict.py -m`` with Hydra's submitit launcher in its local mode (the SLURM plugin's code path): one job
    per glob, each job's heatmaps in its own folder, only its own slides."""
    sweep = tmp_path / "sweep"
    globs = [str(tiny_cohort / "centre_0" / "*_node_[01].tif"), str(tiny_cohort / "centre_1" / "*_node_2.tif")]
    # quoted: a sweep's values are Hydra grammar, where [ and , mean lists
    sweep_slides = ",".join(f"'{g}'" for g in globs)
    arguments = ["-m", *args(tiny_checkpoint, sweep_slides, "${hydra:runtime.output_dir}/heatmaps"),
                 "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
                 "write_tiff=false", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    proc = subprocess.run([sys.executable, str(REPO / "predict.py"), *arguments], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for job, pattern in enumerate(globs):
        expected = sorted(name for name, _ in find_slides(pattern))
        heatmaps = (sweep / str(job) / "heatmaps").glob("*.heatmap.npy")
        done = sorted(p.name.removesuffix(".heatmap.npy") for p in heatmaps)
        assert expected and done == expected
        summary = json.loads((sweep / str(job) / "heatmaps" / f"{expected[0]}.json").read_text())
        assert summary["checkpoint_digest"] and summary["reader"] == "tiffslide"
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2  # both ran as submitit jobs
