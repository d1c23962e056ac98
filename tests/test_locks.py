"""Claims: exclusive across processes, released when the holder dies however it dies, named to the waiters."""

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

from wsiseg.locks import claim, describe, holder, new_run_id, owner, try_claim

HOLD = "import sys, time; from wsiseg.locks import try_claim, owner; c = try_claim(sys.argv[1], owner('other-run'));"
HOLD += " print('held' if c else 'busy', flush=True); time.sleep(60)"


def hold_in_another_process(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_claim_is_exclusive_across_processes_and_a_killed_holder_keeps_nothing(tmp_path):
    lock = tmp_path / "locks" / "slide.lock"
    proc = hold_in_another_process(lock)
    try:
        assert try_claim(lock, owner("mine")) is None
        who = holder(lock)
        assert who["run"] == "other-run" and who["pid"] == proc.pid
        assert describe(who).startswith(f"run other-run (pid {proc.pid} on ")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    mine = try_claim(lock, owner("mine"))  # the kernel released the dead run's lock
    assert mine is not None and holder(lock)["run"] == "mine"
    mine.release()
    assert not mine.held and holder(lock) is None and lock.exists()  # lock files stay: see the module docstring


def test_two_claims_in_one_process_exclude_each_other(tmp_path):
    first = try_claim(tmp_path / "a.lock", owner("r1"))
    assert try_claim(tmp_path / "a.lock", owner("r2")) is None
    first.release()
    with try_claim(tmp_path / "a.lock", owner("r2")) as second:
        assert second.held
    assert not second.held


def test_claim_waits_for_the_holder_and_says_for_whom(tmp_path, caplog):
    lock = tmp_path / "cache.lock"
    first = try_claim(lock, owner("builder"))
    threading.Timer(0.5, first.release).start()
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="wsiseg.locks"):
        second = claim(lock, owner("waiter"), "the patch cache x")
    assert time.monotonic() - start >= 0.45 and second.held
    assert "waiting for run builder" in caplog.text and "which is making the patch cache x" in caplog.text
    second.release()


def test_run_ids_have_no_dots_and_sort_by_start():
    first = new_run_id()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", first) and first != new_run_id()
