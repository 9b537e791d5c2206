"""The warnings of :func:`sarfeat.parallel.detect_tiled`'s tasks, raised again on the client.

A scene runs as many tasks (row blocks of its statistics, then tiles), and each may
raise the same warning (every window of a GeoTIFF read with a
:class:`~sarfeat.io.GeoreferencingWarning`, say). Each task gathers its warnings where
it runs (:func:`recorded_task`, with :func:`sarfeat.parallel.task_warnings.recorded`);
the client tallies them (:class:`SceneWarnings`) and raises each distinct warning
once, at the end, naming the first task that raised it, its worker, and how many other
tasks raised it too (:func:`sarfeat.parallel.task_warnings.relay`). Distinct is by category
and message: the same message from two lines (a window's header read, then its pixels) is
one warning, raised where the first task first raised it. The warnings gathered are raised
also when the scene fails part-way (a task raised, or the client was interrupted), before its
error (:meth:`SceneWarnings.relayed`); those of a task that raised come back with its error
(:meth:`SceneWarnings.outcome`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from . import _worker
from .task_warnings import TaskWarning, carried, recorded, relay

__all__ = ["recorded_task", "SceneWarnings"]


def recorded_task(function: Callable, *args: Any) -> tuple[Any, list[TaskWarning], str | None]:
    """Run ``function(*args)`` on a worker, its warnings gathered instead of shown there.

    Returns
    -------
    tuple
        What ``function`` returned, the warnings that it raised (each distinct one once),
        and the address of the worker that ran it (None outside a Dask worker). When
        ``function`` raises, its error carries the warnings and the worker instead
        (:func:`sarfeat.parallel.task_warnings.carried`).
    """
    worker = _worker.worker_name()
    with recorded(worker) as caught:
        result = function(*args)
    return result, caught, worker


class SceneWarnings:
    """The distinct warnings of a scene's tasks, each with the tasks that raised it."""

    def __init__(self) -> None:
        #: (module, category, message) -> the warning as first raised, and its tasks
        self._tasks: dict[tuple[str, str, str], tuple[TaskWarning, list[str]]] = {}

    def add(self, caught: list[TaskWarning] | None, task: str, worker: str | None) -> None:
        """Keep the warnings ``caught`` by ``task`` (which task: 'tile 3 of 12, ...'),
        run on ``worker``."""
        said = f"{task}, on worker {worker}"
        for found in caught or ():
            _, tasks = self._tasks.setdefault(found[:3], (found, []))
            if said not in tasks:  # once per task, whichever of its lines raised it
                tasks.append(said)

    def outcome(self, future, task: str) -> Any:
        """What the finished ``future`` of a :func:`recorded_task` returned, its warnings
        kept (:meth:`add`, as raised by ``task``) and the future released; when the task
        raised, the warnings that its error carries are kept before the error goes on."""
        try:
            result, caught, worker = future.result()
        except BaseException as error:
            caught, worker = carried(error)
            self.add(caught, task, worker)
            raise
        future.release()
        self.add(caught, task, worker)
        return result

    def relay(self) -> None:
        """Raise each distinct warning once, here, in the order first raised, followed by
        the first task that raised it and how many others did."""
        for found, tasks in self._tasks.values():
            others = len(tasks) - 1
            more = f"; and {others} other task{'s' if others > 1 else ''}" if others else ""
            relay([found], f"detect_tiled {tasks[0]}{more}")
        self._tasks.clear()

    @contextlib.contextmanager
    def relayed(self) -> Iterator[None]:
        """Raise the warnings kept (:meth:`relay`) as the block ends, also when it raises:
        then before its error goes on, and a warning that the client's filters make an
        error (``"error"``) is noted on that error rather than raised in its place."""
        try:
            yield
        except BaseException as error:
            try:
                self.relay()
            except Exception as warned:  # noqa: BLE001 - a warning made an error here
                if hasattr(error, "add_note"):  # Python 3.11
                    error.add_note(f"A warning of its tasks was an error too: {warned!r}")
            raise
        self.relay()
