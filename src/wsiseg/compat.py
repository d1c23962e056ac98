"""``python -m wsiseg.compat``: install :mod:`wsiseg.torchvision_hook` at interpreter start-up, and check it.

Writes ``wsiseg-torchvision-compat.pth`` into this environment's site-packages (a ``.pth`` line that installs
the hook before anything imports torchvision), then imports torchvision through it (``make setup`` runs it).
Only needed where torch's CPU build sits beside PyPI's CUDA-built torchvision; harmless elsewhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sysconfig
from pathlib import Path

from wsiseg.torchvision_hook import install

log = logging.getLogger(__name__)

#: The start-up file written into site-packages, and its one line.
PTH_NAME = "wsiseg-torchvision-compat.pth"
PTH_LINE = "import wsiseg.torchvision_hook as _wsiseg_hook; _wsiseg_hook.install()\n"


def write_startup_file(site_packages: str | Path | None = None) -> Path:
    """Write :data:`PTH_NAME` into ``site_packages`` (default: this interpreter's) and return its path."""
    folder = Path(site_packages or sysconfig.get_paths()["purelib"])
    path = folder / PTH_NAME
    path.write_text(PTH_LINE)
    return path


def main(argv: list[str] | None = None) -> None:
    """``python -m wsiseg.compat [--site-packages DIR]``: write the start-up file, check that torchvision imports."""
    parser = argparse.ArgumentParser(prog="python -m wsiseg.compat", description=__doc__.split("\n")[0])
    parser.add_argument("--site-packages", type=Path, help="where to write it (default: this environment's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = write_startup_file(args.site_packages)
    log.info("wrote %s", path)
    if importlib.util.find_spec("torchvision") is not None:
        install()
        import torchvision

        log.info("torchvision %s imports", torchvision.__version__)


if __name__ == "__main__":
    main()
