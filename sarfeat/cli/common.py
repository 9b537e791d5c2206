"""What every subcommand of ``sarfeat`` shares: errors, weights, output checks, console."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..argument_checks import (DEVICES, UsageError, add_overwrite_option, check_outputs,
                               is_device_name, positive_int)
from ..data import DEFAULT_RELEASE, DEFAULT_WEIGHTS
from ..interrupts import interrupted_status, sigterm_as_interrupt

if TYPE_CHECKING:  # for the annotations only
    import numpy as np

    from ..architecture import NetworkWeights

__all__ = [
    "UsageError", "DEFAULT_WEIGHTS", "DEFAULT_RELEASE", "INPUT_KINDS", "PRECISIONS", "MODELS",
    "ORDERS", "ORDER_HELP",
    "DEVICES", "DEVICE_HELP", "positive_int", "unit_fraction", "device_name", "add_note",
    "checked_weights", "check_outputs", "add_overwrite_option",
    "Console", "jsonable", "guarded", "add_console_options",
    "input_error", "checked_band", "check_bands", "check_valid_pixel", "with_nodata",
    "PLOT_SUFFIXES", "check_plot",
    "network_text", "unplaced", "has_georeferencing", "unused_georeferencing", "scaling_note",
]

#: Choices of the options, written here so that ``--help`` and usage errors need no torch
#: (tests/test_cli.py checks that they equal the library's).
INPUT_KINDS = ("auto", "intensity", "amplitude", "db", "display")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
MODELS = ("similarity", "affine", "projective")
#: Devices of ``--device`` besides ``cuda:N``, and its help.
DEVICE_HELP = "auto, cpu, cuda or cuda:N (default auto)"
#: Spline orders of ``--order``, the resampling of what ``register`` and ``register-stack``
#: write (:func:`sarfeat.io.warp_onto`), and its help.
ORDERS = (0, 1, 3)
ORDER_HELP = "resampling of the output: 0 nearest, 1 bilinear (default), 3 cubic"
#: How ``--band`` counts, as the library does (:meth:`sarfeat.io.Raster.band`).
BAND_INDEX = "0-based; a negative index counts from the end, -1 the last band"
#: How many further files a message names before "...".
_NAMED = 5
#: File types of ``--plot`` (those matplotlib writes without further packages).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp",
                 ".eps", ".ps")


def input_error(error: Exception) -> UsageError:
    """A library error about an input file, as a usage error."""
    return UsageError(" ".join(str(error).split()))


def checked_band(raster, band: int | None, option: str) -> np.ndarray:
    """Band ``band`` of ``raster`` (:meth:`sarfeat.io.Raster.band`); a raster of several
    bands with none chosen is refused naming ``option``, the one that chooses its band.

    Raises
    ------
    UsageError
        When ``raster`` has several bands and ``band`` is None.
    sarfeat.io.RasterError
        For a band out of range.
    """
    from ..io import BandChoiceError

    try:
        return raster.band(band)
    except BandChoiceError as error:
        raise UsageError(error.choose_with(option)) from None


def check_bands(choices, more: Sequence[str] = ()) -> None:
    """Refuse each raster of several bands with no band chosen, naming the option of its
    side (:func:`checked_band`); two refused, both options and ``--band``, which chooses
    the same band of both.

    Parameters
    ----------
    choices : sequence of (Raster, int or None, str)
        Each raster, its band and the option that chooses it (``--fixed-band``).
    more : sequence of str
        Further files refused as the last of ``choices`` is (a stack's images beside
        its first refused one), named after it.

    Raises
    ------
    UsageError
        For every raster refused, in one message.
    sarfeat.io.RasterError
        For a band out of range.
    """
    refused = []
    for raster, band, option in choices:
        try:
            checked_band(raster, band, option)
        except UsageError as error:
            refused.append(str(error))
    if refused and more:
        names = ", ".join(repr(str(name)) for name in more[:_NAMED])
        files = "file" if len(more) == 1 else "files"
        refused[-1] += (f" (and {len(more)} more {files} of several bands: {names}"
                        + (", ..." if len(more) > _NAMED else "") + ")")
    if refused:
        raise UsageError("; ".join(refused) + ("; or --band N: band N of both"
                                               if len(refused) == 2 else ""))


def check_valid_pixel(name: str, raster, band: int | None, nodata: float | None,
                      option: str, window=None) -> None:
    """Refuse, before any work, band ``band`` of ``raster`` (marked by :func:`with_nodata`)
    when it holds no valid pixel, naming ``name`` (``"MOVING 'a.tif'"``), the band when one
    is chosen and the no-data values that cover it: the file's own and ``--nodata``.

    A raster of no band (a GeoTIFF's header, :func:`sarfeat.io.read_raster_header`) has its
    band read a few blocks at a time until one holds a valid pixel
    (:func:`sarfeat.io.band_has_valid_pixel`); ``option`` chooses the band of a raster of
    several (:func:`checked_band`). ``window``, the band's pixels where MOVING lies (read of
    a raster of no band by its footprint's window), is checked instead of the whole band.

    Raises
    ------
    UsageError
        When the band has no valid pixel, or a band is to choose.
    sarfeat.io.RasterError
        For a band out of range, or a file that cannot be read.
    """
    import numpy as np

    from ..io import band_has_valid_pixel

    if window is not None:
        valid = np.isfinite(window).any()
    elif raster.count == 0:
        valid = band_has_valid_pixel(raster, band, nodata)
    else:
        valid = np.isfinite(checked_band(raster, band, option)).any()
    if valid:
        return
    own = raster.nodata  # the file's, or --nodata where the file has none (with_nodata)
    marks = ([] if own is None or np.isnan(own) or own == nodata else
             [f"nodata {own:g} in the file"]) + ([] if nodata is None else [f"--nodata {nodata:g}"])
    raise UsageError(f"{name} has no valid pixel" + ("" if band is None else f" in band {band}")
                     + ("" if window is None else " where MOVING lies") + ": all NaN or no-data"
                     + (f" ({', '.join(marks)})" if marks else ""))


def with_nodata(raster, value: float | None):
    """``raster`` (a :class:`sarfeat.io.Raster`) with ``--nodata VALUE`` marking no-data too.

    Pixels that ``value`` marks become invalid in every band, read as the
    file's own nodata value is read (:func:`sarfeat.nodata_steps.mark_nodata`:
    a complex pixel whose real part is ``value``, a float within GDAL's
    tolerance of it), so that ``--nodata V`` means what V in the file's
    metadata would. The file's own nodata value is kept; without one,
    ``value`` becomes it where the dtype holds it, so that a written copy marks
    its no-data the same way. None or NaN (always no-data) changes nothing.
    """
    import numpy as np

    from ..nodata_steps import mark_nodata

    if value is None or np.isnan(value):
        return raster
    dtype, nodata = raster.data.dtype, raster.nodata
    holds = dtype.kind in "fc" or (dtype.kind in "iu" and float(value).is_integer()
                                   and np.iinfo(dtype).min <= value <= np.iinfo(dtype).max)
    if nodata is None and holds:
        nodata = float(value)
    return replace(mark_nodata(raster, value), nodata=nodata)


def unplaced(raster) -> str:
    """What georeferencing a raster without a CRS and a geotransform has, which the prior
    does not use (a fixed image's is written with the result, on its grid)."""
    if raster.transform is not None:
        return "a geotransform without a CRS"
    if getattr(raster, "unused_crs", None) is not None:  # a Raster's (an array has none)
        crs = raster.unused_crs
        name = crs.to_string() if hasattr(crs, "to_string") else str(crs)
        return (f"a CRS ({name}) but no geotransform, so no georeferencing (its CRS not used "
                "for matching)")
    if raster.gcps:
        return f"{len(raster.gcps[0])} GCPs without a geotransform"
    if raster.rpcs is not None:
        return "RPCs without a geotransform"
    return "no georeferencing"


def has_georeferencing(raster) -> bool:
    """Whether a raster has georeferencing of any kind: a CRS and a geotransform, or what
    :func:`unplaced` names."""
    return raster.georeferenced or unplaced(raster) != "no georeferencing"


def unused_georeferencing(sides: Sequence[tuple[str, object]],
                          others_have_some: bool = False) -> str | None:
    """The note of ``sarfeat register`` and ``register-stack`` on a pair matched from pixels
    alone though georeferencing is at hand: what each of ``sides`` ((name, raster) of the
    pair's rasters that the note names) without a CRS and a geotransform has
    (:func:`unplaced`), when any of them, or a raster of the pair not named
    (``others_have_some``: a stack's reference beside an image, or its images beside the
    reference), has georeferencing of some kind (:func:`has_georeferencing`); else None.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.io import Raster
    >>> plain = Raster(np.zeros((1, 4, 4)), np.ones((1, 4, 4), bool))
    >>> unused_georeferencing([("the fixed image", plain), ("the moving image", plain)])
    >>> unused_georeferencing([("the moving image", plain)], others_have_some=True)
    'note: the moving image has no georeferencing; matching from pixels alone'
    """
    unused = [f"{name} has {unplaced(raster)}" for name, raster in sides
              if not raster.georeferenced]
    if not unused or not (others_have_some
                          or any(has_georeferencing(raster) for _, raster in sides)):
        return None
    return f"note: {' and '.join(unused)}; matching from pixels alone"


def scaling_note(name: str, raster, work: str = "matched", written: bool = True) -> str | None:
    """The note of a raster whose file gives its bands a scale or offset
    (:attr:`sarfeat.io.Raster.scaled`): its physical values are what is ``work``
    (matched, detected), while a written output (where the command writes the raster:
    ``written``) keeps the stored values with their scale and offset; None for a raster
    without.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.io import Raster
    >>> dn = Raster(np.zeros((1, 4, 4), np.uint16), np.ones((1, 4, 4), bool),
    ...             scaling=((0.01, -50.0, "dB"),))
    >>> scaling_note("MOVING 'b.tif'", dn)  # doctest: +NORMALIZE_WHITESPACE
    "note: MOVING 'b.tif' gives its band a scale and offset (stored value * 0.01 - 50):
    its physical values are matched; outputs keep the stored values with them"
    """
    if not getattr(raster, "scaled", False):
        return None
    pairs = sorted({(scale, offset) for scale, offset, _ in raster.scaling})
    if len(pairs) == 1:
        scale, offset = pairs[0]
        what = f"stored value * {scale:g} {'-' if offset < 0 else '+'} {abs(offset):g}"
    else:
        what = "each band its own"
    bands = "band" if raster.count == 1 else "bands"
    kept = "; outputs keep the stored values with them" if written else ""
    return (f"note: {name} gives its {bands} a scale and offset ({what}): its physical values "
            f"are {work}{kept}")


def device_name(text: str) -> str:
    """argparse type: a ``--device`` name (auto, cpu, cuda or cuda:N), checked without torch.

    Whether the device is usable (a GPU, torch) is checked when the network is
    made; a misspelt name is a usage error before any work.
    """
    if is_device_name(text):
        return text
    hint = " (torch calls NVIDIA GPUs 'cuda')" if text.lower().startswith("gpu") else ""
    raise argparse.ArgumentTypeError(f"unknown device {text!r}{hint}: use "
                                     f"{', '.join(DEVICES)} or cuda:N")


def unit_fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def add_console_options(parser: argparse.ArgumentParser) -> None:
    """``-v``/``--verbose`` and ``-q``/``--quiet``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true",
                       help="say what is being done, with times, and show progress bars")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing but errors")


class Console:
    """Prints results (unless ``-q``) and steps with their time (with ``-v``, on stderr)."""

    def __init__(self, args: argparse.Namespace) -> None:
        import time

        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", False)
        self._clock = time.perf_counter
        self._started = self._clock()

    @property
    def progress(self) -> bool:
        """Whether to show progress bars: with -v, or on a terminal unless -q."""
        return self.verbose or (not self.quiet and sys.stderr.isatty())

    def say(self, text: str) -> None:
        """A result line on stdout."""
        if not self.quiet:
            print(text, flush=True)

    def step(self, text: str) -> None:
        """A step of the work on stderr, with the time since the start (only with -v)."""
        if self.verbose:
            print(f"[{self._clock() - self._started:7.1f} s] {text}", file=sys.stderr,
                  flush=True)


def network_text(used: dict | None) -> str:
    """What ran the keypoint network, for the console: ``'onnxruntime int8 on cpu'``.

    Parameters
    ----------
    used : dict or None
        :attr:`sarfeat.SARR2D2Detector.runtime_used` (``diagnostics['network']``);
        None when no network ran (a pair with an optical image).

    Returns
    -------
    str
    """
    if used is None:
        return "none (no keypoint network runs)"
    return f"{used['runtime']} {used['precision']} on {used['device']}"


def checked_weights(weights: str | None, trust: bool) -> str | NetworkWeights | None:
    """Refuse a ``--weights`` that cannot be loaded, before any work; what the library gets.

    The rules are :func:`sarfeat.weights.resolve_weights`'s: a registry name
    is fetched and hash-checked, never read from the working directory.

    Returns
    -------
    str, None or NetworkWeights
        A registry name (or None, the default release) as given, as an API
        user gives it: a release name brings what goes with the name beside
        its network (sarfeat-sar-v2's polar weighting, the distilled maps),
        which its loaded network does not. A checkpoint file, which brings
        its network alone, loaded here once (no worker reads it again).
    """
    from ..checkpoint import CheckpointError
    from ..weights import resolve_network_weights, weight_names

    try:
        network = resolve_network_weights(weights, trust=trust)
    except (TypeError, FileNotFoundError) as error:
        names = weight_names()
        listed = all(repr(name) in str(error) for name in names)  # the library's message
        raise UsageError(f"--weights {weights!r}: {error}" + (
            "" if listed else f" (registry names: {', '.join(names)})")) from None
    except CheckpointError as error:  # the library's advice, in the command's words
        text = str(error).replace("pass trust=True", "pass --trust")
        raise CheckpointError(f"--weights {weights!r}: {text}") from error
    return weights if weights is None or weights in weight_names() else network


def check_plot(path: Path | None) -> None:
    """Refuse, before any work, a ``--plot`` that cannot be drawn.

    Parameters
    ----------
    path : pathlib.Path or None
        The ``--plot`` file (None: not given).

    Raises
    ------
    UsageError
        For a file type (by its suffix) that matplotlib does not write, or when
        matplotlib (an optional dependency) is not installed.
    """
    if path is None:
        return
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"unsupported --plot type {path.suffix or '(none)'!r}: use "
                         + ", ".join(PLOT_SUFFIXES))
    if not _importable("matplotlib"):
        raise UsageError("--plot needs matplotlib, which is not installed: pip install "
                         "matplotlib (or leave --plot out)")


def _importable(name: str) -> bool:
    """Whether the module ``name`` can be imported (found without importing it)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: set to None in sys.modules
        return False


def jsonable(value):
    """``value`` with NumPy scalars and arrays as Python numbers and lists; NaN/inf -> None."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    return value


def add_note(error: BaseException, note: str) -> None:
    """Add ``note`` to ``error``, as Python 3.11's ``add_note`` does (a traceback shows it);
    :func:`guarded`'s one-line message says it too."""
    try:
        error.__notes__ = [*getattr(error, "__notes__", []), note]
    except (AttributeError, TypeError):  # an error that takes no attribute: the note is lost
        pass


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    notes = [" ".join(str(note).split()) for note in getattr(error, "__notes__", None) or ()]
    return "; ".join([text, *notes])


def guarded(command: str, action, args: argparse.Namespace) -> int:
    """Run ``action(args)``; report errors on one line with the exit status they deserve,
    each naming the subcommand ``command`` (``sarfeat register: error: ...``), as argparse
    names it in a usage error: 2 for a usage error, 1 for another, 130 when interrupted
    (Ctrl-C), 143 when stopped by SIGTERM, which interrupts the work as Ctrl-C does
    (:func:`sarfeat.interrupts.sigterm_as_interrupt`: temporary files are removed)."""
    debug = os.environ.get("SARFEAT_DEBUG") == "1"
    try:
        with sigterm_as_interrupt() as terminated:
            action(args)
    except UsageError as error:
        if debug:
            raise
        print(f"sarfeat {command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        how = "stopped by SIGTERM" if terminated else "interrupted"
        print(f"sarfeat {command}: {how}", file=sys.stderr)
        return interrupted_status(terminated)
    except Exception as error:  # noqa: BLE001 - one line, no traceback (SARFEAT_DEBUG=1 for it)
        if debug:
            raise
        print(f"sarfeat {command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0
