"""Threads for the dense matcher's independent candidates.

The dense (optical-SAR) matcher tries many resamplings of image 2 that do not
depend on one another: the turns and scales of the global search, the
neighbours of each hypothesis in the refinement, the turns and scales of each
whole-overlap polish. Its time goes to SciPy's filters and FFTs and to NumPy,
which release the GIL, so these candidates run on a pool of threads.
:func:`parallel_map` returns their results in the order of the candidates and
the callers reduce them in that order, as a loop would: the answers are the
same, to the bit, at any number of threads.

The number of threads is decided in one place, :func:`dense_threads`: the
count given to :func:`set_dense_threads` (also ``sarfeat.set_dense_threads``)
when there is one, else ``OMP_NUM_THREADS`` when it is set (the usual cap on a
library's threads; Dask's workers set it to 1), else the CPUs this process may
run on. :mod:`sarfeat.parallel`'s workers set it from their ``torch_threads``
(1 by default), so a cluster whose workers do not set ``OMP_NUM_THREADS`` still
runs one thread per worker.
"""

from __future__ import annotations

import numbers
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

__all__ = ["checked_threads", "dense_threads", "parallel_map", "set_dense_threads"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

_POOL: dict = {"executor": None, "workers": 0}
_POOL_LOCK = threading.Lock()
_IN_TASK = threading.local()  # set in the pool's threads: a task's own map runs inline
_SET: list[int | None] = [None]  # set_dense_threads's count (None: not set)


def checked_threads(threads, name: str = "threads") -> int | None:
    """``threads`` as an int when it is a positive whole number, None when it is None.

    Parameters
    ----------
    threads : int or None
        A count of threads (a NumPy integer too; not a bool).
    name : str
        The argument's name, for the error.

    Returns
    -------
    int or None

    Raises
    ------
    TypeError
        When ``threads`` is neither None nor an integer (a bool or a float included).
    ValueError
        When it is an integer below 1.
    """
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"{name} must be a positive int or None, got {threads!r} "
                        f"({type(threads).__name__})")
    if threads < 1:
        raise ValueError(f"{name} must be at least 1, got {threads!r}")
    return int(threads)


def set_dense_threads(threads: int | None) -> None:
    """Threads of the dense (optical-SAR) matcher in this process, from now on.

    The counterpart of :func:`torch.set_num_threads` for the pool on which
    the dense matcher runs its independent candidates; it takes precedence
    over ``OMP_NUM_THREADS``. The setting is the process's (every thread's);
    the answers are the same at any count.

    Parameters
    ----------
    threads : int or None
        At least 1 (1: the candidates run one after the other in the calling
        thread); None goes back to the default, ``OMP_NUM_THREADS`` when set,
        else every CPU this process may run on.

    Raises
    ------
    TypeError, ValueError
        For anything but None or a positive whole number (0, a negative
        number, a float or a bool).

    Examples
    --------
    >>> import sarfeat
    >>> from sarfeat.matching.dense_threads import dense_threads
    >>> sarfeat.set_dense_threads(1)
    >>> dense_threads()
    1
    >>> sarfeat.set_dense_threads(None)  # back to OMP_NUM_THREADS, else every CPU
    """
    _SET[0] = checked_threads(threads)


def dense_threads() -> int:
    """Threads the dense matcher uses: :func:`set_dense_threads`'s count when set, else
    ``OMP_NUM_THREADS`` when it is a positive integer, else the CPUs this process may
    run on."""
    if _SET[0] is not None:
        return _SET[0]
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    """The pool of ``workers`` threads (a pool of another size is replaced); hold _POOL_LOCK."""
    if _POOL["executor"] is None or _POOL["workers"] != workers:
        if _POOL["executor"] is not None:
            _POOL["executor"].shutdown(wait=False)  # its submitted tasks still run
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
    threads = dense_threads()
    if min(threads, len(items)) <= 1 or getattr(_IN_TASK, "active", False):
        return map(function, items)
    with _POOL_LOCK:  # submitted before another count can shut this pool down
        return _executor(threads).map(function, items)
