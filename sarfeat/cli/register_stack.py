"""``sarfeat register-stack REFERENCE IMAGES... -o OUTDIR``: a stack, on Dask.

Every image is registered onto REFERENCE with :func:`sarfeat.register` as a
Dask task (:func:`sarfeat.parallel.iter_register_pairs`): on a new
``LocalCluster`` of ``--workers`` processes, or on a running cluster given by
``--scheduler``. The workers write, into OUTDIR, for each image ``NAME``
(its file stem):

- ``NAME.registered.EXT``: every band of the image resampled onto REFERENCE's
  grid, as ``sarfeat register -o`` writes it (:func:`sarfeat.io.warp_onto`,
  :func:`sarfeat.io.write_raster`; ``--order`` 0 nearest, 1 bilinear, the
  default, or 3 cubic): in the image's dtype and nodata (an integer
  file without one gets its dtype's minimum; ``--nodata`` marks no-data too),
  EXT by ``--format``: ``tif`` with REFERENCE's georeferencing when rasterio is
  installed (``--co``, ``--overviews``: :mod:`sarfeat.cli.geotiff_output`;
  ``--co`` checked before any work for each image's dtype and bands),
  ``npy``, or ``png`` (an 8-bit colour picture with its colours and alpha, else
  an 8-bit view of the first band; a 16-bit colour picture refused before any
  work);
- ``NAME.json``: the transform and diagnostics, as ``sarfeat register
  --json`` writes them, or the reason the image could not be registered (and,
  for an optical pair refused by the search, ``hint``: how to widen it, as
  ``sarfeat register`` says it, or, for a SAR pair with a colour picture read as
  its gray values, how to match it as optical; also on the command's line for
  the image);

when REFERENCE and an image are both georeferenced, the pair is matched as
``sarfeat register`` matches it (:func:`sarfeat.registration.prepare_pair`):
REFERENCE cropped to the image's footprint, an image on another grid or in
another CRS brought onto REFERENCE's grid first, footprints that do not overlap
refused with that reason; its transform still maps REFERENCE's pixels to the
image file's own pixels, and its ``NAME.json`` is ``sarfeat register --json``'s
report; what georeferencing a pair matched from pixels alone has and does not use
(GCPs, RPCs, a geotransform without a CRS) is said as ``sarfeat register`` says it,
once for REFERENCE and once for each image where it applies
(:func:`~sarfeat.cli.stack_inputs.georeferencing_notes`); a warning that a worker
raises while it runs an image's task is shown here, as ``register`` shows its own,
naming the image and the worker (:mod:`sarfeat.parallel.task_warnings`: on a cluster
given by ``--scheduler`` it went to the workers' logs alone);

with ``--modality optical-sar`` (an optical REFERENCE, SAR IMAGES),
``sar-optical`` or ``optical`` (all optical), each pair is matched as
``sarfeat register --modality`` matches it, with the same ``--turns``,
``--scales``, ``--dense-model`` and ``--keep-border-fill``
(:mod:`sarfeat.cli.search_options`: the workers build register's matcher, and two
georeferenced files are searched at the upright turn only unless ``--turns
any``); ``--reference-band`` and ``--image-band`` choose the band matched of
each side (a multi-band optical reference beside SAR images), ``--band`` of both
(not with either of them; every image of several bands with none chosen, or without
the band chosen, is refused before any work, from its header:
:func:`~sarfeat.cli.stack_inputs.images_needing_a_band`);
``--min-valid-fraction`` and ``--max-fine-patches`` are register's too (an
image with too small a fraction of valid pixels fails alone);

and the client writes ``summary.json``: the images registered, those that
failed and why (with the ``hint`` of their ``NAME.json``; a ``NAME.json`` that
the worker's disk refuses is written by the client, or, refused there too, said
in ``report_error``, the transform of an image registered kept in the summary),
what ran the keypoint network (``network``: runtime, precision and device; a
list when workers differed, null when no image ran it), the options that shape the outputs as given
(``weights``, ``model``, ``format``, ``order``, ``modality``, ``turns``,
``scales``, ``dense_model``, ``band``,
``reference_band``, ``image_band``, ``keep_border_fill``,
``min_valid_fraction``, ``max_fine_patches``, ``input_kind``, ``nodata``,
``seed``, ``precision``, ``device``, ``creation_options``, ``overviews`` and
``overview_resampling``: enough to repeat the run), the time and the
throughput. Images whose stems are equal (ignoring case), or equal to
``summary``, are named ``NAME_<i>`` by their position
(:func:`~sarfeat.cli.stack_outputs.output_names`: every name is unique; a file
listed twice is refused before any work), so
that no output is written over another or over the summary; a run that would
write over one of its inputs, or into an OUTDIR that is a file or takes no file (nor its
nearest existing parent, for one to be made), is refused before any work; a
``summary.json``, and the files of
these names (registered images in any ``--format``), left by an earlier run
are refused before any work (exit status 2) unless ``--overwrite``, with which they
are removed before the first task (an existing OUTDIR is fine); every
file is written to a temporary file and renamed, so that a killed run leaves no
summary and no file that looks complete. The exit status is 0 when every image
was registered, 1 when any failed (the others are still written) or when
``summary.json`` could not be written (its error's line follows the count of
images registered), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

from ..wording import counted
from .common import (DEFAULT_RELEASE, MODELS, ORDER_HELP, ORDERS, Console, UsageError,
                     add_console_options, add_overwrite_option, checked_weights, positive_int)
from .detect import add_network_options
from .geotiff_output import add_geotiff_options, check_geotiff_options, geotiff_keywords
from .register_checks import check_search_options
from .search_options import (add_band_options, add_matching_options, add_search_options,
                             matcher_options, search_report, upright_turns, whole_circle_search)
from .stack_inputs import (check_distinct, colour_sides, georeferencing_notes, matched_bands,
                           read_reference, scaling_notes)
from .stack_outputs import (FORMATS, SUMMARY, check_earlier_outputs, check_inputs_kept,
                            check_output_dir, earlier_outputs, output_names, prepare_output_dir)
from .stack_report import SHAPING, outcome_entry, print_outcome, save_unreported, write_summary
# under the names that this module had for them
from .stack_report import save_outcome as _save
from .stack_report import stack_network as _stack_network

# the stack's outputs and their checks live in stack_outputs; re-exported, as before
__all__ = ["add_parser", "run", "output_names", "check_inputs_kept", "check_earlier_outputs",
           "earlier_outputs", "check_output_dir", "prepare_output_dir", "SUMMARY"]

_DESCRIPTION = (
    "Register each of IMAGES onto REFERENCE (.npy, PNG, JPEG or TIFF/GeoTIFF; --band, "
    "--reference-band and --image-band choose the bands matched of multi-band files) as Dask "
    "tasks, on a local cluster of --workers "
    "processes or on the cluster at --scheduler. For each image NAME, OUTDIR receives "
    "NAME.registered.EXT (every band resampled onto REFERENCE's grid, in the image's dtype "
    "and nodata, as `sarfeat register -o` writes it) and NAME.json (transform and "
    "diagnostics, or why it failed); summary.json lists the successes and failures. Two "
    "georeferenced inputs are matched as `sarfeat register` matches them: where their "
    "footprints overlap (REFERENCE cropped to the image's), on REFERENCE's grid. With "
    "--modality optical-sar, SAR IMAGES are registered onto an optical REFERENCE (a "
    "Sentinel-2 scene, say; sar-optical the other way round; optical: all optical), as "
    "`sarfeat register --modality` registers a pair."
)


def add_parser(commands) -> None:
    """Add the ``register-stack`` subcommand to ``commands`` (argparse subparsers)."""
    stack = commands.add_parser(
        "register-stack", description=_DESCRIPTION,
        help="register a stack of images onto a reference, in parallel on Dask",
        epilog="An existing OUTDIR is fine, but an earlier run's summary.json, or its NAME.json "
               "or NAME.registered.EXT (in any --format) under this run's names, is refused "
               "before any work unless --overwrite, which replaces them. Exit status 1 when "
               "any image could not be registered (the others are written), or when "
               "summary.json could not be written.",
    )
    # (flags, add_argument keywords): the stack's own options, then those of `sarfeat register`
    options = [
        (("reference",), dict(metavar="REFERENCE", help="the fixed image of every pair")),
        (("images",), dict(nargs="+", metavar="IMAGES", help="the images to register")),
        (("-o", "--output-dir"), dict(type=Path, required=True, metavar="OUTDIR",
                                      help="folder for the outputs (created if missing)")),
        (("--format",), dict(choices=FORMATS, default="tif",
                             help="file type of the registered images (default tif)")),
        (("--order",), dict(type=int, choices=ORDERS, default=1, help=ORDER_HELP)),
        (("--workers",), dict(type=positive_int, default=None, metavar="N",
                              help="worker processes of the local cluster (default: one per "
                                   "CPU core; not with --scheduler)")),
        (("--scheduler",), dict(default=None, metavar="ADDRESS",
                                help="run on this Dask scheduler (e.g. tcp://host:8786) instead "
                                     "of a local cluster; its workers must see the same files")),
        (("--retries",), dict(type=int, default=2, metavar="R",
                              help="reruns of a task after an I/O or memory error (default 2; "
                                   "not after a full disk)")),
        (("--lost-retries",), dict(type=int, default=2, metavar="L",
                                   help="resubmissions of an image lost with its worker (a "
                                        "worker that died or was killed; default 2)")),
        (("--no-progress",), dict(action="store_true", help="hide the progress bar (shown "
                                  "on a terminal, or with -v)")),
        (("--model",), dict(choices=MODELS, default="affine",
                            help="transform model (default affine)")),
        (("--seed",), dict(type=int, default=0, help="seed of RANSAC's sampling (default 0: "
                                                     "reproducible results)")),
    ]
    for flags, keywords in options:
        stack.add_argument(*flags, **keywords)
    # as `sarfeat register` has them, REFERENCE the fixed image
    add_network_options(stack, pairs=True)
    add_search_options(stack, "REFERENCE", "IMAGES")
    add_matching_options(stack, "REFERENCE")
    add_band_options(stack, "REFERENCE and IMAGES", ("--reference-band", "REFERENCE"),
                     ("--image-band", "each of IMAGES"))
    add_geotiff_options(stack, "each NAME.registered.tif")
    add_overwrite_option(stack)
    add_console_options(stack)


def _connect(args: argparse.Namespace, distributed):
    """A client of the scheduler given by --scheduler, or None for a local cluster."""
    if args.scheduler is None:
        return None
    try:
        return distributed.Client(args.scheduler, timeout="20s")
    except OSError as error:
        raise UsageError(f"cannot reach the Dask scheduler {args.scheduler!r}: {error}") \
            from None


def run(args: argparse.Namespace) -> None:
    """Run ``sarfeat register-stack`` (see the module docstring).

    Raises
    ------
    sarfeat.cli.common.UsageError
        For a missing input, an unusable output folder, unknown weights or no Dask (the
        ``parallel`` extra).
    RuntimeError
        When any image could not be registered (after writing everything else).
    """
    from dataclasses import replace

    from ..parallel import client_for, iter_register_pairs, require_distributed
    from .report import given_options

    console = Console(args)
    if args.scheduler is not None and args.workers is not None:
        raise UsageError("--workers sizes the local cluster, which --scheduler replaces (the "
                         "scheduler's workers run the tasks): give one of them")
    check_search_options(args)  # as `sarfeat register` checks them
    check_distinct(args.images)
    # --co against each output's dtype and bands, from the headers (read_reference)
    check_geotiff_options(args, Path(f"x.{args.format}"), "--format tif", dtype=None)
    folder = args.output_dir  # as given: a quoted '~/out' is ./~/out, as detect writes it
    names = output_names(args.images)
    check_output_dir(folder)
    check_inputs_kept([args.reference, *args.images], folder, names, f".{args.format}")
    check_earlier_outputs(folder, names, args.overwrite, keep=[args.reference, *args.images])
    try:  # a missing extra is a usage error, as a GeoTIFF without rasterio is (exit 2)
        distributed = require_distributed()
    except ImportError as error:
        raise UsageError(str(error)) from None
    raster, headers = read_reference(args)
    windowed = raster.count == 0  # its header: each task reads the band it matches
    count = len(raster.bands) if windowed else raster.count
    console.step(f"read REFERENCE {args.reference}: {counted(count, 'band')} "
                 f"{raster.shape} {raster.data.dtype}; {counted(len(args.images), 'image')} "
                 "to register" + (" (its header and band matched: each task reads that band "
                                  "where its image lies)" if windowed else ""))
    for note in (georeferencing_notes(str(args.reference), raster, headers)  # as register's
                 + scaling_notes(str(args.reference), raster, headers)):
        console.say(note)
    sar = args.modality == "sar"  # a pair with an optical image runs no network
    weights = checked_weights(args.weights, args.trust) if sar else None
    # an earlier run's registered images in every --format (--overwrite): one left beside
    # this run's report (of an image that fails this time) would pass for this run's
    prepare_output_dir(folder, earlier_outputs(names), keep=[args.reference, *args.images])
    weights_name = args.weights or DEFAULT_RELEASE if sar else None
    options, georeferenced, searches = _searches(args, raster, console)
    save = functools.partial(
        _save, output_dir=str(folder.resolve()), suffix=f".{args.format}",
        reference=replace(raster, data=raster.data[:0], valid=raster.valid[:0]),
        input_kind=args.input_kind, reference_path=str(args.reference),
        images=[str(image) for image in args.images], weights=weights_name, model=args.model,
        nodata=args.nodata, order=args.order, options=given_options(args, SHAPING),
        bands=matched_bands(args), searches=searches,
        geotiff=geotiff_keywords(args, Path(f"x.{args.format}")),
        pictures=colour_sides(args, raster, headers),  # for a refused search's hint
    )
    # the path, not the pixels, travels in the graph of a reference read by its header
    reference = os.path.abspath(args.reference) if windowed else raster
    started = time.perf_counter()
    console.step(f"connecting to the Dask scheduler {args.scheduler}" if args.scheduler
                 else "starting a local Dask cluster")
    client = _connect(args, distributed)
    successes, failures, networks = [], [], []
    try:
        with client_for(client, args.workers) as active:
            workers = len(active.scheduler_info().get("workers", {}))
            console.step(f"registering on {counted(workers, 'worker')}")
            outcomes = iter_register_pairs(
                [(reference, os.fspath(image)) for image in args.images], client=active,
                names=names, weights=weights, band=matched_bands(args), retries=args.retries,
                lost_retries=args.lost_retries, georeferenced_options=georeferenced,
                min_valid_fraction=args.min_valid_fraction,
                keep_warped=False, postprocess=save,
                progress=console.progress and not args.no_progress, **options,
            )
            for outcome in outcomes:
                if not outcome.ok and "report" not in outcome.extra:  # lost, or not written
                    outcome = save_unreported(outcome, save, folder / f"{outcome.name}"
                                              f".registered.{args.format}")
                print_outcome(outcome, console)
                entry = outcome_entry(outcome, args.images[outcome.index])
                (successes if outcome.ok else failures).append(entry)
                networks.append(outcome.result.diagnostics.get("network") if outcome.ok
                                else outcome.extra.get("network"))
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - started
    count = (f"registered {len(successes)} of {len(args.images)} images in {seconds:.1f} s "
             f"on {counted(workers, 'worker')}")
    console.step(f"writing {folder / SUMMARY}")
    try:
        write_summary(folder / SUMMARY, args, weights_name, workers, seconds,
                      successes, failures, _stack_network(networks))
    except OSError:  # said on the error's line (exit status 1), after the count
        console.say(f"{count}; could not write {folder / SUMMARY}")
        raise
    console.say(f"{count}; wrote {folder / SUMMARY}")
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(args.images)} images could not be "
                           f"registered (see {folder / SUMMARY})")


def _searches(args: argparse.Namespace, reference, console: Console):
    """The matcher options of ``sarfeat register`` for the stack's pairs: those of an image
    matched on its own grid, what changes for two georeferenced files (only the upright
    turn of an optical pair, as `register` searches it), and the two reports' words."""
    whole_circle = whole_circle_search(args)
    upright = upright_turns(args, False), upright_turns(args, True)
    options, georeferenced = (matcher_options(args, args.input_kind, turn, whole_circle)
                              for turn in upright)
    changed = {key: value for key, value in georeferenced.items()
               if key not in options or options[key] != value}
    if changed and reference.georeferenced:
        console.say("REFERENCE georeferenced: an image georeferenced too is searched at the "
                    "upright turn only (--turns any searches every turn)")
    if whole_circle:
        console.say("--turns any: the whole circle is searched, every 15 degrees")
    return options, changed, tuple(search_report(args, turn, whole_circle) for turn in upright)
