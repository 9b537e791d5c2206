"""What ``sarfeat register-stack`` reports: each image's outputs written where its worker
runs (``NAME.registered.EXT``, ``NAME.json``), its line on the console, and ``summary.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import Console, jsonable, with_nodata
from .search_options import refusal_hint

__all__ = ["SHAPING", "save_outcome", "outcome_entry", "print_outcome", "stack_network",
           "write_summary"]

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


def outcome_entry(outcome, image) -> dict:
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


def print_outcome(outcome, console: Console) -> None:
    """Say one image's outcome on the console: its inliers and confidence, or why it failed."""
    if outcome.ok:
        d = outcome.result.diagnostics
        console.say(f"{outcome.name}: {d.get('fine_inliers')} inlier matches, confidence "
                    f"{outcome.result.confidence:.2f}, {outcome.seconds:.1f} s")
    else:
        hint = outcome.extra.get("hint")
        console.say(f"{outcome.name}: FAILED ({outcome.error_type}): {outcome.error}"
                    + (f"; {hint}" if hint else ""))


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
