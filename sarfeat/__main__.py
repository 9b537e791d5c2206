"""``python -m sarfeat`` and the ``sarfeat`` command: the command line (see :mod:`sarfeat.cli`)."""

import sys

from .interrupts import interrupted_status, sigterm_as_interrupt


def run() -> int:
    """Import the command line and run it; return the exit status.

    Importing it takes a moment (NumPy, SciPy): Ctrl-C or SIGTERM then ends the
    command in one line, with exit status 130 or 143, as it does once running
    (:func:`sarfeat.cli.common.guarded`), not with a traceback or without a word.
    """
    with sigterm_as_interrupt() as terminated:
        try:
            from .cli import main
        except KeyboardInterrupt:
            how = "stopped by SIGTERM" if terminated else "interrupted"
            print(f"sarfeat: {how}", file=sys.stderr)
            return interrupted_status(terminated)
    return main()


if __name__ == "__main__":
    sys.exit(run())
