"""What produced a result: package versions, git revision, seed, command line and the resolved config.

Every task writes :func:`run_record` as ``run.json`` into its run folder; checkpoints and heatmaps carry it
too, so a number can be traced back to the code and settings that made it.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from wsiseg.atomic import write_text_atomic

PACKAGES = (
    "wsiseg", "torch", "pytorch-lightning", "torchmetrics", "hydra-core", "albumentations", "tiffslide", "tifffile",
    "numpy", "scikit-learn", "scikit-image", "xgboost", "opencv-python-headless",
)  # fmt: skip


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """``<commit>`` (``+dirty`` when the working tree has changes) of the checkout holding this package, if any."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results (``None``: not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_record(seed: int | None = None) -> dict[str, Any]:
    """Versions, git revision, seed, command line, host and time of this run (JSON-ready)."""
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": platform.node(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
        "seed": seed,
    }


def write_run_record(folder: str | Path, config: dict[str, Any] | None = None, seed: int | None = None) -> Path:
    """Write ``run.json`` (see :func:`run_record`, plus the resolved ``config``) into ``folder``, atomically."""
    record = run_record(seed) | {"config": config}
    return write_text_atomic(Path(folder) / "run.json", json.dumps(record, indent=2, default=str))
