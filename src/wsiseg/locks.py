"""Claims on shared folders: one run at a time works on a slide, a patch cache or a feature-cache entry.

A claim is an OS-level advisory lock (``fcntl.flock``) on a small lock file. It is held while the work
runs and released by the kernel when the process ends, however it ends: a killed run keeps nothing (on
NFS the server's lease releases a dead client's locks). The file records who holds it (host, pid, run,
since), so a run that skips or waits says for whom. Lock files are never deleted: removing one while
another run opens it would let two runs lock two different files of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def new_run_id() -> str:
    """A run identifier: time, then random hex (``20261201-221530-3fa9c2``); no dots, sortable by start."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def owner(run: str, **extra: Any) -> dict[str, Any]:
    """Who claims: ``run``, host, pid and since when (written into the lock file)."""
    return {"run": run, "host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%H:%M:%S"), **extra}


def describe(holder: dict[str, Any] | None) -> str:
    """``run 2026... (pid 123 on node7, since 10:31:02)``, or ``another run`` when unknown."""
    if not holder:
        return "another run"
    return f"run {holder.get('run')} (pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')})"


class Claim:
    """A held lock on ``path``; :meth:`release` (or leaving the ``with`` block) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @property
    def held(self) -> bool:
        """Whether this claim is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Give the claim back (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the lock

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_claim(path: str | Path, who: dict[str, Any]) -> Claim | None:
    """Claim ``path`` without waiting; ``None`` when another process holds it.

    Raises:
        OSError: The file system cannot lock files (named, with what to do).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in _BUSY:
            return None
        raise OSError(err.errno, f"cannot lock {path}: the file system of {path.parent} does not support file "
                      f"locks ({err.strerror}); write the outputs to a folder on one that does (local disk, "
                      "NFS, Lustre mounted with -o flock)") from err  # fmt: skip
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(who).encode(), 0)
    return Claim(path, fd)


def holder(path: str | Path) -> dict[str, Any] | None:
    """Who holds (or last held) the claim on ``path``, as it wrote itself into the file; None when unknown."""
    try:
        text = Path(path).read_text()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def claim(path: str | Path, who: dict[str, Any], what: str, level: int = logging.WARNING) -> Claim:
    """Claim ``path``, waiting for another holder to finish.

    The wait is logged once at ``level``, naming the holder and ``what`` it is making.
    """
    got = try_claim(path, who)
    if got is not None:
        return got
    log.log(level, "waiting for %s, which is making %s", describe(holder(path)), what)
    start, pause = time.monotonic(), 0.01
    while got is None:
        time.sleep(pause)
        pause = min(2 * pause, 0.5)
        got = try_claim(path, who)
    log.log(level, "%s is free after %.1f s", what, time.monotonic() - start)
    return got


@contextlib.contextmanager
def claimed(path: str | Path, who: dict[str, Any], what: str, level: int = logging.WARNING) -> Iterator[Claim]:
    """Hold a :func:`claim` (waiting for it if need be) for the duration of a ``with`` block."""
    held = claim(path, who, what, level)
    try:
        yield held
    finally:
        held.release()
