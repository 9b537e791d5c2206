"""Checks of command-line arguments that every command shares, the training's too:
positive and whole numbers, output paths that would overwrite an input or an existing file
(``--overwrite``), and the usage error.

Standard library only (layer 0), so that :mod:`sarfeat.cli` and
:mod:`sarfeat.training.cli` both use them without one importing the other.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

__all__ = ["UsageError", "DEVICES", "is_device_name", "positive_int", "whole_number",
           "check_outputs", "check_not_standard_output", "unwritable_reason", "write_error",
           "OVERWRITE_HELP", "add_overwrite_option"]


#: Device names besides ``cuda:N``: what ``--device`` and every ``device`` argument take.
DEVICES = ("auto", "cpu", "cuda")


def is_device_name(text) -> bool:
    """Whether ``text`` names a device sarfeat knows (auto, cpu, cuda or cuda:N); whether
    that device is usable here is for the caller to find out."""
    return isinstance(text, str) and (text in DEVICES or re.fullmatch(r"cuda:\d+", text)
                                      is not None)


class UsageError(Exception):
    """Bad command-line input: reported with exit status 2."""


def _integer_at_least(text: str, low: int) -> int | None:
    """``int(text)`` when it is an integer >= ``low``, else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= low else None


def positive_int(text: str) -> int:
    """argparse type: an integer > 0 (the error quotes ``text`` as given, whatever is wrong)."""
    value = _integer_at_least(text, 1)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def whole_number(low: int):
    """argparse type: an integer >= ``low``; for ``low`` 1 it is :func:`positive_int`.

    Examples
    --------
    >>> whole_number(0)("0")
    0
    >>> whole_number(1) is positive_int
    True
    """
    if low == 1:
        return positive_int

    def parse(text: str) -> int:
        value = _integer_at_least(text, low)
        if value is None:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


#: Help of ``--overwrite``, the option of every command that writes files a user names.
OVERWRITE_HELP = ("replace output files that already exist (without it, an existing output is "
                  "refused before any work, as rasterio's rio refuses one)")


def add_overwrite_option(parser: argparse.ArgumentParser, help: str = OVERWRITE_HELP) -> None:
    """Add ``--overwrite`` (:data:`OVERWRITE_HELP`) to ``parser``: the one definition of every
    command's option (``detect``, ``register``, ``register-stack``, the training's)."""
    parser.add_argument("--overwrite", action="store_true", help=help)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def check_not_standard_output(option: str, path: str | os.PathLike) -> None:
    """Refuse ``-`` as an output: the standard output of GDAL's and other tools, which
    sarfeat does not write to (its outputs are files renamed into place when complete),
    rather than a file named ``-`` written in the working folder by surprise.

    Raises
    ------
    UsageError
        When ``path`` is ``-``.
    """
    if os.fspath(path) == "-":
        raise UsageError(f"{option} '-': sarfeat does not write to standard output; give a "
                         "file name")


def check_outputs(inputs: dict[str, Path | None], outputs: dict[str, Path | None],
                  overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would overwrite an input or each other, or a
    file that exists already unless ``overwrite`` (``--overwrite``).

    Parameters
    ----------
    inputs, outputs : dict
        Option name (e.g. ``'FIXED'``, ``'--json'``) -> path (None: not given).
    overwrite : bool
        Whether an output may replace an existing file (never an input).

    Raises
    ------
    UsageError
        For an output equal to an input, two outputs on one path, an output
        that is ``-`` (:func:`check_not_standard_output`), a folder or another
        file that is not a regular file (a device such as ``/dev/null``, a pipe:
        the write would replace it, whatever ``overwrite``), or whose folder is
        missing or not writable, or that exists without ``overwrite``.
    """
    for option, path in outputs.items():
        if path is not None:
            check_not_standard_output(option, path)
    # an output is checked where it will be written: as given, as the commands write it
    # ('~/out.tif' quoted is a folder '~' of the working folder, as to GDAL's tools); an
    # input also with '~' expanded, as a --weights file is read
    given_in = {k: (Path(v), Path(v).expanduser()) for k, v in inputs.items() if v is not None}
    given_out = {k: Path(v) for k, v in outputs.items() if v is not None}
    seen: dict[str, Path] = {}
    for option, path in given_out.items():
        for name, sources in given_in.items():
            if any(_same(path, source) for source in sources):
                raise UsageError(f"{option} {str(path)!r} is the input {name}: refusing to "
                                 "overwrite an input")
        for other, earlier in seen.items():
            if _same(path, earlier):
                raise UsageError(f"{other} and {option} are the same file {str(path)!r}: give "
                                 "each output its own path")
        seen[option] = path
        if path.is_dir():
            raise UsageError(f"{option} {str(path)!r} is a folder")
        if path.exists() and not path.is_file():  # written through a rename onto it
            raise UsageError(f"{option} {str(path)!r} is not a regular file (a device, pipe "
                             "or socket): sarfeat writes its outputs to files, which would "
                             "replace it; give a file name")
        folder = path.resolve().parent
        if not folder.is_dir():
            what = (f"{str(path.parent)!r} is not a folder" if os.path.lexists(folder)
                    else "its folder does not exist")
            raise UsageError(f"cannot write {option} {str(path)!r}: {what}")
        reason = unwritable_reason(folder)
        if reason:
            raise UsageError(f"cannot write {option} {str(path)!r}: {reason}")
        if not overwrite and _exists(path):
            raise UsageError(f"{option} {str(path)!r} already exists: pass --overwrite to "
                             "replace it")
        if path.exists() and not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {option} {str(path)!r}: the file is read-only")


def unwritable_reason(folder: Path) -> str | None:
    """Why a file cannot be created in ``folder``, or None (:func:`write_error`)."""
    error = write_error(folder)
    return None if error is None else f"its folder is not writable ({error})"


def write_error(folder: Path) -> str | None:
    """The system's reason why a file cannot be created in ``folder`` ("Permission
    denied"), or None: found by creating one (removed at once), so that it holds for any
    user as the write would find it, for root too (whom a folder's mode does not stop, a
    read-only file system does)."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sarfeat-probe-"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None
