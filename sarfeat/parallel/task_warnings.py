"""The warnings of a task, gathered where it runs and raised again on the client.

A warning raised on a Dask worker goes to the worker's standard error: on a cluster
of its own, a log that the client's user does not read. :func:`recorded` gathers the
warnings that a task raises, where it runs, instead of showing them there; the task
sends them back with its outcome, and :func:`relay` raises them again on the client,
once per task, with the client's warning filters (``sarfeat register-stack``
shows them as ``sarfeat register`` shows its own; a
:class:`~sarfeat.io.GeoreferencingWarning`, which its note already says, is not
shown twice).

A warning is gathered when the worker's filters let it through (Python's default
shows a warning of the same text from the same line once per process): in the
task's own thread, or in another thread but the process's main one (the threads of its
optical-SAR matcher, say) while the task is the only one that the process runs; a
warning of another thread is shown where it is raised, as before.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import warnings
from typing import Iterator, NamedTuple

__all__ = ["TaskWarning", "recorded", "relay"]

_LOCK = threading.Lock()
#: Thread id -> the warnings of the task that the thread runs.
_TASKS: dict[int, list] = {}


class TaskWarning(NamedTuple):
    """One warning of a task, as it travels: plain strings and numbers, so that a
    category that the client cannot import does not stop the outcome from coming back."""

    module: str
    category: str
    message: str
    filename: str
    lineno: int


def _install() -> None:
    """Have ``warnings.showwarning`` give the warnings of a recording thread to its task
    (installed again whenever something, a ``catch_warnings`` block, has put another in)."""
    shown = warnings.showwarning
    if getattr(shown, "gathers_tasks", False):
        return

    def gather(message, category, filename, lineno, file=None, line=None):
        with _LOCK:
            caught = _TASKS.get(threading.get_ident())
            if caught is None and len(_TASKS) == 1 \
                    and threading.current_thread() is not threading.main_thread():
                caught = next(iter(_TASKS.values()))  # a thread of the one task running
        if caught is None:
            return shown(message, category, filename, lineno, file, line)
        found = TaskWarning(category.__module__, category.__qualname__, str(message),
                            str(filename), int(lineno))
        if found not in caught:
            caught.append(found)
        return None

    gather.gathers_tasks = True
    warnings.showwarning = gather


@contextlib.contextmanager
def recorded() -> Iterator[list[TaskWarning]]:
    """Gather the warnings raised within the block, instead of showing them.

    Yields
    ------
    list of TaskWarning
        Filled as the block runs, each distinct warning once, in the order raised.
    """
    caught: list[TaskWarning] = []
    key = threading.get_ident()
    with _LOCK:
        _install()
        _TASKS[key] = caught
    try:
        yield caught
    finally:
        with _LOCK:
            _TASKS.pop(key, None)


def _category(found: TaskWarning) -> tuple[type[Warning], str]:
    """The class of ``found``'s category on the client, with the message; a category that
    cannot be imported here is a UserWarning whose message names it."""
    try:
        category = importlib.import_module(found.module)
        for part in found.category.split("."):
            category = getattr(category, part)
    except Exception:  # noqa: BLE001 - a module the client lacks, or one that fails
        category = None
    if isinstance(category, type) and issubclass(category, Warning):
        return category, found.message
    return UserWarning, f"{found.module}.{found.category}: {found.message}"


def relay(caught: list[TaskWarning] | None, where: str) -> None:
    """Raise each warning of a task again, here, its message followed by ``where`` (which
    task, on which worker), at the place where the task raised it.

    Parameters
    ----------
    caught : list of TaskWarning or None
        What :func:`recorded` gathered (None: nothing).
    where : str
        Said after each message, in parentheses.
    """
    for found in caught or ():
        category, message = _category(found)
        warnings.warn_explicit(f"{message} ({where})", category, found.filename, found.lineno)
