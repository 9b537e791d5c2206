"""Threads for the dense matcher's independent candidates.

The dense (optical-SAR) matcher tries many resamplings of image 2 that do not
depend on one another: the turns and scales of the global search, the
neighbours of each hypothesis in the refinement, the turns and scales of each
whole-overlap polish. Its time goes to SciPy's filters and FFTs and to NumPy,
which release the GIL, so these candidates run on a pool of threads.
:func:`parallel_map` returns their results in the order of the candidates and
the callers reduce them in that order, as a loop would: the answers are the
same, to the bit, at any number of threads.

The number of threads is ``OMP_NUM_THREADS`` when it is set (the usual cap on
a library's threads; Dask's workers set it to 1), else the CPUs this process
may run on (:func:`dense_threads`).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["dense_threads", "parallel_map"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

_POOL: dict = {"executor": None, "workers": 0}
_POOL_LOCK = threading.Lock()
_IN_TASK = threading.local()  # set in the pool's threads: a task's own map runs inline


def dense_threads() -> int:
    """Threads the dense matcher uses: ``OMP_NUM_THREADS`` when it is a positive
    integer, else the CPUs this process may run on."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if _POOL["executor"] is None or _POOL["workers"] != workers:
            if _POOL["executor"] is not None:
                _POOL["executor"].shutdown(wait=False)
            _POOL["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="sarfeat-dense",
                                                   initializer=_mark_task_thread)
            _POOL["workers"] = workers
        return _POOL["executor"]


def _mark_task_thread() -> None:
    _IN_TASK.active = True


def _forget_pool() -> None:  # a forked child has none of the parent's threads
    _POOL["executor"], _POOL["workers"] = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def parallel_map(function: Callable[[_Item], _Result],
                 items: Iterable[_Item]) -> Iterator[_Result]:
    """``function`` of each item, in the items' order, on :func:`dense_threads` threads.

    With one thread, one item, or when called from a task of the pool itself
    (no nested pools), the items run one after the other in this thread, each
    result made when it is asked for. ``function`` must not depend on the
    order in which the items run.
    """
    items = list(items)
    workers = min(dense_threads(), len(items))
    if workers <= 1 or getattr(_IN_TASK, "active", False):
        return map(function, items)
    return _executor(dense_threads()).map(function, items)
