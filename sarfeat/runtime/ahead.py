"""Compute the next item of a sequence while the caller works on the current one.

The detector's network (ONNX Runtime or torch, which release the GIL) runs on
the next tile of the pyramid while the peaks and descriptors of the current
tile are found in the calling thread. On a CPU with two cores or more this
fills the core that the Python side leaves idle; the results and their order
are those of the plain loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["one_ahead", "usable_cores"]

Item = TypeVar("Item")
_END = object()


def usable_cores() -> int:
    """CPUs this process may run on (its affinity where the OS tells it, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def one_ahead(items: Iterable[Item]) -> Iterator[Item]:
    """Yield the items of ``items`` in order, each next one computed in a second thread.

    At most one item is computed ahead. An exception raised while computing
    an item is raised where that item would have been yielded. When the caller
    stops early, the item in progress is finished and dropped, and ``items``
    is closed.

    Examples
    --------
    >>> list(one_ahead(x * x for x in range(4)))
    [0, 1, 4, 9]
    """
    iterator = iter(items)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="sarfeat-ahead") as pool:
            pending = pool.submit(next, iterator, _END)
            while True:
                item = pending.result()
                if item is _END:
                    return
                pending = pool.submit(next, iterator, _END)
                yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
