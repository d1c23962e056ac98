"""Run independent jobs (one per slide) in worker processes, in order, with a progress bar.

Workers are spawned fresh, never forked from the caller: tiffslide keeps an I/O thread (zarr's) that a
plain ``fork`` copies mid-lock, which can hang the child for good. (Spawned workers are the caller's own
children, so they also notice when it is killed, unlike ``forkserver`` ones.)
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
#: Start method for processes that open slides (see the module docstring).
SAFE_CONTEXT = multiprocessing.get_context("spawn")


def map_slides(
    fn: Callable[..., T],
    jobs: Sequence[tuple[Any, ...]],
    workers: int,
    desc: str,
    unit: str = "slide",
    weights: Sequence[int] | None = None,
) -> list[T]:
    """``[fn(*job) for job in jobs]`` in ``workers`` processes (in-process when ``workers <= 1``).

    Args:
        fn: a picklable module-level function.
        jobs: argument tuples, one per call.
        workers: worker processes.
        desc: progress bar label.
        unit: progress bar unit.
        weights: progress each job is worth (default 1; e.g. its patch count).

    Returns:
        The results, in the order of ``jobs``; the first exception raised by a job propagates.
    """
    weights = list(weights) if weights is not None else [1] * len(jobs)
    with tqdm(total=sum(weights), desc=desc, unit=unit) as progress:
        if workers <= 1 or len(jobs) <= 1:
            results = []
            for job, weight in zip(jobs, weights, strict=True):
                results.append(fn(*job))
                progress.update(weight)
            return results
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=SAFE_CONTEXT) as pool:
            futures = [pool.submit(fn, *job) for job in jobs]
            for future, weight in zip(futures, weights, strict=True):
                future.add_done_callback(lambda _, w=weight: progress.update(w))
            return [future.result() for future in futures]
