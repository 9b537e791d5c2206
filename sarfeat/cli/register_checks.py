"""The checks of ``sarfeat register``'s options, made before any work (its search options'
also for ``register-stack``: :func:`check_search_options`).

Each refusal is a :class:`~sarfeat.argument_checks.UsageError` (exit status 2)
that says which option to change. :mod:`sarfeat.cli.register` runs them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UsageError, check_outputs, check_plot
from .geotiff_output import check_geotiff_options
from .report import TIE_POINT_SUFFIXES

__all__ = ["OUTPUT_SUFFIXES", "FINE_PATCHES", "KEYPOINT_OPTIONS", "patch_limit", "validate",
           "check_search_options", "check_band_options", "check_example", "check_order_use"]

OUTPUT_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Default of --max-fine-patches (that of CoarseFineMatcher, which the CLI does not import early).
FINE_PATCHES = 16
#: Options of the keypoint matcher of two SAR images, with their defaults: refused with an
#: optical image, whose pair is matched on dense structure maps without the network.
KEYPOINT_OPTIONS = {"weights": None, "trust": False, "precision": "auto", "device": "auto",
                    "max_fine_patches": FINE_PATCHES}


def patch_limit(text: str) -> int | None:
    """``--max-fine-patches``: a positive integer or 'all' (None).

    Examples
    --------
    >>> patch_limit("all") is None, patch_limit("8")
    (True, 8)
    """
    if text.lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return value


def _check_output_type(output: Path | None) -> None:
    """Refuse an ``-o`` whose suffix is not one of :data:`OUTPUT_SUFFIXES`."""
    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"unsupported output type {output.suffix or '(none)'!r}: use "
                         + ", ".join(OUTPUT_SUFFIXES))


def validate(args: argparse.Namespace) -> None:
    """Refuse options of ``sarfeat register FIXED MOVING`` that cannot work together.

    Raises
    ------
    UsageError
        Nothing to write, an unsupported output, or options that contradict each
        other or do not apply to the pair's modality.
    """
    if all(getattr(args, name) is None for name in ("output", "json", "tie_points", "plot")):
        raise UsageError("nothing to write: give -o OUT (the registered image), --json "
                         "REPORT.json, --tie-points FILE or --plot PLOT.png")
    _check_output_type(args.output)
    # --co is checked against MOVING's dtype once it is read, before any work (run): an
    # option of integer data (NBITS) would be refused here for a float32 band
    check_geotiff_options(args, args.output, "-o OUT.tif", dtype=None)
    if args.tie_points is not None and args.tie_points.suffix.lower() not in TIE_POINT_SUFFIXES:
        raise UsageError("--tie-points must end in .csv or .geojson")
    check_plot(args.plot)
    if args.no_resample and (args.output is None
                             or args.output.suffix.lower() not in (".tif", ".tiff")):
        raise UsageError("--no-resample writes a GeoTIFF: give -o OUT.tif")
    check_order_use(args)
    check_search_options(args)
    check_outputs({"FIXED": Path(args.fixed), "MOVING": Path(args.moving)},
                  {"-o": args.output, "--json": args.json, "--tie-points": args.tie_points,
                   "--plot": args.plot}, args.overwrite)


def check_search_options(args: argparse.Namespace) -> None:
    """Refuse search options that do not apply to the pair's modality, or contradict each
    other (``register`` and ``register-stack``: :mod:`sarfeat.cli.search_options`).

    Raises
    ------
    UsageError
        ``--scales wide``, ``--dense-model`` or ``--keep-border-fill`` with two SAR images;
        the keypoint matcher's options with an optical image; ``--upright`` with ``--turns
        any``; ``--band`` with a side's band option (``--fixed-band``, ``--image-band``...).
    """
    check_band_options(args)
    sar = getattr(args, "modality", "sar") == "sar"
    if getattr(args, "scales", "default") == "wide" and sar:
        raise UsageError("--scales wide is for a pair with an optical image (--modality); two "
                         "SAR images are matched across scales by the detector's pyramid")
    if getattr(args, "dense_model", "similarity") != "similarity" and sar:
        raise UsageError("--dense-model is for a pair with an optical image (--modality); "
                         "two SAR images take --model")
    if getattr(args, "keep_border_fill", False) and sar:
        raise UsageError("--keep-border-fill is for a pair with an optical image (--modality); "
                         "two SAR images are matched without the exact zeros of a linear image "
                         "connected to its border (a warp's corners, a GRD's slice edges), "
                         "whatever this option")
    if not sar:
        given = [f"--{name.replace('_', '-')}" for name, default in KEYPOINT_OPTIONS.items()
                 if getattr(args, name, default) != default]
        given += ["--model projective"] if args.model == "projective" else []
        if given:
            raise UsageError(f"{', '.join(given)}: for two SAR images (the keypoint matcher); "
                             "a pair with an optical image is matched on dense structure maps, "
                             "without the network")
    if getattr(args, "upright", False) and getattr(args, "turns", "auto") == "any":
        raise UsageError("--upright and --turns any contradict each other: give one")


def check_band_options(args: argparse.Namespace) -> None:
    """Refuse ``--band`` together with a band option of one side (``--fixed-band``,
    ``--moving-band``, ``--reference-band`` or ``--image-band``): both would choose that
    side's band, and neither may silently win over the other.

    Raises
    ------
    UsageError
        Naming both options and their values.
    """
    if getattr(args, "band", None) is None:
        return
    for name, side in (("fixed_band", "FIXED"), ("moving_band", "MOVING"),
                       ("reference_band", "REFERENCE"), ("image_band", "each of IMAGES")):
        value = getattr(args, name, None)
        if value is not None:
            option = f"--{name.replace('_', '-')}"
            raise UsageError(f"--band {args.band} and {option} {value} both choose the band "
                             f"matched of {side}: give one of them (--band chooses the band "
                             "of every input)")


def check_example(args: argparse.Namespace) -> None:
    """Refuse options that do not apply to ``sarfeat register --example``.

    Raises
    ------
    UsageError
        An option for two files (bands, tie points, --no-resample, --modality),
        or an output that cannot be written.
    """
    for name in ("band", "fixed_band", "moving_band", "tie_points", "no_resample"):
        if getattr(args, name) is not None and getattr(args, name) is not False:  # --band 0 too
            raise UsageError(f"--{name.replace('_', '-')} does not apply to --example")
    if getattr(args, "modality", "sar") != "sar":
        raise UsageError("--modality does not apply to --example: its pair is two SAR images")
    _check_output_type(args.output)
    check_geotiff_options(args, args.output, "-o OUT.tif")
    check_plot(args.plot)
    check_order_use(args)
    check_outputs({}, {"-o": args.output, "--json": args.json, "--plot": args.plot},
                  args.overwrite)


def check_order_use(args: argparse.Namespace) -> None:
    """Refuse an ``--order`` that nothing would use: only ``-o`` is resampled with it.

    Raises
    ------
    UsageError
        ``--order`` other than 1 without ``-o``, or with ``--no-resample``.
    """
    if args.order == 1:  # the default
        return
    if args.output is None:
        raise UsageError(f"--order {args.order} resamples the registered image: give -o OUT "
                         "(nothing else that is written is resampled)")
    if getattr(args, "no_resample", False):
        raise UsageError(f"--order {args.order} and --no-resample contradict each other: "
                         "--no-resample keeps MOVING's pixels, nothing is resampled")
