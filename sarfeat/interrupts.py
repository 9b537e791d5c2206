"""SIGTERM stops a command as Ctrl-C does: :func:`sigterm_as_interrupt`.

Python ends a process on SIGTERM (``kill``, a batch scheduler's stop) at once,
without a word and without running ``finally`` blocks, so that temporary files
stay behind; within :func:`sigterm_as_interrupt` it raises
:class:`KeyboardInterrupt` instead, which the commands of ``sarfeat`` and of
``sarfeat.training`` answer with one line and exit status 143 (130 for Ctrl-C).
Standard library only (layer 0).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from typing import Iterable, Iterator

__all__ = ["SIGINT_STATUS", "SIGTERM_STATUS", "sigterm_as_interrupt", "interrupted_status",
           "exit_on_signals", "finish_at_exit", "ignored"]

#: Exit status of a command stopped by Ctrl-C (SIGINT), as a shell reports it.
SIGINT_STATUS = 128 + signal.SIGINT
#: Exit status of a command stopped by SIGTERM.
SIGTERM_STATUS = 128 + signal.SIGTERM


def ignored(signum: int) -> bool:
    """Whether the process ignores the signal ``signum``.

    A job started in the background by a shell without job control (``cmd &``
    in a script, CI) inherits SIGINT ignored, so that the Ctrl-C meant for the
    script's foreground does not stop it; ``nohup`` and batch systems may ignore
    others. sarfeat's handlers leave such a signal ignored.

    Parameters
    ----------
    signum : int
        The signal, such as ``signal.SIGINT``.

    Returns
    -------
    bool
        True when its disposition is ``signal.SIG_IGN``.
    """
    return signal.getsignal(signum) is signal.SIG_IGN


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list]:
    """Within the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does.

    Python's default would end the process without a word and without running
    ``finally`` blocks (temporary files left behind); the previous handler is
    restored after the block. Outside the main thread (where signals are not the
    thread's to handle) nothing changes, nor where SIGTERM is ignored
    (:func:`ignored`).

    Yields
    ------
    terminated : list of int
        Empty until SIGTERM arrives, then holding it: what
        :func:`interrupted_status` reads to tell SIGTERM from Ctrl-C.

    Examples
    --------
    A script's work, stopped by Ctrl-C or SIGTERM with the status a shell
    expects (130 or 143):

    >>> import sys
    >>> try:
    ...     with sigterm_as_interrupt() as terminated:
    ...         pass  # the work
    ... except KeyboardInterrupt:
    ...     sys.exit(interrupted_status(terminated))
    >>> terminated
    []
    """
    terminated: list[int] = []

    def stop(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        previous = None if ignored(signal.SIGTERM) else signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield terminated
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def interrupted_status(terminated: list) -> int:
    """The exit status of a command interrupted.

    Parameters
    ----------
    terminated : list
        The list that :func:`sigterm_as_interrupt` yielded.

    Returns
    -------
    int
        :data:`SIGTERM_STATUS` when ``terminated`` noted SIGTERM, else
        :data:`SIGINT_STATUS`.
    """
    return SIGTERM_STATUS if terminated else SIGINT_STATUS


def exit_on_signals(name: str, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)
                    ) -> None:
    """From now on, each of ``signals`` ends the process at once, saying so in one line.

    The line is ``'NAME: interrupted'`` or ``'NAME: stopped by SIGTERM'``, and
    the process is ended by the signal itself (exit status 130 or 143 in a shell).

    For a command whose work is over while Python exits (joining the threads and
    processes of a Dask cluster, running exit handlers): Python's default would end
    it without a word (SIGTERM; SIGINT once Python restores the default) or with a
    traceback of the exit handler interrupted. Standard output is flushed first. A
    signal that the process ignores (:func:`ignored`) stays ignored; outside the
    main thread nothing changes.

    Parameters
    ----------
    name : str
        The command's name, which starts the line.
    signals : iterable of int
        The signals to handle so.
    """
    def stop(signum, frame):
        how = "stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted"
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(Exception):
            print(f"{name}: {how}", file=sys.stderr, flush=True)
        signal.signal(signum, signal.SIG_DFL)  # ended by the signal, as a shell reports it
        os.kill(os.getpid(), signum)

    for signum in signals:
        if ignored(signum):
            continue
        try:
            signal.signal(signum, stop)
        except ValueError:  # not the main thread
            return


def finish_at_exit() -> None:
    """Register an exit handler after which SIGINT and SIGTERM no longer end the process.

    Registered before any other (it then runs after them), it is the last Python
    code that runs: the rest of Python's exit frees memory (0.1-0.4 s with
    NumPy, ONNX Runtime, Dask loaded) with the default dispositions back, under
    which these signals would end a process whose work is done without a word. The
    process ends with its own exit status instead; the signals are ignored, not
    held back, so that no thread still alive lets one through.
    """
    def ignore():
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, signal.SIG_IGN)

    atexit.register(ignore)
