"""Shared fixtures: the real CAMELYON17 reference files, a tiny synthetic cohort and a tiny checkpoint trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import wsiseg.tasks  # noqa: F401 - registers the configs' schemas, as every entry script does

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.gpu`` tests, with the reason, where torch sees no CUDA device."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in gpu_tests:
        item.add_marker(skip)


def reference_dir() -> Path:
    """``../shared/reference`` beside the checkout when present (CI), else the vendored copy in tests/data."""
    shared = REPO.parent / "shared" / "reference"
    return shared if (shared / "camelyon17_stage_labels.csv").exists() else REPO / "tests" / "fixtures" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    return reference_dir()


def compose_config(config_name: str, overrides: list[str] | None = None):
    """Compose a root config of ``conf/`` the way the entry scripts do."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides or [])


@pytest.fixture(scope="session")
def tiny_spec():
    return instantiate(compose_config("synth", ["synth=tiny"]).synth, _convert_="all")


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory, tiny_spec) -> Path:
    """The ``tiny`` preset generated once for the whole test session (about 5 s)."""
    from wsiseg.synth import generate_cohort

    out = tmp_path_factory.mktemp("tiny_cohort")
    generate_cohort(tiny_spec, out, seed=0, workers=2)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_cohort, tmp_path_factory):
    """A real checkpoint of train.py on the tiny cohort (a few steps: for the machinery, not for accuracy)."""
    from wsiseg.tasks.train import run as train

    out = tmp_path_factory.mktemp("train")
    cfg = compose_config(
        "train",
        [
            "experiment=demo", f"data.cohorts=[{tiny_cohort}]", f"paths.cache_dir={out / 'cache'}",
            f"paths.output_dir={out}", "sampling.magnification=3.888", "sampling.patch_size=32", "sampling.out_size=32",
            "data.loader.num_workers=0", "data.loader.prepare_workers=1", "model.net.depth=2", "model.net.base_width=4",
            "trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
        ],
    )  # fmt: skip
    return train(cfg).last_checkpoint


def _checkout_status() -> set[str] | None:
    """``git status --porcelain`` lines of the checkout (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.splitlines())


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Fail the session if tests leave files in the checkout (outputs belong under tmp_path)."""
    before = _checkout_status()
    yield
    after = _checkout_status()
    if before is not None and after is not None:
        assert after <= before, f"tests wrote into the checkout: {sorted(after - before)}"
