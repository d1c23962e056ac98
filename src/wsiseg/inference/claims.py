"""One run at a time per slide: claims on the slides of a shared output folder.

A claim is taken just before a slide's tiles are read and given back once its outputs are written (or it
failed). Several ``predict.py`` runs may share an ``out_dir`` (overlapping SLURM globs, a rerun while a job
still runs): each slide is then predicted by exactly one of them. A run skips a slide another live run holds
(and says which run), and a slide finished meanwhile by another run is not predicted again. Holding the
claim is what makes the slide's scratch files (``.work/``, ``.*.part``) private: whatever another run left
there for that slide is stale once the claim is ours, and is removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from wsiseg.inference.outputs import SUFFIXES, is_complete
from wsiseg.locks import Claim, describe, holder, try_claim

log = logging.getLogger(__name__)
T = TypeVar("T")
CLAIMS = ".claims"
WORK = ".work"


def lock_path(out_dir: Path, name: str) -> Path:
    """The lock file of a slide's claim (``name`` reduced to a bare name, like the outputs)."""
    return Path(out_dir) / CLAIMS / f"{Path(name).name}.lock"


def stale_files(out_dir: Path, name: str) -> list[Path]:
    """Scratch files of ``name`` in ``out_dir``: accumulators in ``.work/`` and unfinished atomic writes."""
    out_dir = Path(out_dir)
    work = re.compile(rf"{re.escape(name)}\.[^.]+\.(sum|weight)\.npy")
    outputs = "|".join(re.escape(suffix) for suffix in SUFFIXES.values())  # each starts with its "."
    part = re.compile(rf"\.{re.escape(name)}({outputs})\..+\.part")
    found = [p for p in (out_dir / WORK).glob(f"{name}.*.npy") if work.fullmatch(p.name)]
    return found + [p for p in out_dir.glob(f".{name}.*.part") if part.fullmatch(p.name)]


class SlideClaims:
    """The claims one process (one rank of one run) holds on slides of ``out_dir``.

    Args:
        out_dir: the shared output folder.
        digests: checkpoint and settings digests (a slide complete with them is not predicted again).
        who: what this process writes into its lock files (:func:`wsiseg.locks.owner`).
    """

    def __init__(self, out_dir: Path, digests: tuple[str, str], who: dict[str, Any]) -> None:
        self.out_dir, self.digests, self.who = Path(out_dir), digests, who
        self.held: dict[str, Claim] = {}
        self.elsewhere: dict[str, str] = {}  # slide -> the run predicting it
        self.finished_elsewhere: list[str] = []

    def take(self, name: str) -> bool:
        """Claim ``name`` for this run now; False when another run holds it or finished it meanwhile."""
        if name in self.held:
            return True
        claim = try_claim(lock_path(self.out_dir, name), self.who)
        if claim is None:
            self.elsewhere[name] = describe(holder(lock_path(self.out_dir, name)))
            log.warning("%s is being predicted by %s: skipped here", name, self.elsewhere[name])
            return False
        if is_complete(self.out_dir, name, *self.digests):
            claim.release()
            self.finished_elsewhere.append(name)
            log.info("%s was finished by another run meanwhile: skipped", name)
            return False
        for stale in stale_files(self.out_dir, name):
            stale.unlink(missing_ok=True)
        self.held[name] = claim
        return True

    def amend(self, name: str, change: Callable[[], T]) -> T | None:
        """Run ``change`` on a finished slide's outputs under its claim; ``None`` when another run holds it."""
        claim = try_claim(lock_path(self.out_dir, name), self.who)
        if claim is None:
            log.info("%s is held by %s: its outputs are left as they are", name,
                     describe(holder(lock_path(self.out_dir, name))))  # fmt: skip
            return None
        try:
            return change()
        finally:
            claim.release()

    def release(self, name: str) -> None:
        """Give back the claim on ``name`` (its outputs are written, or it failed)."""
        claim = self.held.pop(name, None)
        if claim is not None:
            claim.release()

    def release_all(self) -> None:
        """Give back every claim still held (end of the run)."""
        for name in list(self.held):
            self.release(name)
