"""``python -m sarfeat`` and the ``sarfeat`` command: the command line (see :mod:`sarfeat.cli`)."""

import signal
import sys

from .interrupts import (exit_on_signals, finish_at_exit, interrupted_status,
                         sigterm_as_interrupt)


def run() -> int:
    """Import the command line and run it; return the exit status.

    Importing it takes a moment (NumPy, SciPy): Ctrl-C or SIGTERM then ends the
    command in one line, with exit status 130 or 143, as it does once running
    (:func:`sarfeat.cli.common.guarded`), not with a traceback or without a word;
    so do they once the command is over, while Python runs its exit handlers
    (:func:`sarfeat.interrupts.exit_on_signals`); after the last of them, as Python
    frees memory, they no longer stop the process, which ends with its own status
    (:func:`sarfeat.interrupts.finish_at_exit`).
    """
    finish_at_exit()  # first registered, last run: the end of Python's exit is not cut short
    with sigterm_as_interrupt() as terminated:
        try:
            from .cli import parse_command_line, run_command
        except KeyboardInterrupt:
            how = "stopped by SIGTERM" if terminated else "interrupted"
            print(f"sarfeat: {how}", file=sys.stderr)
            return interrupted_status(terminated)
    # once the command is over, Python's exit (a Dask cluster's threads and processes
    # joined) ends in one line too: SIGTERM from now on (the command's own handling
    # overrides this one while it runs), Ctrl-C once the command has returned; the line
    # names the subcommand that argparse parsed (not a word guessed from sys.argv, which
    # may be an option's value or a file)
    exit_on_signals("sarfeat", (signal.SIGTERM,))
    args = parse_command_line()  # exits with status 2 on bad usage
    name = "sarfeat" if args.command is None else f"sarfeat {args.command}"
    exit_on_signals(name, (signal.SIGTERM,))
    status = run_command(args)
    exit_on_signals(name, (signal.SIGINT,))
    return status


if __name__ == "__main__":
    sys.exit(run())
