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
  installed (``--co``, ``--overviews``: :mod:`sarfeat.cli.geotiff_output`),
  ``npy``, or ``png`` (8-bit view of the first band);
- ``NAME.json``: the transform and diagnostics, as ``sarfeat register
  --json`` writes them, or the reason the image could not be registered (and,
  for an optical pair refused by the search, ``hint``: how to widen it, as
  ``sarfeat register`` says it; also on the command's line for the image);

when REFERENCE and an image are both georeferenced, the pair is matched as
``sarfeat register`` matches it (:func:`sarfeat.registration.prepare_pair`):
REFERENCE cropped to the image's footprint, an image on another grid or in
another CRS brought onto REFERENCE's grid first, footprints that do not overlap
refused with that reason; its transform still maps REFERENCE's pixels to the
image file's own pixels, and its ``NAME.json`` is ``sarfeat register --json``'s
report;

with ``--modality optical-sar`` (an optical REFERENCE, SAR IMAGES),
``sar-optical`` or ``optical`` (all optical), each pair is matched as
``sarfeat register --modality`` matches it, with the same ``--turns``,
``--scales``, ``--dense-model`` and ``--keep-border-fill``
(:mod:`sarfeat.cli.search_options`: the workers build register's matcher, and two
georeferenced files are searched at the upright turn only unless ``--turns
any``); ``--reference-band`` and ``--image-band`` choose the band matched of
each side (a multi-band optical reference beside SAR images), ``--band`` of both
(every image of several bands with none chosen, or without the band chosen, is
refused before any work, from its header:
:func:`~sarfeat.cli.stack_inputs.images_needing_a_band`);
``--min-valid-fraction`` and ``--max-fine-patches`` are register's too (an
image with too small a fraction of valid pixels fails alone);

and the client writes ``summary.json``: the images registered, those that
failed and why (with the ``hint`` of their ``NAME.json``), what ran the keypoint
network (``network``: runtime, precision and device; a list when workers differed,
null when no image ran it), the options that shape the outputs as given
(``weights``, ``model``, ``format``, ``order``, ``modality``, ``turns``,
``scales``, ``dense_model``, ``band``,
``reference_band``, ``image_band``, ``keep_border_fill``,
``min_valid_fraction``, ``max_fine_patches``, ``input_kind``, ``nodata``,
``seed``, ``precision``, ``device``, ``creation_options``, ``overviews`` and
``overview_resampling``: enough to repeat the run), the time and the
throughput. Images
whose stems are equal (ignoring case), or equal to ``summary``, are named
``NAME_<i>`` by their position (:func:`output_names`: every name is unique; a file
listed twice is refused before any work), so
that no output is written over another or over the summary; a run that would
write over one of its inputs is refused before any work; a ``summary.json``, and the files of
these names (registered images in any ``--format``), left by an earlier run
are refused before any work (exit status 2) unless ``--overwrite``, with which they
are removed before the first task (an existing OUTDIR is fine); every
file is written to a temporary file and renamed, so that a killed run leaves no
summary and no file that looks complete. The exit status is 0 when every image
was registered, 1 when any failed (the others are still written), 2 for bad
usage.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path
from typing import Sequence

from .common import (DEFAULT_RELEASE, MODELS, ORDER_HELP, ORDERS, Console, UsageError,
                     add_console_options, add_overwrite_option, check_bands, checked_band,
                     checked_weights, input_error, jsonable,
                     positive_int, with_nodata)
from .detect import add_network_options
from .geotiff_output import add_geotiff_options, check_geotiff_options, geotiff_keywords
from .register_checks import check_search_options
from .search_options import (add_band_options, add_matching_options, add_search_options,
                             matcher_options, refusal_hint, search_report, upright_turns,
                             whole_circle_search)
from .stack_inputs import check_distinct, images_needing_a_band

__all__ = ["add_parser", "run", "output_names", "check_inputs_kept", "check_earlier_outputs",
           "earlier_outputs", "check_output_dir", "prepare_output_dir", "SUMMARY"]

#: The summary's file name in OUTDIR.
SUMMARY = "summary.json"

_FORMATS = ("tif", "npy", "png")
#: The options recorded in the summary beside weights and model: those that shape what is
#: written, so that a run can be repeated from its summary.
_SHAPING = ("format", "order", "modality", "turns", "scales", "dense_model", "band",
            "reference_band", "image_band", "keep_border_fill", "min_valid_fraction",
            "max_fine_patches", "input_kind", "nodata", "seed", "precision", "device",
            "creation_options", "overviews", "overview_resampling")


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
               "any image could not be registered (the others are written).",
    )
    # (flags, add_argument keywords): the stack's own options, then those of `sarfeat register`
    options = [
        (("reference",), dict(metavar="REFERENCE", help="the fixed image of every pair")),
        (("images",), dict(nargs="+", metavar="IMAGES", help="the images to register")),
        (("-o", "--output-dir"), dict(type=Path, required=True, metavar="OUTDIR",
                                      help="folder for the outputs (created if missing)")),
        (("--format",), dict(choices=_FORMATS, default="tif",
                             help="file type of the registered images (default tif)")),
        (("--order",), dict(type=int, choices=ORDERS, default=1, help=ORDER_HELP)),
        (("--workers",), dict(type=positive_int, default=None, metavar="N",
                              help="worker processes of the local cluster (default: one per "
                                   "CPU core)")),
        (("--scheduler",), dict(default=None, metavar="ADDRESS",
                                help="run on this Dask scheduler (e.g. tcp://host:8786) instead "
                                     "of a local cluster; its workers must see the same files")),
        (("--retries",), dict(type=int, default=2, metavar="R",
                              help="reruns of a task after an I/O or memory error (default 2)")),
        (("--lost-retries",), dict(type=int, default=2, metavar="L",
                                   help="resubmissions of an image lost with its worker (a "
                                        "worker that died or was killed; default 2)")),
        (("--no-progress",), dict(action="store_true", help="hide the progress bar")),
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


def output_names(images: list[str]) -> list[str]:
    """Unique file stems of the outputs, one per image.

    An image keeps its stem when no other has it (ignoring case) and it is not
    the summary's (``summary``); the others get their position
    (``NAME_<i>``), and a name still taken (an image called ``a_001`` beside
    two called ``a``) gets a further number, so that no output is written over
    another.
    """
    stems = [Path(image).stem for image in images]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    reserved = Path(SUMMARY).stem
    kept = [counts[stem.lower()] == 1 and stem.lower() != reserved for stem in stems]
    taken = {stem.lower() for stem, keep in zip(stems, kept) if keep}
    names = []
    for index, (stem, keep) in enumerate(zip(stems, kept)):
        name = stem
        if not keep:
            name, extra = f"{stem}_{index:03d}", 0
            while name.lower() in taken:
                extra += 1
                name = f"{stem}_{index:03d}_{extra}"
            taken.add(name.lower())
        names.append(name)
    return names


def check_inputs_kept(inputs: list[str], folder: Path, names: list[str], suffix: str) -> None:
    """Refuse, before any work, a run that would write over one of its inputs.

    Raises
    ------
    sarfeat.cli.common.UsageError
        When an input is one of the files the run writes into ``folder``.
    """
    written = {(folder / file).resolve(): file for file in [SUMMARY, *_outputs(names, suffix)]}
    for image in inputs:
        target = written.get(Path(image).expanduser().resolve())
        if target is not None:
            raise UsageError(f"input {image!r} is the output {target} of this run in "
                             f"{str(folder)!r}: move it, or choose another -o folder")


def earlier_outputs(names: list[str]) -> list[str]:
    """The files of OUTDIR that a run of the images named ``names`` writes or removes (an
    earlier run's, :func:`prepare_output_dir`): the summary, and each image's report and
    registered image in every ``--format``."""
    files = [file for form in _FORMATS for file in _outputs(names, f".{form}")]
    return list(dict.fromkeys([SUMMARY, *files]))


def check_earlier_outputs(folder: Path, names: list[str], overwrite: bool,
                          keep: Sequence[str | os.PathLike] = ()) -> None:
    """Refuse, before any work, a run that would replace or remove files already in
    ``folder`` (:func:`earlier_outputs`, but none of ``keep``, this run's inputs), unless
    ``overwrite`` (``--overwrite``); an existing folder is fine.

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming ``-o``, the first such file and how many more.
    """
    if overwrite or not folder.is_dir():
        return
    kept = {Path(path).expanduser().resolve() for path in keep}
    found = [file for file in earlier_outputs(names)
             if ((folder / file).exists() or (folder / file).is_symlink())
             and (folder / file).resolve() not in kept]
    if found:
        more = f" and {len(found) - 1} more of its output files" if len(found) > 1 else ""
        raise UsageError(f"-o {str(folder)!r} already holds {found[0]}{more} (an earlier "
                         "run's): pass --overwrite to replace them, or choose another -o "
                         "folder")


def _outputs(names: list[str], suffix: str) -> list[str]:
    """The files that the images named ``names`` get in OUTDIR: image and report of each."""
    return [file for name in names for file in (f"{name}.registered{suffix}", f"{name}.json")]


def _save(outcome, *, output_dir: str, suffix: str, reference, input_kind: str,
          reference_path: str, images: list[str], weights: str | None, model: str,
          nodata: float | None = None, order: int = 1, options: dict | None = None,
          bands: tuple = (None, None), searches: tuple[dict, dict] = ({}, {}),
          geotiff: dict | None = None):
    """Write one image's outputs where the worker runs; the warped image stays there.

    ``bands``: the reference's and the image's band matched; ``searches``: what the report
    says of the search (:func:`~sarfeat.cli.search_options.search_report`) of an image
    matched on its own grid and of two georeferenced files; ``geotiff``: the GeoTIFF
    keywords of :func:`~sarfeat.io.write_raster` (``--co``, ``--overviews``).
    """
    from ..io import read_raster, warp_onto, write_raster
    from ..registration import pair_input_kind
    from .report import registration_report, write_json

    image = images[outcome.index]
    folder = Path(output_dir)
    report_path = folder / f"{outcome.name}.json"
    outcome.extra.update(input=image, report=str(report_path))
    head = {"name": outcome.name, "fixed": reference_path, "moving": image, "weights": weights,
            "model": model, "fixed_band": bands[0], "moving_band": bands[1],
            "worker": outcome.worker, "options": options}
    search = searches[outcome.inputs is not None]
    if outcome.ok:
        result = outcome.result
        output = folder / f"{outcome.name}.registered{suffix}"
        # every band, as `sarfeat register -o` writes it (the task kept the file's pixels
        # only for two georeferenced files)
        moving = read_raster(image) if outcome.inputs is None else outcome.inputs.moving
        raster = warp_onto(with_nodata(moving, nodata), reference, result.transform.params,
                           order=order)
        note = write_raster(output, raster, display_kind=pair_input_kind(input_kind, reference,
                                                                         moving),
                            **geotiff or {})
        if outcome.inputs is not None:  # two georeferenced files: as `sarfeat register --json`
            report = registration_report(result, result.transform.params, outcome.inputs, head,
                                         {"output": str(output), "output_format": note,
                                          **search})
        else:
            report = {**_plain_report(head, outcome, output, note), **search}
        outcome.extra["output"] = str(output)
    else:
        if outcome.error_type == "BandChoiceError":  # the image's (REFERENCE's was checked)
            outcome.error = _image_band_error(image, outcome.error)
        # how to widen the search of a refused optical pair, as `sarfeat register` says it
        resampled = outcome.inputs is not None and outcome.inputs.resampled
        outcome.extra["hint"] = refusal_hint(
            argparse.Namespace(**options or {}), outcome.error_type, search["upright_search"],
            search["whole_circle_search"], resampled) if outcome.extra.get("searched") else None
        report = jsonable({**head, "status": "failed", "error": outcome.error,
                           "error_type": outcome.error_type, "hint": outcome.extra["hint"],
                           "network": outcome.extra.get("network")})
    try:
        write_json(report_path, report)
    except BaseException:
        # the image is then reported failed: leave no registered image that says otherwise
        if "output" in outcome.extra:
            Path(outcome.extra.pop("output")).unlink(missing_ok=True)
        raise
    return outcome


def _image_band_error(image: str, error: str) -> str:
    """The error of an image of several bands matched with no band chosen, naming
    ``--image-band`` (``error`` as it came, should the file read otherwise now)."""
    from ..io import BandChoiceError, read_raster

    try:
        read_raster(image).band(None)
    except BandChoiceError as choice:
        return choice.choose_with("--image-band")
    return error


def _plain_report(head: dict, outcome, output: Path, note: str) -> dict:
    """The report of an image matched on its own grid (not two georeferenced files)."""
    result = outcome.result
    d = result.diagnostics
    return jsonable({
        **head, "status": "registered", "output": str(output), "output_format": note,
        "fixed_shape": outcome.extra["fixed_shape"],
        "moving_shape": outcome.extra["moving_shape"],
        "transform_fixed_to_moving": result.transform.params,
        "transform_moving_to_fixed": result.moving_to_fixed.params,
        "confidence": result.confidence, "seconds": result.seconds, "network": d.get("network"),
        "residuals_px": {"median": d.get("residual_median"), "rms": d.get("residual_rms"),
                         "frame": "pixels of the moving file"},  # matched on its own grid
        "diagnostics": {k: v for k, v in d.items() if k != "failure"}})


def prepare_output_dir(folder: Path, outputs: Sequence[str] = (),
                       keep: Sequence[str | os.PathLike] = ()) -> None:
    """Create OUTDIR; remove an earlier run's summary and ``outputs`` (file names), but
    none of the files ``keep`` (this run's inputs).

    What an earlier run wrote under this run's names would otherwise stay beside
    it: the registered image of an image that fails this time, or the report of
    one lost with its worker, would describe this run wrongly.
    """
    check_output_dir(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"-o {str(folder)!r} cannot be created: {error.strerror}") from None
    kept = {Path(path).expanduser().resolve() for path in keep}
    for file in [SUMMARY, *outputs]:
        if (folder / file).resolve() not in kept:
            (folder / file).unlink(missing_ok=True)


def check_output_dir(folder: Path) -> None:
    """Refuse, before any work, an OUTDIR that is a file, or that cannot be made because a
    file stands where one of its parent folders would be.

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming ``-o`` and the file in the way.
    """
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {str(folder)!r} exists and is not a folder")
    parent = folder
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"-o {str(folder)!r} cannot be created: {str(parent)!r} is not a "
                         "folder")


def _bands(args: argparse.Namespace) -> tuple:
    """The band matched of REFERENCE and of each image: --reference-band and --image-band,
    or --band where not given."""
    return (args.band if args.reference_band is None else args.reference_band,
            args.band if args.image_band is None else args.image_band)


def _read_reference(args: argparse.Namespace):
    """Check the inputs; return the reference raster (its band to match checked, and
    refused when it has no valid pixel)."""
    import numpy as np

    from ..io import RasterError, read_raster

    missing = [image for image in args.images if not Path(image).is_file()]
    if missing:
        what = "is not a regular file" if Path(missing[0]).exists() else "does not exist"
        raise UsageError(f"input file {missing[0]!r} {what}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if args.retries < 0:
        raise UsageError(f"--retries must be >= 0, got {args.retries}")
    if args.lost_retries < 0:
        raise UsageError(f"--lost-retries must be >= 0, got {args.lost_retries}")
    band, image_band = _bands(args)
    try:
        raster = read_raster(args.reference)
        marked = with_nodata(raster, args.nodata)
        # every image, from its header: a band to choose (or out of range) fails before any
        # work, not in its task; REFERENCE's and the images' options in one message
        refused = images_needing_a_band(args.images, image_band)
        check_bands([(marked, band, "--reference-band"),
                     *[(image, image_band, "--image-band") for image in refused[:1]]],
                    more=[str(image.path) for image in refused[1:]])
        matched = checked_band(marked, band, "--reference-band")
    except RasterError as error:
        raise input_error(error) from None
    if not np.isfinite(matched).any():  # every image would fail, each in its own task
        raise UsageError(f"REFERENCE {args.reference!r} has no valid pixel"
                         + ("" if band is None else f" in band {band}")
                         + ": all NaN or no-data" + (f" (--nodata {args.nodata:g})"
                                                     if args.nodata is not None else ""))
    return raster


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
        For a missing input, an unusable output folder or unknown weights.
    RuntimeError
        When any image could not be registered (after writing everything else).
    """
    from dataclasses import replace

    from ..parallel import iter_register_pairs
    from ..parallel._client import client_for, require_distributed
    from .report import given_options

    console = Console(args)
    check_search_options(args)  # as `sarfeat register` checks them
    check_distinct(args.images)
    check_geotiff_options(args, Path(f"x.{args.format}"), "--format tif")
    folder = args.output_dir.expanduser()
    names = output_names(args.images)
    check_output_dir(folder)
    check_inputs_kept([args.reference, *args.images], folder, names, f".{args.format}")
    check_earlier_outputs(folder, names, args.overwrite, keep=[args.reference, *args.images])
    distributed = require_distributed()
    raster = _read_reference(args)
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
        nodata=args.nodata, order=args.order, options=given_options(args, _SHAPING),
        bands=_bands(args), searches=searches,
        geotiff=geotiff_keywords(args, Path(f"x.{args.format}")),
    )
    started = time.perf_counter()
    client = _connect(args, distributed)
    successes, failures, networks = [], [], []
    try:
        with client_for(client, args.workers) as active:
            workers = len(active.scheduler_info().get("workers", {}))
            outcomes = iter_register_pairs(
                [(raster, os.fspath(image)) for image in args.images], client=active,
                names=names, weights=weights, band=_bands(args), retries=args.retries,
                lost_retries=args.lost_retries, georeferenced_options=georeferenced,
                min_valid_fraction=args.min_valid_fraction,
                keep_warped=False, postprocess=save,
                progress=not (args.no_progress or console.quiet), **options,
            )
            for outcome in outcomes:
                _print_outcome(outcome, console)
                entry = _entry(outcome, args.images[outcome.index])
                (successes if outcome.ok else failures).append(entry)
                networks.append(outcome.result.diagnostics.get("network") if outcome.ok
                                else outcome.extra.get("network"))
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - started
    _write_summary(folder / SUMMARY, args, weights_name, workers, seconds,
                   successes, failures, _stack_network(networks))
    console.say(f"registered {len(successes)} of {len(args.images)} images in {seconds:.1f} s "
                f"on {workers} workers; wrote {folder / SUMMARY}")
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


def _entry(outcome, image) -> dict:
    """The summary's line of one image."""
    entry = {"name": outcome.name, "input": str(image), "report": outcome.extra.get("report"),
             "worker": outcome.worker, "seconds": outcome.seconds}
    if outcome.ok:
        diagnostics = outcome.result.diagnostics
        entry.update(output=outcome.extra.get("output"), confidence=outcome.result.confidence,
                     fine_inliers=diagnostics.get("fine_inliers"),
                     residual_rms=diagnostics.get("residual_rms"))
    else:
        # how to widen a refused search, as the image's NAME.json and failure line say it
        entry.update(error=outcome.error, error_type=outcome.error_type,
                     hint=outcome.extra.get("hint"))
    return entry


def _print_outcome(outcome, console: Console) -> None:
    if outcome.ok:
        d = outcome.result.diagnostics
        console.say(f"{outcome.name}: {d.get('fine_inliers')} inlier matches, confidence "
                    f"{outcome.result.confidence:.2f}, {outcome.seconds:.1f} s")
    else:
        hint = outcome.extra.get("hint")
        console.say(f"{outcome.name}: FAILED ({outcome.error_type}): {outcome.error}"
                    + (f"; {hint}" if hint else ""))


def _stack_network(networks: list) -> dict | list | None:
    """What ran the keypoint network for the stack: the one runtime, precision and device of
    every image that ran it; a list of them when workers differed; None when none ran."""
    distinct = []
    for network in networks:
        if network is not None and network not in distinct:
            distinct.append(network)
    return distinct[0] if len(distinct) == 1 else distinct or None


def _write_summary(path: Path, args, weights: str, workers: int, seconds: float,
                   successes: list, failures: list, network: dict | list | None) -> None:
    from .. import __version__
    from .report import given_options, write_json

    position = {str(image): index for index, image in enumerate(args.images)}
    summary = {
        "sarfeat_version": __version__,
        "reference": str(args.reference),
        "images": len(args.images),
        "registered": len(successes),
        "failed": len(failures),
        "weights": weights,
        "network": network,
        "model": args.model,
        # the options that shape the outputs, as given (network: what 'auto' chose)
        **given_options(args, _SHAPING),
        "scheduler": args.scheduler or "local",
        "workers": workers,
        "seconds": seconds,
        "pairs_per_minute": 60.0 * len(args.images) / seconds if seconds > 0 else None,
        "successes": sorted(successes, key=lambda e: position[e["input"]]),
        "failures": sorted(failures, key=lambda e: position[e["input"]]),
    }
    write_json(path, jsonable(summary))
