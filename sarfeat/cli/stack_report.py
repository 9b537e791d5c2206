"""What ``sarfeat register-stack`` reports: each image's outputs written where its worker
runs (``NAME.registered.EXT``, ``NAME.json``), its line on the console, and ``summary.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .common import Console, jsonable, with_nodata
from .geotiff_output import output_report
from .search_options import overlap_hint, picture_hint, refusal_hint
from .stack_outputs import SUMMARY

__all__ = ["SHAPING", "save_outcome", "save_unreported", "outcome_entry", "print_outcome",
           "stack_network", "write_summary"]

#: The options recorded in the summary beside weights and model: those that shape what is
#: written, so that a run can be repeated from its summary.
SHAPING = ("format", "order", "modality", "turns", "scales", "dense_model", "band",
            "reference_band", "image_band", "keep_border_fill", "min_valid_fraction",
            "max_fine_patches", "input_kind", "nodata", "seed", "precision", "device",
            "creation_options", "overviews", "overview_resampling")


def save_outcome(outcome, *, output_dir: str, suffix: str, reference, input_kind: str,
                 reference_path: str, images: list[str], weights: str | None, model: str,
                 nodata: float | None = None, order: int = 1, options: dict | None = None,
                 bands: tuple = (None, None), searches: tuple[dict, dict] = ({}, {}),
                 geotiff: dict | None = None, pictures: dict | None = None):
    """Write one image's outputs where the worker runs; the warped image stays there.

    ``NAME.json`` is the report that ``sarfeat register --json`` writes for the pair
    (:func:`~sarfeat.cli.report.registration_report`), with the image's ``name`` and
    ``worker`` and the stack's ``options``; ``outcome.extra['report']`` is set once it is
    written. ``bands``: the reference's and the image's band matched; ``searches``: what
    the report says of the search (:func:`~sarfeat.cli.search_options.search_report`) of
    an image matched on its own grid and of two georeferenced files; ``geotiff``: the
    GeoTIFF keywords of :func:`~sarfeat.io.write_raster` (``--co``, ``--overviews``);
    ``pictures``: the colour pictures read as their gray values of each pair with one, by
    the image's path in ``images``
    (:func:`~sarfeat.cli.stack_inputs.colour_sides`), for the hint of a refused SAR search.

    An image registered whose output cannot be made or written (a full disk, say), or
    whose report cannot be made, is failed there, not retried, its registered image
    removed, and its report keeps the transform found (``failed_after_registration``), as
    ``sarfeat register --json`` does. A report that the disk refuses
    (:func:`_write_report`) comes back in ``outcome.extra['unwritten_report']``, which
    this function, called again with the outcome (on the client: :func:`save_unreported`),
    writes as it is.
    """
    from .. import __version__
    from ..io import read_raster, warp_onto_windows, write_raster_windows
    from ..registration import pair_input_kind
    from .report import registration_report

    image = images[outcome.index]
    folder = Path(output_dir)
    report_path = folder / f"{outcome.name}.json"
    outcome.extra.update(input=image)
    head = {"sarfeat_version": __version__, "name": outcome.name, "fixed": reference_path,
            "moving": image, "weights": weights, "model": model, "fixed_band": bands[0],
            "moving_band": bands[1], "worker": outcome.worker, "options": options}
    unwritten = outcome.extra.get("unwritten_report")
    if unwritten is not None:  # a worker's report that its disk refused: written here
        return _write_report(outcome, report_path, unwritten, head)
    search = searches[outcome.inputs is not None]
    if outcome.ok:
        result = outcome.result
        output = folder / f"{outcome.name}.registered{suffix}"
        try:
            # every band, as `sarfeat register -o` writes it (the task kept the file's
            # pixels, or read them again after matching, only for two georeferenced files)
            moving = read_raster(image) if outcome.inputs is None else outcome.inputs.moving
            # made a window at a time, written a strip at a time: never the whole grid
            if outcome.inputs is None:
                windows = warp_onto_windows(with_nodata(moving, nodata), reference,
                                            result.transform.params, order=order)
            else:  # across CRSs, through the exact map between them (PairInputs)
                windows = outcome.inputs.warped_moving_windows(result.transform.params, order,
                                                               with_nodata(moving, nodata))
            raster = windows.header  # what the report says of it
            note = write_raster_windows(output, windows, display_kind=pair_input_kind(
                input_kind, reference, moving), **geotiff or {})
            written = output_report(argparse.Namespace(**{**_GEOTIFF_DEFAULTS, "order": order,
                                                          **(options or {})}),
                                    raster, output, note)
            # a report that cannot be made fails the image as a write does: with its transform
            report = registration_report(
                result, result.transform.params,
                outcome.inputs or _matched_whole(reference, moving), head,
                {"output": str(output), "output_resampled": True, **written, **search})
            outcome.extra["output"] = str(output)
        except Exception as error:  # noqa: BLE001 - reported with the transform found
            output.unlink(missing_ok=True)  # failed: no registered image says otherwise
            report = _failed_after_registration(outcome, head, error)
    else:
        if outcome.error_type == "BandChoiceError":  # the image's (REFERENCE's was checked)
            outcome.error = _image_band_error(image, outcome.error)
        # how to widen the search of a refused optical pair, as `sarfeat register` says it
        resampled = outcome.inputs is not None and outcome.inputs.resampled
        given = argparse.Namespace(**options or {})
        searched = outcome.extra.get("searched")
        hint = refusal_hint(
            given, outcome.error_type, search["upright_search"],
            search["whole_circle_search"], resampled, outcome.extra.get("too_small"),
            ("REFERENCE", "the image")) if searched else None
        if hint is not None:  # led by the share of REFERENCE the two files hold data on
            hint = overlap_hint(outcome.inputs, "REFERENCE", "the image") + hint
        elif searched:  # a colour picture matched as SAR: how to match it as optical
            hint = picture_hint(getattr(given, "modality", "sar"), outcome.error_type,
                                (pictures or {}).get(image, ()), "REFERENCE")
        outcome.extra["hint"] = hint
        report = jsonable({**head, "status": "failed", "error": outcome.error,
                           "error_type": outcome.error_type,
                           "failed_image": outcome.extra.get("failed_image"),
                           "hint": outcome.extra["hint"],
                           "network": outcome.extra.get("network")})
    return _write_report(outcome, report_path, report, head)


def _write_report(outcome, path: Path, report: dict, head: dict):
    """Write ``report``, ``outcome``'s ``NAME.json``, at ``path``, and say so in
    ``outcome.extra['report']``.

    A write that the disk refuses for good (a full disk, quota, read-only file system:
    :func:`~sarfeat.atomic_files.lasting_write_error`) leaves ``outcome`` failed, not
    raised, with the report in ``extra['unwritten_report']`` (for the client to write, or
    to keep in the summary) and the write's error in ``extra['report_error']``; a
    registered image is then removed, and its report becomes the failure's, with the
    transform found (``failed_after_registration``). Another error is raised (a worker's
    task is run again; the client's :func:`save_unreported` keeps the report handed back).
    """
    from ..atomic_files import lasting_write_error
    from .report import write_json

    try:
        write_json(path, report)
    except BaseException as error:
        # the image is then reported failed: leave no registered image that says otherwise
        if "output" in outcome.extra:
            Path(outcome.extra.pop("output")).unlink(missing_ok=True)
        if not lasting_write_error(error):
            raise
        if outcome.ok:  # registered, failed by its report: which keeps the transform
            report = _failed_after_registration(outcome, head, error)
        outcome.extra.update(unwritten_report=report, report_error=_said(error))
        return outcome
    outcome.extra["report"] = str(path)
    for handed_back in ("unwritten_report", "report_error"):  # written now
        outcome.extra.pop(handed_back, None)
    return outcome


def _failed_after_registration(outcome, head: dict, error: Exception) -> dict:
    """Fail ``outcome``, registered but whose output could not be made or written, and give
    its report: the error, with the transform found (``failed_after_registration``), as
    ``sarfeat register --json`` keeps it, so that the registration's work is not lost."""
    from .report import failure_report

    network = outcome.result.diagnostics.get("network")
    report = {**failure_report(head, error, outcome.result.transform.params, network),
              "hint": None}
    outcome.error = _said(error)
    outcome.error_type, outcome.result = type(error).__name__, None
    outcome.extra.update(network=network, failed_image=None, hint=None,
                         failed_after_registration=True)
    return report


#: What :func:`~sarfeat.cli.geotiff_output.output_report` reads of the GeoTIFF options where
#: none were given (``save_outcome`` called without the stack's options).
_GEOTIFF_DEFAULTS = {"creation_options": None, "overviews": False,
                     "overview_resampling": "auto"}


def _matched_whole(reference, moving):
    """What ``sarfeat register`` matches of a pair that is not two georeferenced files
    (:func:`~sarfeat.registration.prepare_pair`): the reference's band and the image's,
    whole, on their own grids; without pixels (``fixed_image`` only gives the shape)."""
    from ..registration import PairInputs

    return PairInputs(reference, moving, np.broadcast_to(np.float32(0), reference.shape),
                      None, np.eye(3), False)


def _image_band_error(image: str, error: str) -> str:
    """The error of an image of several bands matched with no band chosen, naming
    ``--image-band`` (``error`` as it came, should the file read otherwise now)."""
    from ..io import BandChoiceError, read_raster

    try:
        read_raster(image).band(None)
    except BandChoiceError as choice:
        return choice.choose_with("--image-band")
    return error


def save_unreported(outcome, save, output: Path):
    """Write, on the client, the report of a failed image whose task came back without one
    (lost with its worker, or its report could not be written there: the report then
    came back in ``outcome.extra['unwritten_report']``, with the transform of an image
    registered), with ``save`` (:func:`save_outcome` with the run's keywords), and remove its
    registered image ``output``, left by a run of its task whose outcome was lost: the image
    is reported failed (an earlier run's files were removed before the first task).

    A report that cannot be written here either (a full disk) leaves the image failed for
    its own reason, with the write's error in ``extra['report_error']`` (and the report
    kept in ``extra['unwritten_report']`` for the summary), rather than stopping the run.
    """
    output.unlink(missing_ok=True)
    try:
        return save(outcome)
    except OSError as error:  # a passing one (a lasting one is kept by save)
        outcome.extra["report_error"] = _said(error)
        return outcome


#: What a failure report keeps of an image registered whose outputs could not be written
#: (:func:`~sarfeat.cli.report.failure_report`), kept by the summary when it is not written.
_TRANSFORM_KEYS = ("transform_fixed_to_moving", "transform_moving_to_fixed",
                   "transform_convention")


def outcome_entry(outcome, image) -> dict:
    """The summary's line of one image; a failed image registered whose output could not be
    written has ``failed_after_registration: true``, as its report (``NAME.json``, which
    keeps the transform found) has, and, when that report could not be written either, the
    transform itself; ``report_error`` says why an image has no report."""
    entry = {"name": outcome.name, "input": str(image), "report": outcome.extra.get("report"),
             "worker": outcome.worker, "seconds": outcome.seconds}
    if outcome.ok:
        diagnostics = outcome.result.diagnostics
        entry.update(output=outcome.extra.get("output"), confidence=outcome.result.confidence,
                     fine_inliers=diagnostics.get("fine_inliers"),
                     residual_rms=diagnostics.get("residual_rms"))
        return entry
    # how to widen a refused search, as the image's NAME.json and failure line say it
    entry.update(error=outcome.error, error_type=outcome.error_type,
                 hint=outcome.extra.get("hint"))
    if outcome.extra.get("failed_after_registration"):  # as NAME.json says it, which
        entry["failed_after_registration"] = True  # keeps the transform found
        unwritten = outcome.extra.get("unwritten_report") or {}
        entry.update({key: unwritten[key] for key in _TRANSFORM_KEYS if key in unwritten})
    if outcome.extra.get("report_error"):
        entry["report_error"] = outcome.extra["report_error"]
    return entry


def print_outcome(outcome, console: Console) -> None:
    """Say one image's outcome on the console: its inliers and confidence, or why it failed
    (and where the transform of an image registered is kept, why its report is missing)."""
    if outcome.ok:
        d = outcome.result.diagnostics
        console.say(f"{outcome.name}: {d.get('fine_inliers')} inlier matches, confidence "
                    f"{outcome.result.confidence:.2f}, {outcome.seconds:.1f} s")
        return
    notes = [outcome.extra.get("hint")]
    if outcome.extra.get("failed_after_registration"):
        kept = outcome.extra.get("report") or SUMMARY  # for want of a report (report_error)
        notes = [f"the registration succeeded: its transform is in {kept}"]
    if outcome.extra.get("report_error"):
        notes.append(f"no report: {outcome.extra['report_error']}")
    console.say(f"{outcome.name}: FAILED ({outcome.error_type}): {outcome.error}"
                + "".join(f"; {note}" for note in notes if note))


def stack_network(networks: list) -> dict | list | None:
    """What ran the keypoint network for the stack: the one runtime, precision and device of
    every image that ran it; a list of them when workers differed; None when none ran."""
    distinct = []
    for network in networks:
        if network is not None and network not in distinct:
            distinct.append(network)
    return distinct[0] if len(distinct) == 1 else distinct or None


def write_summary(path: Path, args, weights: str, workers: int, seconds: float,
                  successes: list, failures: list, network: dict | list | None) -> None:
    """Write ``summary.json`` at ``path``: the images registered and failed, in their order,
    the options that shape the outputs, what ran the network, the time and throughput."""
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
        **given_options(args, SHAPING),
        "scheduler": args.scheduler or "local",
        "workers": workers,
        "seconds": seconds,
        "pairs_per_minute": 60.0 * len(args.images) / seconds if seconds > 0 else None,
        "successes": sorted(successes, key=lambda e: position[e["input"]]),
        "failures": sorted(failures, key=lambda e: position[e["input"]]),
    }
    write_json(path, jsonable(summary))


def _said(error: BaseException) -> str:
    """``error`` in one line (its class's name when it says nothing)."""
    return " ".join(str(error).split()) or type(error).__name__

