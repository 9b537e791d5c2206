"""The client side: a Dask client to run on, and results as they finish."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["require_distributed", "client_for", "finished", "lost", "lost_error",
           "LOST_RETRIES"]

_INSTALL_HINT = (
    "sarfeat.parallel needs dask.distributed: install it with "
    "pip install 'sarfeat[parallel]' (or pip install 'dask[distributed]')"
)


def require_distributed() -> ModuleType:
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
def client_for(client: Client | None = None, n_workers: int | None = None
               ) -> Iterator[Client]:
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

    Notes
    -----
    Interrupted (Ctrl-C, or SIGTERM within
    :func:`sarfeat.interrupts.sigterm_as_interrupt`), even while it starts, the
    new cluster is closed whole and without distributed's tracebacks or warnings
    of workers cut short; its worker processes ignore Ctrl-C (sent by a terminal to
    the whole process group) and are closed by this process.
    """
    distributed = require_distributed()
    _check_count("n_workers", n_workers)
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        yield client
        return
    workers = n_workers or max(1, os.cpu_count() or 1)
    cluster = _started_cluster(distributed, workers)
    try:
        own = distributed.Client(cluster)
        own.register_plugin(_quiet_close_plugin(distributed))
    except BaseException:
        _close(None, cluster, interrupted=True)
        raise
    try:
        yield own
    except BaseException as error:
        _close(own, cluster, interrupted=isinstance(error, KeyboardInterrupt))
        raise
    _close(own, cluster, interrupted=False)


def _started_cluster(distributed, workers: int):
    """A new ``LocalCluster`` of ``workers`` processes, started whole even when Ctrl-C or
    SIGTERM (``sarfeat.interrupts.sigterm_as_interrupt``) interrupts the start.

    Interrupted half-way, distributed cannot close the cluster (its exit handler
    then prints an AssertionError): the cluster starts in a thread of its own while
    this one waits, and is closed once started when the wait is interrupted (a
    second interruption stops that wait, should the start hang). That
    thread blocks SIGINT, and so do the worker processes that it and its event loop
    start (they inherit the mask): Ctrl-C at a terminal, sent to the whole process
    group, then stops this process alone, which closes the workers, rather than
    each worker with a traceback of its own.
    """
    def make():
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, dashboard_address=":0")

    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks, no Ctrl-C to a group
        return make()
    from multiprocessing import resource_tracker

    made: list = []

    def start():
        try:
            # multiprocessing unblocks SIGINT in the thread that starts its resource
            # tracker (the first worker's spawn): start it before, with SIGINT unblocked
            resource_tracker.ensure_running()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            made.append(make())
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            made.append(error)

    starter = threading.Thread(target=start, name="sarfeat-cluster-start", daemon=True)
    starter.start()
    try:
        starter.join()
    except KeyboardInterrupt:
        starter.join()  # a second interruption stops waiting (distributed may then complain)
        if made and not isinstance(made[0], BaseException):
            _close(None, made[0], interrupted=True)
        raise
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def _join_through_interrupts(thread: threading.Thread) -> None:
    """Wait for ``thread`` (closing a cluster, which distributed bounds in time) to end,
    through further interruptions (a second Ctrl-C)."""
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            pass


#: What distributed logs when a cluster closes as it should after an interruption: a worker
#: busy with a task is killed rather than left to finish it.
_EXPECTED_AT_INTERRUPT = ("Worker process still alive after",)


def _expected(record: logging.LogRecord) -> bool:
    return not any(text in record.getMessage() for text in _EXPECTED_AT_INTERRUPT)


def _not_closing_with_a_task(record: logging.LogRecord) -> bool:
    """False for distributed's warning that a worker closed while running a task (as it
    does when the client is interrupted): 'Async instruction for <Task cancelled
    name="execute(...)"> ended with CancelledError'."""
    message = record.getMessage()
    return not (message.startswith("Async instruction for <Task cancelled")
                and message.endswith("ended with CancelledError"))


def _not_heartbeat_after_close(record: logging.LogRecord) -> bool:
    """False for a worker's error that its heartbeat found the scheduler's connection
    closed ('Failed to communicate with scheduler during heartbeat', a CommClosedError): on
    a cluster of :func:`client_for`'s own the scheduler runs in the client's process and
    closes as the cluster does, and a worker whose event loop was held up as Ctrl-C came
    (unpacking its first task: imports that hold the GIL) heartbeats once more after that.
    Any other failure of a heartbeat (a scheduler that does not answer) is kept."""
    if not record.getMessage().startswith("Failed to communicate with scheduler during"):
        return True
    from distributed.comm import CommClosedError

    return not (record.exc_info and isinstance(record.exc_info[1], CommClosedError))


def _quiet_close_plugin(distributed):
    """A worker plugin that leaves out, in each worker process of a cluster of
    :func:`client_for`'s own, the warning of a task cut short as the worker closes
    (:func:`_not_closing_with_a_task`) and the error of a heartbeat after the scheduler
    closed (:func:`_not_heartbeat_after_close`): what an interrupted command does."""

    class QuietClose(distributed.WorkerPlugin):
        name = "sarfeat-quiet-close"

        def setup(self, worker):
            logging.getLogger("distributed.worker.state_machine").addFilter(
                _not_closing_with_a_task)
            logging.getLogger("distributed.worker").addFilter(_not_heartbeat_after_close)

    return QuietClose()


def _close(client, cluster, interrupted: bool) -> None:
    """Close ``client`` (None: none) and ``cluster``. After an interruption, without
    distributed's warning of workers killed as they should be
    (:data:`_EXPECTED_AT_INTERRUPT`), and through further interruptions (the workers
    are closed, not left running; an error of the closing is printed by its thread)."""
    if not interrupted:
        _close_now(client, cluster)
        return
    nanny = logging.getLogger("distributed.nanny")
    nanny.addFilter(_expected)
    try:
        closing = threading.Thread(target=_close_now, args=(client, cluster),
                                   name="sarfeat-cluster-close", daemon=True)
        closing.start()
        _join_through_interrupts(closing)
    finally:
        nanny.removeFilter(_expected)


def _close_now(client, cluster) -> None:
    try:
        if client is not None:
            client.close()
    finally:
        cluster.close()


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
