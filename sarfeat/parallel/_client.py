"""The client side: a Dask client to run on, and results as they finish."""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

__all__ = ["require_distributed", "client_for", "finished", "lost", "lost_error",
           "LOST_RETRIES"]

_INSTALL_HINT = (
    "sarfeat.parallel needs dask.distributed: install it with "
    "pip install 'sarfeat[parallel]' (or pip install 'dask[distributed]')"
)


def require_distributed():
    """The ``distributed`` module, or an ImportError that says how to install it.

    Returns
    -------
    module
        ``distributed`` (dask.distributed).

    Raises
    ------
    ImportError
        Without dask.distributed, naming ``pip install 'sarfeat[parallel]'``.
    """
    try:
        import distributed
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return distributed


def _check_count(name: str, value) -> None:
    if value is not None and not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name} must be None or a positive integer, got {value!r}")


@contextlib.contextmanager
def client_for(client=None, n_workers: int | None = None) -> Iterator:
    """Yield ``client``, or a client of a new ``LocalCluster`` closed on exit.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as it is (and left open).
    n_workers : int, optional
        Worker processes of the new cluster, one thread each; by default one
        per CPU core. Ignored when ``client`` is given.

    Yields
    ------
    distributed.Client
        ``client``, or the new cluster's client (the cluster is closed on exit).
    """
    distributed = require_distributed()
    _check_count("n_workers", n_workers)
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        yield client
        return
    workers = n_workers or max(1, os.cpu_count() or 1)
    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
    ) as cluster, distributed.Client(cluster) as own:
        yield own


#: Times a task lost with its worker (killed, or its future cancelled) is submitted again.
LOST_RETRIES = 2


def lost_error(error: BaseException) -> bool:
    """Whether ``error`` says a task was lost with its worker, not that it failed: a
    ``KilledWorker`` (it was running on workers that died) or a cancellation."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    return isinstance(error, (KilledWorker, CancelledError))


def lost(future) -> bool:
    """Whether a finished future was lost rather than computed: its task was cancelled (as
    when workers die in a row) or killed a worker too often (:func:`lost_error`)."""
    if future.status == "cancelled":
        return True
    return future.status == "error" and lost_error(future.exception())


def finished(futures: list, progress: bool, desc: str, unit: str,
             resubmit: Callable[[int], object] | None = None,
             lost_retries: int = LOST_RETRIES) -> Iterator[tuple]:
    """Yield ``(index, future, losses)`` as each of ``futures`` finishes, with a progress bar.

    A future that raised (after Dask's retries) is yielded like the others;
    ``future.status`` says which. One :func:`lost` with its worker is submitted
    again, ``resubmit(index)`` giving the new future, at most ``lost_retries``
    times; ``losses`` counts those resubmissions (a future still lost after them
    is yielded as it is).
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    index_of = {future.key: index for index, future in enumerate(futures)}
    losses = [0] * len(futures)
    with tqdm(total=len(futures), desc=desc, unit=unit, disable=not progress) as bar:
        pending = as_completed(futures)
        for future in pending:
            index = index_of.pop(future.key)
            if resubmit is not None and losses[index] < lost_retries and lost(future):
                losses[index] += 1
                future.release()
                again = resubmit(index)
                index_of[again.key] = index
                pending.add(again)
                continue
            bar.update()
            yield index, future, losses[index]
