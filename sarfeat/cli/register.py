"""``sarfeat register FIXED MOVING [-o OUT] [--json R] [--tie-points T]`` and ``--example``.

When both files are georeferenced, their CRSs and geotransforms give the prior: the fixed image
is cropped to the moving image's footprint (a chip inside a scene is matched against its own
part of the scene; footprints that do not overlap are refused with that reason), a moving image
at another resolution or in another CRS is brought onto that grid (rasterio.warp) before
matching, and the transform reported still maps fixed pixels to the moving file's own pixels;
with an optical image (``--modality``) such a pair is upright and only the upright turn is
searched (``--turns``). Every band of the moving file is then resampled once with that
transform, in its own dtype and nodata (or, with ``--no-resample``, its pixels are kept and its
geotransform corrected, when the transform is a shift). Without ``-o`` only the report, tie
points or plot are written. The options are checked first, by :mod:`sarfeat.cli.register_checks`;
MOVING is let go while matching and read again for -o by :mod:`sarfeat.cli.moving_reread`.
"""

from __future__ import annotations

import argparse
import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..image_checks import MIN_VALID_FRACTION
from ..viz import PLOT_SIDE  # longest side of the images drawn by --plot
from ..wording import counted
from .common import (DEFAULT_RELEASE, MODELS, ORDER_HELP, ORDERS, Console, UsageError,
                     add_note, add_overwrite_option, check_bands, check_valid_pixel,
                     input_error, network_text, scaling_note, unplaced, unused_georeferencing,
                     with_nodata)
from .detect import EXAMPLE_WARP, add_common_options, example_pair
from .geotiff_output import add_geotiff_options, check_dtype, geotiff_keywords, output_report
from .moving_reread import file_stamp, moving_again, without_moving_bands
from .register_checks import (OUTPUT_SUFFIXES, check_example, validate)
from .report import (raster_pixel_size, failure_report, given_options, registration_report,
                     tie_points, transform_fit_note, updated_geotransform, write_json,
                     write_tie_points)
from .search_options import (WHOLE_CIRCLE, add_band_options, add_matching_options,
                             add_search_options, check_sar_pictures, colour_pictures,
                             matcher_options, overlap_hint, picture_hint, refusal_hint,
                             search_report, upright_search, whole_circle_search)

if TYPE_CHECKING:
    from ..registration import PairInputs as Inputs

__all__ = ["add_parser", "run", "make_matcher", "upright_search", "whole_circle_search",
           "refusal_hint", "WHOLE_CIRCLE", "OUTPUT_SUFFIXES"]

#: Largest departure (fixed pixels, over the image) of a shift-only geotransform update.
SHIFT_TOLERANCE_PX = 0.5
#: The options recorded as given under the JSON report's ``options`` (weights and model
#: beside them): those that shape the result, so that a run can be repeated from its report.
REPORTED_OPTIONS = ("modality", "turns", "scales", "dense_model", "keep_border_fill", "band",
                    "fixed_band", "moving_band", "no_resample", "order", "min_valid_fraction",
                    "seed", "max_fine_patches", "input_kind", "nodata", "precision", "device",
                    "upright", "creation_options", "overviews", "overview_resampling")


def add_parser(commands) -> None:
    """Add ``register`` to ``commands`` (argparse subparsers)."""
    register = commands.add_parser(
        "register", help="register a moving image onto a fixed one (or run the bundled example)",
        description=(
            "Register MOVING onto FIXED (.npy, PNG, JPEG or TIFF/GeoTIFF) with sarfeat's "
            "coarse-to-fine matcher and write every band of MOVING resampled onto FIXED's grid "
            "to OUT, in MOVING's dtype and nodata: .tif (GeoTIFF with FIXED's georeferencing, "
            "tiled and deflate-compressed unless --co says otherwise, overviews with "
            "--overviews), .npy, or .png/.jpg (an 8-bit colour picture keeps its colours, and in a "
            "PNG its alpha; a JPEG has them composited onto black; anything else: an 8-bit "
            "view of the first band). "
            "Give at least one of -o, --json, --tie-points and --plot. Two georeferenced "
            "inputs are matched where their footprints overlap (FIXED cropped to MOVING's), "
            "on one grid. With --example, register the bundled Sentinel-1 scene (VV fixed, VH "
            "warped by a known similarity) and print the error against the truth."),
        epilog="Exit status 1 with a one-line reason (and the JSON report, with --json) when "
               "the images cannot be registered; 2 for bad usage, before any work.",
    )
    add = register.add_argument
    add("fixed", nargs="?", metavar="FIXED", help="the reference image")
    add("moving", nargs="?", metavar="MOVING", help="the image to register")
    add("--example", action="store_true",
        help="register the bundled Sentinel-1 scene (contains modified Copernicus Sentinel data)")
    add("-o", "--output", type=Path, default=None, metavar="OUT",
        help="the registered image (.tif, .npy, .png or .jpg); optional when --json, "
             "--tie-points or --plot is given")
    add_search_options(register, "FIXED", "MOVING", upright_flag=True)
    add_matching_options(register, "FIXED")
    add("--model", choices=MODELS, default="affine", help="transform model (default affine)")
    add("--json", type=Path, default=None, metavar="REPORT.json",
        help="the transform (pixels and map units), diagnostics and corrected geotransform; "
             "written on failure too, with the reason")
    add("--tie-points", type=Path, default=None, metavar="FILE",
        help="the inlier tie points, .csv or .geojson: pixel and map coordinates of both "
             "images, residuals and votes")
    add("--plot", type=Path, default=None, metavar="PLOT.png",
        help="plot of the inlier matches, the overlay and the tie points' residual vectors "
             f"(a large pair is drawn downsampled to {PLOT_SIDE} pixels a side; needs matplotlib)")
    add_band_options(register, "both inputs", ("--fixed-band", "FIXED"),
                     ("--moving-band", "MOVING"))
    add("--no-resample", action="store_true",
        help="keep MOVING's pixels and write it with a corrected geotransform (GeoTIFF output, "
             "both inputs georeferenced in one CRS, and a transform that is a shift)")
    add("--order", type=int, choices=ORDERS, default=1,
        help=f"{ORDER_HELP}; with -o only, the one file resampled")
    add("--seed", type=int, default=0,
        help="seed of RANSAC's sampling (default 0: reproducible results)")
    add_geotiff_options(register, "-o OUT")
    add_overwrite_option(register)
    add_common_options(register, descriptors=False)  # its matcher chooses its descriptors


def make_matcher(args: argparse.Namespace, weights, input_kind: str, progress: bool,
                 upright: bool = False, whole_circle: bool = False):
    """The matcher of ``register`` on ``weights`` (``--weights`` as given, see
    :func:`~sarfeat.cli.common.checked_weights`) with the command's options
    (:func:`~sarfeat.cli.search_options.matcher_options`); ``upright`` searches only the
    upright turn, ``whole_circle`` every turn of :data:`WHOLE_CIRCLE`."""
    from ..matching import CoarseFineMatcher

    return CoarseFineMatcher(weights, progress=progress,
                             **matcher_options(args, input_kind, upright, whole_circle))


def _register(fixed, moving, matcher, console: Console,
              min_valid_fraction: float = MIN_VALID_FRACTION,
              order: int = 1):
    from ..registration import register

    options = {} if order == 1 else {"order": order}  # --order of the example's -o
    if "progress" in inspect.signature(register).parameters:
        options["progress"] = console.progress
    return register(fixed, moving, matcher=matcher, min_valid_fraction=min_valid_fraction,
                    **options)


def _read_inputs(args: argparse.Namespace, console: Console):
    """(fixed, moving, read_fixed): the two rasters (usage errors for unreadable inputs) and the
    reader of the fixed band's window (:func:`_window_reader`), or None.

    When both files are georeferenced (and FIXED is a GeoTIFF), FIXED is read by its header alone
    (:func:`sarfeat.io.read_raster_header`: a raster of no band): only the band matched, in the
    window of MOVING's footprint, is read from it, once that is known (:func:`_prepare`); else
    both are read whole."""
    from ..io import RasterError, band_count_view, read_raster, read_raster_header

    fixed_band = args.band if args.fixed_band is None else args.fixed_band
    try:
        fixed, moving = read_raster_header(args.fixed), read_raster(args.moving)
        windowed = fixed is not None and fixed.georeferenced and moving.georeferenced
        if not windowed:
            fixed = read_raster(args.fixed)
        # a missing band is bad usage: found before any work
        counted_fixed = band_count_view(fixed, scaled=False) if windowed else fixed
        moving_band = args.band if args.moving_band is None else args.moving_band
        check_bands([(counted_fixed, fixed_band, "--fixed-band"),
                     (moving, moving_band, "--moving-band")])
        check_sar_pictures(args.modality, (counted_fixed, fixed_band, "FIXED", "--fixed-band"),
                           [(moving, moving_band, "MOVING", "--moving-band")])
        # --nodata marks no-data in the files too: not resampled into data, and written as
        # no-data; a band all no-data is refused naming its file, band and nodata
        fixed, moving = with_nodata(fixed, args.nodata), with_nodata(moving, args.nodata)
        if not windowed:  # else only MOVING's footprint is read of it: checked in _prepare
            check_valid_pixel(f"FIXED {str(args.fixed)!r}", fixed, fixed_band, args.nodata,
                              "--fixed-band")
        check_valid_pixel(f"MOVING {str(args.moving)!r}", moving, moving_band, args.nodata,
                          "--moving-band")
    except RasterError as error:
        raise input_error(error) from None
    if args.no_resample and not (fixed.georeferenced and moving.georeferenced
                                 and fixed.crs == moving.crs):
        raise UsageError("--no-resample needs two georeferenced inputs in one CRS")
    shown = band_count_view(fixed) if windowed else fixed  # with the file's band count
    for name, raster in (("fixed", shown), ("moving", moving)):
        console.step(f"read {name} {raster.path}: {counted(raster.count, 'band')} {raster.shape} "
                     f"{raster.data.dtype}, nodata {raster.nodata}, "
                     f"{raster.crs if raster.georeferenced else unplaced(raster)}"
                     + (" (its header: the band matched is read where MOVING lies)"
                        if raster is shown and windowed else ""))
    for name, raster, path in (("FIXED", shown, args.fixed), ("MOVING", moving, args.moving)):
        note = scaling_note(f"{name} {str(path)!r}", raster)  # matched in physical values
        if note is not None:
            console.say(note)
    return fixed, moving, _window_reader(args, fixed, fixed_band) if windowed else None


def _window_reader(args: argparse.Namespace, header, band: int | None):
    """``read(window)``: band ``band`` of FIXED (its ``header``) in ``window`` (r0, r1, c0, c1),
    as the whole file read with ``--nodata`` would give it (:func:`sarfeat.io.read_band_window`)."""
    from ..io import RasterError, read_band_window

    def read(window: tuple[int, int, int, int]) -> np.ndarray:
        try:  # pixels that cannot be read: an unreadable input, as when read whole
            return read_band_window(header, window, band, args.nodata)
        except RasterError as error:
            raise input_error(error) from None

    return read


def _prepare(args: argparse.Namespace, fixed, moving, console: Console,
             read_fixed=None) -> Inputs:
    """What is matched (:func:`sarfeat.registration.prepare_pair`; ``read_fixed``: the reader
    of the fixed band's window, for a ``fixed`` raster of no band), said on the console; the
    fixed file's bands let go (:meth:`~sarfeat.registration.PairInputs.without_fixed_bands`):
    only the band matched, cropped, is used from here on.

    Raises
    ------
    sarfeat.RegistrationError
        When two georeferenced footprints do not overlap.
    UsageError
        When FIXED has no valid pixel there.
    """
    from ..io import grid_difference
    from ..registration import FOOTPRINT_MARGIN, prepare_pair

    fixed_band = args.band if args.fixed_band is None else args.fixed_band
    inputs = prepare_pair(fixed, moving, fixed_band, args.band if args.moving_band is None
                          else args.moving_band, margin=FOOTPRINT_MARGIN,
                          names=("FIXED", "MOVING"), read_fixed=read_fixed)
    if read_fixed is not None:  # FIXED read by its header: its window checked, not the file
        check_valid_pixel(f"FIXED {str(args.fixed)!r}", fixed, fixed_band, args.nodata,
                          "--fixed-band", window=inputs.fixed_image)
    r0, r1, c0, c1 = inputs.window
    if inputs.resampled:
        if inputs.window != (0, fixed.shape[0], 0, fixed.shape[1]):
            console.say(f"{args.fixed}: matched where {args.moving}'s footprint lies, rows "
                        f"{r0}:{r1}, columns {c0}:{c1}")
        difference = grid_difference(fixed, moving, inputs.georeferencing)
        console.say(f"{args.moving}: brought onto the fixed grid by its georeferencing before "
                    f"matching ({difference})")
    else:  # what of the georeferencing at hand is not used
        note = unused_georeferencing([("the fixed image", fixed), ("the moving image", moving)])
        if note is not None:
            console.say(note)
    return inputs.without_fixed_bands()


def left_from_earlier_run(args: argparse.Namespace, error: BaseException) -> dict:
    """The outputs (-o, --tie-points, --plot) that a failed run did not write but finds in
    place, an earlier run's, as failure-report fields (``output_left_from_earlier_run``:
    path), also said in ``error``'s message. They are left as they are: the user named them,
    and sarfeat deletes no file it did not write in this run (register-stack removes its
    earlier outputs because it names them itself, in a folder it owns)."""
    named = {"output": args.output, "tie_points": args.tie_points, "plot": args.plot}
    left = {f"{key}_left_from_earlier_run": str(path) for key, path in named.items()
            if path is not None and os.path.lexists(path)}
    if left:
        add_note(error, f"{', '.join(left.values())}: left by an earlier run, not this one's "
                        "result (this run wrote no output)")
    return left


def _head(args: argparse.Namespace) -> dict:
    from .. import __version__

    return {"sarfeat_version": __version__, "fixed": str(args.fixed), "moving": str(args.moving),
            "output": None if args.output is None else str(args.output),
            "tie_points": None if args.tie_points is None else str(args.tie_points),
            "weights": args.weights or DEFAULT_RELEASE if args.modality == "sar" else None,
            "model": args.model, "fixed_band": args.band if args.fixed_band is None
            else args.fixed_band, "moving_band": args.band if args.moving_band is None
            else args.moving_band, "options": given_options(args, REPORTED_OPTIONS)}


def run(args: argparse.Namespace) -> None:
    """Run ``sarfeat register`` (its arguments checked by :func:`sarfeat.cli.main`)."""
    from ..io import band_count_view, written_together
    from ..registration import pair_input_kind
    from .common import checked_weights

    console = Console(args)
    if args.example:
        _example(args, console)
        return
    validate(args)
    fixed, moving, read_fixed = _read_inputs(args, console)
    stamp = file_stamp(args.moving)  # MOVING as read, when -o reads it again
    if args.output is not None:  # before any work:
        from ..io import RasterError, written_dtype

        try:  # an output type that cannot hold MOVING (a 16-bit colour picture in a PNG)
            dtype = written_dtype(moving, args.output)
        except RasterError as error:
            raise UsageError(f"-o {args.output}: {error}") from None
        if geotiff_keywords(args, args.output):  # --co that GDAL refuses for MOVING as written
            check_dtype(args, dtype, moving.count)
    kind = pair_input_kind(args.input_kind, fixed, moving)  # 8-bit pictures stay display
    pictures = colour_pictures(  # not the rasters: they are let go while matching
        (band_count_view(fixed, scaled=False) if fixed.count == 0 else fixed,
         args.band if args.fixed_band is None else args.fixed_band, "FIXED"),
        (moving, args.band if args.moving_band is None else args.moving_band, "MOVING"))
    total = result = None
    searched = upright = whole_circle = False
    try:
        # -o, --tie-points, --json and --plot replace earlier files together, or none does
        with written_together():
            inputs = _prepare(args, fixed, moving, console, read_fixed)
            fixed = inputs.fixed  # of no band: the file's bands are let go before matching
            inputs = without_moving_bands(args, inputs)
            moving = inputs.moving  # of no band while matching, unless its band is a view
            weights = checked_weights(args.weights, args.trust) if args.modality == "sar" \
                else None
            upright = upright_search(args, fixed, moving)
            if upright and args.turns == "auto" and not args.upright:
                console.say("both inputs georeferenced: only the upright turn is searched "
                            "(--turns any searches every turn)")
            whole_circle = whole_circle_search(args)
            if whole_circle:
                console.say("--turns any: the whole circle is searched, every 15 degrees")
            matcher = make_matcher(args, weights, kind, console.progress, upright, whole_circle)
            console.step(f"matching {inputs.fixed_image.shape} against "
                         f"{inputs.moving_image.shape}: {_stages(matcher)}")
            searched = True
            # FIXED's band and MOVING's image matched are let go once the matcher has made its
            # working copies (--plot draws them)
            inputs, fixed_image, moving_image = (
                (inputs, inputs.fixed_image, inputs.moving_image) if args.plot is not None
                else inputs.handing_over_pair())
            result = _register(fixed_image, moving_image, matcher, console,
                               args.min_valid_fraction)
            _steps(result, console)
            total = inputs.prior @ result.transform.params @ inputs.crop
            _say_result(args, result, console)
            note = transform_fit_note(inputs, total)
            if note is not None:
                console.step(note)
            if args.output is not None:
                inputs = moving_again(args, inputs, stamp)
            wrote = _write_outputs(args, inputs, result, total, matcher, console, kind,
                                   search_report(args, upright, whole_circle))
    except Exception as error:
        left = {} if isinstance(error, UsageError) else left_from_earlier_run(args, error)
        hint = refusal_hint(args, error, upright, whole_circle, inputs.resampled) \
            if searched else None
        if hint is not None:
            hint = overlap_hint(inputs) + hint
        elif searched:  # a colour picture matched as SAR: how to match it as optical
            hint = picture_hint(args.modality, error, pictures)
        if args.json is not None and not isinstance(error, UsageError):
            write_json(args.json, {**failure_report(_head(args), error, total, None if result
                                                    is None else result.diagnostics.get("network")),
                                   "hint": hint, **left})
            if total is not None:  # the work is not lost
                console.say(f"the registration succeeded: its transform is in {args.json}")
        if hint is not None:
            console.say(hint)
        raise
    for line in wrote:  # once every file is in place
        console.say(line)


def _say_result(args: argparse.Namespace, result, console: Console) -> None:
    """The registration found, on the console, with its warnings."""
    d = result.diagnostics
    # an optical pair's coarse stage (a global correlation search) matches no points
    coarse = "" if d.get("coarse_inliers") is None else f" (coarse {d['coarse_inliers']})"
    console.say(f"registered {args.moving} onto {args.fixed}: "
                f"{d.get('selected_model') or args.model}, "
                f"{d['fine_inliers']} inlier matches{coarse}, residual "
                f"RMS {d['residual_rms']:.2f} px, confidence {result.confidence:.2f}, "
                f"{result.seconds:.1f} s")
    if result.coarse_failed:
        console.say("warning: the coarse stage failed; the transform rests on the local search "
                    "around the initial transform alone (confidence halved): check it")
    for name, share in zip((args.fixed, args.moving), d.get("border_fill") or ()):
        if share > 0:
            console.say(f"{name}: {100 * share:.1f} % of its pixels, a constant fill around the "
                        "image, matched as no-data (--keep-border-fill matches them)")


def _write_outputs(args: argparse.Namespace, inputs: Inputs, result, total: np.ndarray,
                   matcher, console: Console, kind: str, searches: dict) -> list[str]:
    """Write -o, then the tie points, report and plot (:func:`_write_extras`), within the
    caller's :func:`~sarfeat.io.written_together`; return the lines saying so. ``searches``:
    what the report says of the search (:func:`search_report`)."""
    extra = {"output_resampled": args.output is not None and not args.no_resample, **searches}
    wrote = []
    if args.output is not None:
        console.step(f"resampling {counted(inputs.moving.count, 'band')} of {args.moving} onto "
                     f"the {inputs.fixed.shape} fixed grid" if not args.no_resample else
                     "correcting the moving geotransform")
        output = _output(args, inputs, total)
        console.step(f"writing {args.output}")
        from ..io import Raster, write_raster, write_raster_windows

        keywords = {"display_kind": kind, **geotiff_keywords(args, args.output)}
        if isinstance(output, Raster):
            note = write_raster(args.output, output, **keywords)
        else:  # resampled onto the fixed grid: written a strip at a time
            note = write_raster_windows(args.output, output, **keywords)
            output = output.header
        wrote.append(f"wrote {args.output} ({note})")
        extra.update(output_report(args, output, args.output, note))
    return wrote + _write_extras(args, inputs, result, total, matcher, console, extra, kind)


def _stages(matcher) -> str:
    """What ``matcher`` runs, in a line: the keypoint matcher's stages for two SAR images,
    the dense structural matcher's for a pair with an optical image."""
    from ..matching import parse_modality
    from ..matching.dense import STAGES

    if parse_modality(matcher.modality) != ("sar", "sar"):
        return STAGES
    return ("coarse stage (rotation search on downsampled images), then fine stage (patches "
            "at full resolution)")


def _steps(result, console: Console) -> None:
    """-v: what each stage found, and its time."""
    d = result.diagnostics
    console.step(f"keypoint network: {network_text(d.get('network'))}")
    found = (f"{d.get('coarse_inliers')} inliers of {d.get('coarse_candidates')} matches"
             if d.get("coarse_score") is None else  # an optical pair's global search
             f"structure correlation {d['coarse_score']:.3f} (no point matches)")
    console.step(f"coarse stage: {found}, turn {d.get('coarse_angle')} deg, "
                 f"{d.get('seconds_coarse', float('nan')):.1f} s"
                 + (" (failed: the fine stage searched around the initial transform)"
                    if result.coarse_failed else ""))
    placed = "voted matches" if d.get("coarse_score") is None else "templates placed"
    console.step(f"fine stage: {d.get('fine_inliers')} inliers of {d.get('fine_candidates')} "
                 f"{placed}, {d.get('seconds_fine', float('nan')):.1f} s")


def _output(args: argparse.Namespace, inputs: Inputs, total: np.ndarray):
    """The raster to write: every band resampled, made a window at a time
    (:class:`~sarfeat.io.WarpedWindows`: a small image on a large fixed grid is never
    held whole), or the moving pixels re-georeferenced (a Raster)."""
    from dataclasses import replace

    fixed, moving = inputs.fixed, inputs.moving
    if args.no_resample:
        return replace(moving, transform=_shift_only(fixed, moving, total))
    # across CRSs, through the exact map between them, not total's affine fit of it
    return inputs.warped_moving_windows(total, order=args.order)


def _shift_only(fixed, moving, total: np.ndarray):
    """The moving geotransform shifted to where the registration puts it; refused otherwise."""
    from affine import Affine

    exact = updated_geotransform(fixed, total)
    corners = np.array([[0, 0, 1], [moving.shape[1], 0, 1], [0, moving.shape[0], 1],
                        [moving.shape[1], moving.shape[0], 1]], float)
    t = moving.transform
    own = np.array([[t.a, t.b, t.c], [t.d, t.e, t.f]])
    offset = (corners @ exact.T - corners @ own.T).mean(axis=0)
    shifted = own.copy()
    shifted[:, 2] += offset
    departure = np.abs(corners @ exact.T - corners @ shifted.T).max()
    size = raster_pixel_size(fixed)  # a rotated grid's too (a = e = 0 for a quarter turn)
    if departure > SHIFT_TOLERANCE_PX * size:
        raise RuntimeError(
            f"--no-resample: the transform is not a shift (a shift-only geotransform would be "
            f"off by up to {departure / size:.2f} fixed pixels, more than "
            f"{SHIFT_TOLERANCE_PX}); register without --no-resample to resample the image")
    return Affine(*shifted.ravel())


def _write_extras(args, inputs: Inputs, result, total, matcher, console: Console,
                  extra: dict, kind: str) -> list[str]:
    """Write --tie-points, --json and --plot; return the lines that say so, for the console
    once every file of the run is in place (:func:`~sarfeat.io.written_together`)."""
    wrote = []
    if args.tie_points is not None:
        votes = result.votes  # register() leaves the matcher as it was: votes are the result's
        if votes is not None and len(votes) != len(result.matches):
            votes = None
        names = getattr(matcher, "descriptor_names", None)
        # the most votes: two per descriptor; a pair with an optical image is matched
        # densely, and its votes are each placement's correlation in hundredths
        most = 100 if getattr(args, "modality", "sar") != "sar" else \
            2 * len(names) if names else None
        columns = tie_points(result, inputs, total, votes, most)
        console.step(f"writing {args.tie_points}")
        write_tie_points(args.tie_points, columns, inputs.fixed)
        wrote.append(f"wrote {args.tie_points} ({len(columns['id'])} tie points)")
    if args.json is not None:
        write_json(args.json, registration_report(result, total, inputs, _head(args), extra))
        wrote.append(f"wrote {args.json}")
    if args.plot is not None:
        from ..io import atomic_path
        from ..viz import plot_registration

        console.step(f"drawing {args.plot}")
        with atomic_path(args.plot) as temporary:  # a large pair drawn downsampled
            plot_registration(temporary, inputs.fixed_image, inputs.moving_image, result, kind,
                              modality=getattr(args, "modality", "sar"))
        wrote.append(f"wrote {args.plot}")
    return wrote


def _example(args: argparse.Namespace, console: Console) -> None:
    from ..io import written_together
    from ..metrics import correct_match_counts, registration_rmse
    from .common import checked_weights

    check_example(args)
    fixed, moving, truth = example_pair()
    weights = checked_weights(args.weights, args.trust)
    result = _register(fixed, moving, make_matcher(args, weights, args.input_kind,
                                                   console.progress),
                       console, order=args.order)
    rmse = registration_rmse(result.transform, truth.params, fixed.shape, moving.shape)
    ncm, cmr = correct_match_counts(result.keypoints_fixed, result.keypoints_moving,
                                    result.inlier_matches, truth.params)
    w, d = EXAMPLE_WARP, result.diagnostics
    for line in (
        f"sarfeat register example: Sentinel-1 Labrador scene, {fixed.shape[0]} x "
        f"{fixed.shape[1]} intensity (contains modified Copernicus Sentinel data)",
        f"fixed: VV; moving: VH warped by a similarity (scale {w['scale']}, rotation "
        f"{w['rotation_deg']:g} deg, translation {w['translation']} px), NaN outside",
        f"weights: {args.weights or DEFAULT_RELEASE}; model {args.model}; network: "
        f"{network_text(d.get('network'))}",
        f"matches: coarse {d['coarse_inliers']} inliers of {d['coarse_candidates']}, "
        f"fine {d['fine_inliers']} inliers of {d['fine_candidates']} voted; "
        f"{ncm} within 3 px of the truth (CMR {cmr:.2f})",
        f"confidence: {result.confidence:.2f}; residual RMS {d['residual_rms']:.2f} px",
        f"RMSE against the truth: {rmse:.3f} px",
        f"time: {result.seconds:.2f} s",
    ):
        console.say(line)
    with written_together():  # -o, --json and --plot together, or none of them
        wrote = _write_example(args, fixed, moving, truth, result, rmse, ncm, cmr)
    for line in wrote:
        console.say(line)


def _write_example(args: argparse.Namespace, fixed, moving, truth, result, rmse: float,
                   ncm: int, cmr: float) -> list[str]:
    """Write the example's -o, --json and --plot; return the lines that say so."""
    from ..io import Raster, atomic_path, write_raster
    from ..viz import plot_registration
    from .common import jsonable

    wrote, d = [], result.diagnostics
    if args.output is not None:
        warped = result.warped.astype(np.float32)[None]
        note = write_raster(args.output, Raster(warped, np.isfinite(warped), float("nan")),
                            display_kind="intensity", **geotiff_keywords(args, args.output))
        wrote.append(f"wrote {args.output} ({note})")
    if args.json is not None:
        report = {"example": "Sentinel-1 Labrador VV (fixed) vs VH under a known similarity",
                  "weights": args.weights or DEFAULT_RELEASE, "model": args.model,
                  "network": d.get("network"), "transform_fixed_to_moving": result.transform.params,
                  "truth_fixed_to_moving": truth.params, "rmse_px": rmse,
                  "correct_matches": ncm, "correct_match_ratio": cmr,
                  "confidence": result.confidence, "diagnostics": d,
                  "options": given_options(args, REPORTED_OPTIONS)}
        write_json(args.json, jsonable(report))
        wrote.append(f"wrote {args.json}")
    if args.plot is not None:
        with atomic_path(args.plot) as temporary:
            plot_registration(temporary, fixed, moving, result, "intensity")
        wrote.append(f"wrote {args.plot}")
    return wrote
