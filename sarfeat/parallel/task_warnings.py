"""The warnings of a task, gathered where it runs and raised again on the client.

A warning raised on a Dask worker goes to the worker's standard error: on a cluster
of its own, a log that the client's user does not read. :func:`recorded` gathers the
warnings that a task raises, where it runs, instead of showing them there; the task
sends them back with its outcome, and :func:`relay` raises them again on the client,
once per task, with the client's warning filters (``sarfeat register-stack``
shows them as ``sarfeat register`` shows its own; a
:class:`~sarfeat.io.GeoreferencingWarning`, which its note already says, is not
shown twice), from the module, file and line that raised them on the worker.

A warning is gathered in the task's own thread, or in another thread but the process's
main one (the threads of its optical-SAR matcher, say) while the task is the only one
that the process runs; a warning of another thread is shown where it is raised, as
before. The worker's filters still decide whether a task's warning is gathered
(``"ignore"``), raised as an error (``"error"``) or gathered, but each task gathers its
own: Python's default shows a warning of the same text from the same line once per
process, which kept it from every task after the first that a worker ran. While a task
records, a filter at the front of :data:`warnings.filters` matches in the threads whose
warnings a task gathers alone (``"always"``, so that Python's once-per-place registry is
not written for them), and the other filters are applied here; a thread that runs no
task sees the filters as they were. The filter is taken out when the last task stops
recording.

Python shows a warning of the ``"default"`` action once per place (its text, class and
line, kept in the raising module's ``__warningregistry__``), and it reads that registry
before any filter: a warning that a thread running no task showed would be hidden from a
task raising it from the same place. Python forgets that registry whenever a filter is
added with :func:`warnings.simplefilter` (since Python 3.4), so each task, as it starts
recording, puts the task filter at the front again and adds a filter that matches
nothing, taken out at once (:func:`_forget_shown`); so does the last task as it stops.
A task that starts after a thread running no task showed a warning gathers it too (a
thread running no task may then show a warning once more, as after any change of the
filters). One case is left: a warning that a thread running no task shows *while* a
task records, then raised by that task from the same place, is not gathered, as the
registry is the module's, not the thread's (forgetting it at each such warning would
have those threads show each of their warnings every time).

A task that raises (:func:`recorded`'s block) loses nothing that it gathered: its error
carries the warnings to where it is caught (pickled with it, from a worker to the
client), and :func:`carried` takes them off it.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import warnings
from typing import Iterator, NamedTuple

__all__ = ["TaskWarning", "recorded", "carried", "relay"]

_LOCK = threading.RLock()
#: Thread id -> the warnings of the task that the thread runs.
_TASKS: dict[int, list] = {}
#: Per thread: the module of the warning that the task filter has just let through.
_RAISED_IN = threading.local()


class TaskWarning(NamedTuple):
    """One warning of a task, as it travels: plain strings and numbers, so that a
    category that the client cannot import does not stop the outcome from coming back.

    ``module`` and ``category`` name the warning's class; ``raised_in`` is the module
    that raised it (its ``__name__``, which a filter's module pattern matches; None when
    not known: then the file's path stands in for it, as in Python's
    :func:`warnings.warn_explicit`)."""

    module: str
    category: str
    message: str
    filename: str
    lineno: int
    raised_in: str | None = None


def _gatherer() -> list | None:
    """The warnings of the task that the calling thread's warnings go to (None: none)."""
    with _LOCK:
        caught = _TASKS.get(threading.get_ident())
        if caught is None and len(_TASKS) == 1 \
                and threading.current_thread() is not threading.main_thread():
            caught = next(iter(_TASKS.values()))  # a thread of the one task running
    return caught


class _TaskThreads:
    """The module pattern of the task filter: it matches in a thread whose warnings a task
    gathers (keeping the module, which ``showwarning`` is not told), nowhere else."""

    def match(self, module: str) -> bool:
        if _gatherer() is None:
            return False
        _RAISED_IN.module = module
        return True

    def __repr__(self) -> str:
        return "<the threads of a sarfeat.parallel task>"


_THREADS = _TaskThreads()


class _Unraised(Warning):
    """A warning class that nothing raises: a filter of it decides nothing."""


#: The filter of :class:`_Unraised`, as :func:`warnings.simplefilter` makes it.
_UNRAISED_FILTER = ("ignore", None, _Unraised, None, 0)


def _forget_shown() -> None:
    """Have Python forget the warnings that it showed once per place, through the public
    API: adding a filter with :func:`warnings.simplefilter` does so (Python 3.4 and later,
    whatever the private function behind it is named). The filter added matches nothing
    and is taken out again at once."""
    warnings.simplefilter("ignore", _Unraised)
    with contextlib.suppress(ValueError):
        warnings.filters.remove(_UNRAISED_FILTER)


def _put_filter(on: bool) -> None:
    """Put the task filter at the front of the filters (``on``: also when it is there
    already, behind filters added since), or take it out; either way, have Python forget
    the warnings that it showed once per place."""
    kept = [entry for entry in warnings.filters if entry[3] is not _THREADS]
    if on:
        warnings.filters[:] = [("always", None, Warning, _THREADS, 0), *kept]
    elif len(kept) < len(warnings.filters):
        warnings.filters[:] = kept
    else:
        return
    _forget_shown()


def _matches(pattern, value: str) -> bool:
    """Whether a filter's message or module pattern (None, a string, a regex) matches."""
    if pattern is None:
        return True
    if isinstance(pattern, str):  # as Python's own default filter ('__main__') holds it
        return pattern == value
    return bool(pattern.match(value))


def _action(category: type[Warning], text: str, module: str, lineno: int) -> str:
    """What the filters other than the task filter do with a warning."""
    for action, message, kind, where, line in warnings.filters:
        if where is _THREADS:
            continue
        if _matches(message, text) and issubclass(category, kind) \
                and _matches(where, module) and (line == 0 or line == lineno):
            return action
    return warnings.defaultaction


def _install() -> None:
    """Have ``warnings.showwarning`` give the warnings of a recording thread to its task
    (installed again whenever something, a ``catch_warnings`` block, has put another in)."""
    shown = warnings.showwarning
    if getattr(shown, "gathers_tasks", False):
        return

    def gather(message, category, filename, lineno, file=None, line=None):
        caught = _gatherer()
        if caught is None:
            return shown(message, category, filename, lineno, file, line)
        module, _RAISED_IN.module = getattr(_RAISED_IN, "module", None), None
        if module is not None:  # let through by the task filter: the others decide
            action = _action(category, str(message), module, lineno)
            if action == "ignore":
                return None
            if action == "error":
                raise message if isinstance(message, Warning) else category(message)
        found = TaskWarning(category.__module__, category.__qualname__, str(message),
                            str(filename), int(lineno), module)
        if found not in caught:
            caught.append(found)
        return None

    gather.gathers_tasks = True
    warnings.showwarning = gather


#: The attribute of a task's error that carries its warnings (:func:`recorded`).
_CARRIED = "_sarfeat_task_warnings"


def _carry(error: BaseException, caught: list[TaskWarning], worker: str | None) -> None:
    """Have ``error`` carry ``caught`` and ``worker`` (after those that it carries already,
    from a task within the task)."""
    before, _ = getattr(error, _CARRIED, None) or ([], None)
    with contextlib.suppress(AttributeError, TypeError):  # an error that keeps no attribute
        setattr(error, _CARRIED, (before + [found for found in caught if found not in before],
                                  worker))


@contextlib.contextmanager
def recorded(worker: str | None = None) -> Iterator[list[TaskWarning]]:
    """Gather the warnings raised within the block, instead of showing them.

    Parameters
    ----------
    worker : str, optional
        The address of the worker that runs the block, carried with its error.

    Yields
    ------
    list of TaskWarning
        Filled as the block runs, each distinct warning once, in the order raised.

    Notes
    -----
    When the block raises, its error carries the warnings gathered, and ``worker``, to
    where it is caught (an attribute of the error, which is pickled with it when Dask
    sends it from a worker): :func:`carried` takes them off it. Dask sends an error
    whose message is longer than its ``distributed.admin.max-error-length`` (10000
    characters) as a new one, without them.
    """
    caught: list[TaskWarning] = []
    key = threading.get_ident()
    with _LOCK:
        _install()
        _TASKS[key] = caught
        _put_filter(True)
    try:
        yield caught
    except BaseException as error:
        _carry(error, caught, worker)
        raise
    finally:
        with _LOCK:
            _TASKS.pop(key, None)
            if not _TASKS:
                _put_filter(False)


def carried(error: BaseException) -> tuple[list[TaskWarning], str | None]:
    """The warnings that the error of a task carries (:func:`recorded`), taken off it so
    that they are relayed once, and the worker that ran the task.

    Parameters
    ----------
    error : BaseException
        The error of a task (as Dask raises it on the client), or any other.

    Returns
    -------
    tuple
        The warnings (empty when the error carries none) and the worker's address (None
        when not known).
    """
    found = getattr(error, _CARRIED, None)
    if found is None:
        return [], None
    with contextlib.suppress(AttributeError):
        delattr(error, _CARRIED)
    return list(found[0]), found[1]


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
    task, on which worker), from the module, file and line where the task raised it.

    Parameters
    ----------
    caught : list of TaskWarning or None
        What :func:`recorded` gathered (None: nothing).
    where : str
        Said after each message, in parentheses.
    """
    for found in caught or ():
        category, message = _category(found)
        known = {} if found.raised_in is None else {"module": found.raised_in}
        warnings.warn_explicit(f"{message} ({where})", category, found.filename, found.lineno,
                               **known)  # (module=None: Python 3.11 shows nothing)
