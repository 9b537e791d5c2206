"""SIGTERM stops a command as Ctrl-C does: :func:`sigterm_as_interrupt`.

Python ends a process on SIGTERM (``kill``, a batch scheduler's stop) at once,
without a word and without running ``finally`` blocks, so that temporary files
stay behind; within :func:`sigterm_as_interrupt` it raises
:class:`KeyboardInterrupt` instead, which the commands of ``sarfeat`` and of
``sarfeat.training`` answer with one line and exit status 143 (130 for Ctrl-C).
Standard library only (layer 0).
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator

__all__ = ["SIGINT_STATUS", "SIGTERM_STATUS", "sigterm_as_interrupt", "interrupted_status"]

#: Exit status of a command stopped by Ctrl-C (SIGINT), as a shell reports it.
SIGINT_STATUS = 128 + signal.SIGINT
#: Exit status of a command stopped by SIGTERM.
SIGTERM_STATUS = 128 + signal.SIGTERM


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[list]:
    """Within the block SIGTERM raises KeyboardInterrupt (and is noted in the list yielded),
    where Python's default would end the process without a word; restored after it.

    Outside the main thread (where signals are not the thread's to handle) nothing
    changes.
    """
    terminated: list[int] = []

    def stop(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield terminated
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def interrupted_status(terminated: list) -> int:
    """The exit status of a command interrupted: :data:`SIGTERM_STATUS` when ``terminated``
    (the list of :func:`sigterm_as_interrupt`) noted SIGTERM, else :data:`SIGINT_STATUS`."""
    return SIGTERM_STATUS if terminated else SIGINT_STATUS
