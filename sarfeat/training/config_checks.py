"""Checks of a training configuration's values, made when the configuration is made.

A bad value (``batch_size=0``, ``lr=-1``, an unknown device) is refused at
once, naming the field and its command-line option, before any data is read
or any file of the run written: not as a traceback from the middle of
training, and never as a run that silently does nothing (zero iterations would
export untrained weights).

On a command line such a value is a usage error, exit status 2 as argparse's own
(:func:`usage_error`; :func:`number` and :func:`sarfeat.argument_checks.whole_number`,
re-exported here, are argparse types for the side trainers' options); a failure
during the work is exit status 1.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..argument_checks import is_device_name, whole_number
from .._validation import check_choice, check_integer, check_number

__all__ = ["check_values", "from_plain", "number", "usage_error", "whole_number"]


def usage_error(parser: argparse.ArgumentParser, error) -> int:
    """Say ``error`` as argparse says a usage error (usage, then ``prog: error: ...`` on
    stderr) and return its exit status, 2: for a value refused before any work."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {error}", file=sys.stderr)
    return 2


def number(low: float = 0.0, high: float = math.inf, *, low_open: bool = False):
    """argparse type: a finite number in [``low``, ``high``] (``(low, high]`` if ``low_open``)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if low_open else value >= low)
                and value <= high):
            raise argparse.ArgumentTypeError(f"must be a finite number in {interval}, "
                                             f"not {text!r}")
        return value

    parse.__name__ = f"number in {interval}"
    return parse


def from_plain(kind, values, what: str = "training options"):
    """``kind(**values)`` for a dataclass ``kind``, its dataclass fields made from dicts too.

    Raises ValueError (not a TypeError from the constructor) for ``values`` that
    is not a dict, or a name that ``kind`` or a nested dataclass does not know.
    """
    import dataclasses

    if not isinstance(values, dict):
        raise ValueError(f"{what}: expected a dict (a JSON object) of option names and "
                         f"values, got {type(values).__name__} {values!r:.60}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {sorted(fields)}")
    values = dict(values)
    for name, value in values.items():
        default = fields[name].default_factory
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            values[name] = from_plain(default, value, f"{name} options")
    return kind(**values)


def check_values(config, *, integers: tuple[tuple[str, int], ...] = (),
                 positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                 flags: dict[str, str] | None = None) -> None:
    """Raise ValueError naming the first out-of-range field of ``config`` (a dataclass).

    Parameters
    ----------
    config : dataclass instance
        Has the fields named below, and ``device`` and ``architecture`` when it
        has those attributes.
    integers : tuple of (str, int)
        Fields that must be integers of at least the value given.
    positive, non_negative : tuple of str
        Fields that must be finite numbers above (at least) 0.
    flags : dict of str to str, optional
        The command-line option of a field when it is not ``--field-name``.
    """
    flags = flags or {}

    def name(field: str) -> str:
        return f"{field} ({flags.get(field, '--' + field.replace('_', '-'))})"

    for field, low in integers:
        check_integer(name(field), getattr(config, field), low)
    for field in positive:
        check_number(name(field), getattr(config, field), 0, low_open=True)
    for field in non_negative:
        check_number(name(field), getattr(config, field), 0)
    device = getattr(config, "device", "auto")
    if not is_device_name(device):
        raise ValueError(f"unknown {name('device')} {device!r}; choose one of 'auto', 'cpu', "
                         "'cuda' or 'cuda:N'")
    if hasattr(config, "architecture"):
        from ..network import ARCHITECTURES

        check_choice("architecture", config.architecture, sorted(ARCHITECTURES))
