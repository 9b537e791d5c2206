"""The ``sarfeat`` command line: one module per subcommand over the library.

``sarfeat detect`` (:mod:`sarfeat.cli.detect`), ``sarfeat register``
(:mod:`sarfeat.cli.register`) and ``sarfeat register-stack``
(:mod:`sarfeat.cli.register_stack`). Parsing the command line imports neither
torch nor the network, so that ``--help`` and usage errors answer at once.

Options and files may come in any order after the subcommand. Exit status: 0 on
success, 2 for bad usage (unknown option, missing or unreadable input, an output that
would overwrite an input or another output, an output ``-`` or one that is not a
regular file such as ``/dev/null``, or an output file that exists already, without
``--overwrite``),
1 for a runtime error (weights unavailable, an image pair that cannot be
registered, ...), 130 when interrupted (Ctrl-C), 143 when stopped by SIGTERM
(``detect`` and ``register`` then leave their earlier outputs as they were). Errors
are one line on stderr, naming the subcommand (``sarfeat register: error: ...``) as
usage errors do; set ``SARFEAT_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Sequence

from .. import __version__
from ..raster import GeoreferencingWarning
from . import detect, register, register_stack
from .common import DEFAULT_WEIGHTS, UsageError, guarded

__all__ = ["main", "build_parser", "parse_command_line", "run_command", "UsageError",
           "DEFAULT_WEIGHTS"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``sarfeat`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        Parser with the ``detect``, ``register`` and ``register-stack`` subcommands.
    """
    return _parser_and_commands()[0]


def _parser_and_commands() -> tuple[argparse.ArgumentParser, dict]:
    """:func:`build_parser`'s parser and its subcommands' parsers by name."""
    parser = argparse.ArgumentParser(
        prog="sarfeat", description="Keypoints and descriptors for SAR images with Fast-R2D2.",
        epilog="Set SARFEAT_DEBUG=1 to see tracebacks of errors.")
    parser.add_argument("--version", action="version", version=f"sarfeat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    detect.add_parser(commands)
    register.add_parser(commands)
    register_stack.add_parser(commands)
    return parser, dict(commands.choices)


def _usage(command: str, usage: str, message: str) -> int:
    print(f"usage: sarfeat {command} [options] {usage}", file=sys.stderr)
    print(f"sarfeat {command}: error: {message}", file=sys.stderr)
    return 2


def parse_command_line(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the ``sarfeat`` command line; its ``command`` is the subcommand (None: none).

    Options and files may come in any order after the subcommand, as GDAL's tools
    take them (``sarfeat register FIXED --json R.json MOVING``). An argument that
    no option takes (a misspelt option, one file too many) is refused by the
    subcommand's parser, with its usage (``sarfeat detect: error: unrecognized
    arguments: ...``), not by ``sarfeat``'s, whose usage lists no option of the
    command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    args : argparse.Namespace

    Raises
    ------
    SystemExit
        With status 2 for bad usage, 0 after ``--help`` or ``--version``.
    """
    parser, commands = _parser_and_commands()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = parser.parse_known_args(argv)
    if not unknown:
        return args
    if args.command not in commands:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # sarfeat's own options (-h, --version) end the run: what stands before the command
    # is unknown to it, and the command is the first word equal to its name
    start = argv.index(args.command)
    if start:
        parser.error(f"unrecognized arguments: {' '.join(argv[:start])}")
    # files after an option (sarfeat register FIXED --json R.json MOVING), which argparse
    # leaves over: parsed again with options and files in any order, as GDAL's tools and
    # rio take them; an option still unknown is refused with the subcommand's usage
    return commands[args.command].parse_intermixed_args(
        argv[start + 1:], argparse.Namespace(command=args.command))


def run_command(args: argparse.Namespace) -> int:
    """Run the subcommand of ``args`` (:func:`parse_command_line`); return the exit status.

    Returns
    -------
    status : int
        0 on success, 1 for a runtime error (including a pair that cannot be
        registered), 2 for bad usage.
    """
    with warnings.catch_warnings():  # a command says it in its own words: one note line
        warnings.simplefilter("ignore", GeoreferencingWarning)  # (common.unplaced)
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """:func:`run_command`, its warnings as the library gives them."""
    if args.command is None:
        build_parser().print_usage(sys.stderr)
        print("sarfeat: error: choose a command, e.g. 'sarfeat detect --example'",
              file=sys.stderr)
        return 2
    if args.command == "register-stack":
        return guarded("register-stack", register_stack.run, args)
    if args.command == "register":
        given = (args.fixed is not None) + (args.moving is not None)
        if args.example == (given > 0) or (not args.example and given != 2):
            return _usage("register", "(FIXED MOVING | --example)",
                          "give FIXED and MOVING, or --example")
        return guarded("register", register.run, args)
    if args.example == (args.image is not None):
        return _usage("detect", "(IMAGE | --example)", "give exactly one of IMAGE or --example")
    return guarded("detect", detect.run, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sarfeat`` command line on ``argv`` (``sys.argv[1:]`` by default): parse it
    (:func:`parse_command_line`) and run its subcommand (:func:`run_command`), whose exit
    status is returned: 0 on success, 1 for a runtime error, 2 for bad usage."""
    return run_command(parse_command_line(argv))  # exits with status 2 on bad usage
