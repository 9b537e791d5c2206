"""``sarfeat detect IMAGE -o OUT.npz`` and ``sarfeat detect --example``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..viz import PLOT_SIDE
from .common import (BAND_INDEX, DEFAULT_RELEASE, DEFAULT_WEIGHTS, DEVICE_HELP, INPUT_KINDS,
                     PRECISIONS, Console, UsageError, add_console_options,
                     add_overwrite_option, check_outputs,
                     check_plot, checked_weights, device_name, input_error, network_text,
                     positive_int, scaling_note, unplaced, with_nodata)

__all__ = ["add_parser", "run", "map_outputs", "EXAMPLE_WARP", "EXAMPLE_MIN_SIZE",
           "TURNED_OPTIONS"]

#: The warp of the examples (image 1 (x, y) -> image 2 (x, y)).
EXAMPLE_WARP = {"scale": 0.8, "rotation_deg": 10.0, "translation": (30.0, -10.0)}
#: ``--min-size`` of the example when not given: the scene is 256 px, so the
#: library default (256) would leave a single pyramid level.
EXAMPLE_MIN_SIZE = 128
#: Options of the rotation-invariant detector, with their defaults: refused with ``--upright``,
#: which keeps the network's own maps and descriptors.
TURNED_OPTIONS = {"turned_maps": "auto", "descriptor": "polar"}


def add_network_options(parser: argparse.ArgumentParser, pairs: bool = False) -> None:
    """Add ``--weights``, ``--trust``, ``--input-kind``, ``--nodata``, ``--precision`` and
    ``--device`` to ``parser`` (``detect``, ``register``, ``register-stack``); ``pairs``: the
    command matches pairs of files (two uint8 files are display images)."""
    parser.add_argument(
        "--weights", default=None, metavar="W",
        help=f"checkpoint file, or a name of sarfeat's registry (default: {DEFAULT_RELEASE}, "
             f"the network {DEFAULT_WEIGHTS} with learned weights of the rotation-invariant "
             "descriptor, bundled with sarfeat; a registry name is fetched and hash-checked, "
             "never read from the working directory)")
    parser.add_argument(
        "--trust", action="store_true",
        help="allow a legacy pickled checkpoint whose sha256 the registry does not know "
             "(unpickling can run code: only for files you trust)")
    parser.add_argument("--input-kind", choices=INPUT_KINDS, default="auto",
                        help="what the pixel values are (default auto: decided from the "
                             "values, never the dtype: 8-bit levels are a display image, a "
                             "negative median is dB, a heavy bright tail is intensity; see the "
                             "user guide)" + ("; two uint8 files of a pair are display images"
                                              if pairs else ""))
    parser.add_argument("--nodata", type=float, default=None, metavar="VALUE",
                        help="pixel value that marks no-data, besides the file's own nodata "
                             "value and mask (NaN always does); read as the file's own value "
                             "would be (a complex pixel by its real part)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="network arithmetic (default auto: a fixed rule, see the user guide)")
    parser.add_argument("--device", type=device_name, default="auto", help=DEVICE_HELP)


def add_common_options(parser: argparse.ArgumentParser, descriptors: bool = True) -> None:
    """Options of every subcommand that runs the network on one image or a pair
    (:func:`add_network_options`, ``--upright``, the console's); ``descriptors``: also the
    choice of the rotation-invariant maps and descriptor (``detect``'s: the matcher sets its
    own, and its pairs are files)."""
    add_network_options(parser, pairs=not descriptors)
    parser.add_argument("--upright", action="store_true",
                        help="skip rotation invariance: keypoints and the network's R2D2 "
                             "descriptors as the image stands (more discriminative for upright "
                             "images; slower than the default's distilled maps)")
    if not descriptors:
        add_console_options(parser)
        return
    parser.add_argument("--turned-maps", choices=["auto", "distilled", "average"],
                        default=TURNED_OPTIONS["turned_maps"],
                        help="without --upright: keypoint maps of the network distilled for "
                             "rotation invariance (one run; the default weights have one), or "
                             "the average over four quarter turns (default auto: distilled "
                             "where the weights have one)")
    parser.add_argument("--descriptor", choices=["polar", "patch"],
                        default=TURNED_OPTIONS["descriptor"],
                        help="without --upright: rotation invariants on rings around the "
                             "keypoint (default polar, 378-D), or the 11 x 11 patch turned to "
                             "the keypoint's orientation (patch, 121-D)")
    add_console_options(parser)


def add_parser(commands) -> None:
    """Add ``detect`` to ``commands`` (argparse subparsers)."""
    detect = commands.add_parser(
        "detect", help="detect keypoints in an image (or run the bundled example)",
        description=(
            "Detect Fast-R2D2 keypoints in IMAGE (.npy, PNG, JPEG or TIFF/GeoTIFF; the file's "
            "no-data is honoured) and write keypoints (row, col), scales, responses and "
            "descriptors to an .npz file, with the keypoints' map coordinates for a "
            "georeferenced file. With --example, run on the bundled Sentinel-1 "
            "Labrador scene instead: VV against VH warped by a known similarity, and report "
            "the matching accuracy."),
    )
    detect.add_argument("image", nargs="?", metavar="IMAGE", help="input image file")
    detect.add_argument(
        "--example", action="store_true",
        help="run on the bundled Sentinel-1 scene (contains modified Copernicus Sentinel data)")
    detect.add_argument("--band", type=int, default=None, metavar="I",
                        help=f"band of a multi-band file ({BAND_INDEX})")
    detect.add_argument("--max-keypoints", type=positive_int, default=5000, metavar="N",
                        help="keep at most N keypoints, the best by response (default 5000)")
    detect.add_argument("--min-size", type=positive_int, default=None, metavar="PX",
                        help="longest side of the smallest pyramid level (default 256; "
                             f"{EXAMPLE_MIN_SIZE} for --example; at most --max-size)")
    detect.add_argument("--max-size", type=positive_int, default=1024, metavar="PX",
                        help="longest side of the largest pyramid level (default 1024)")
    detect.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                        help="write the results to this file (NumPy .npz format, whatever "
                             "its suffix): keypoints (row, col, 0 at the first pixel's "
                             "centre), scales, orientations, responses, descriptors, "
                             "image_shape; for a file with a CRS and geotransform also map_xy "
                             "(x, y of each keypoint in the file's CRS: the geotransform at "
                             "col + 0.5, row + 0.5), crs (WKT) and geotransform (rasterio's a-f "
                             "on pixel corners); GCPs and RPCs are not used")
    detect.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                        help="save a plot of the keypoints or, with --example, of the "
                             f"matches (an image longer than {PLOT_SIDE} pixels is drawn "
                             f"downsampled to {PLOT_SIDE} a side); needs matplotlib")
    add_overwrite_option(detect)
    add_common_options(detect)


def run(args: argparse.Namespace) -> None:
    """Run ``sarfeat detect`` (its arguments checked by :func:`sarfeat.cli.main`)."""
    console = Console(args)
    check_plot(args.plot)
    _check_turned_options(args)
    if args.min_size is not None and args.min_size > args.max_size:
        # the pyramid would have one level, at --max-size: --min-size would be ignored
        raise UsageError(f"--min-size {args.min_size} is larger than --max-size "
                         f"{args.max_size}: give --min-size <= --max-size (equal sizes give "
                         "one pyramid level)")
    if args.example:
        if args.band is not None:
            raise UsageError("--band does not apply to --example")
        check_outputs({}, {"-o": args.output, "--plot": args.plot}, args.overwrite)
        _example(args, console)
    else:
        check_outputs({"IMAGE": Path(args.image)}, {"-o": args.output, "--plot": args.plot},
                      args.overwrite)
        _detect_file(args, console)


def _check_turned_options(args: argparse.Namespace) -> None:
    """Refuse the rotation-invariant detector's options with ``--upright``, which ignores them.

    Raises
    ------
    UsageError
        For ``--turned-maps`` or ``--descriptor`` other than its default with ``--upright``.
    """
    if not args.upright:
        return
    given = [f"--{name.replace('_', '-')} {getattr(args, name)}"
             for name, default in TURNED_OPTIONS.items() if getattr(args, name) != default]
    if given:
        raise UsageError(f"{', '.join(given)}: not with --upright, which keeps the network's "
                         "own keypoint maps and 128-D R2D2 descriptors; leave out one or the "
                         "other")


def _make_detector(args: argparse.Namespace, weights, min_size: int | None, console: Console,
                   nodata: float | None):
    """The detector of ``detect`` on ``weights`` (:func:`~.common.checked_weights`), no-data
    marked by ``nodata`` too (an array's, compared as NumPy compares)."""
    from ..detector import SARR2D2Detector

    return SARR2D2Detector(
        weights, max_keypoints=args.max_keypoints, min_size=min_size, max_size=args.max_size,
        input_kind=args.input_kind, nodata=nodata, precision=args.precision,
        device=args.device, upright=args.upright, turned_maps=args.turned_maps,
        descriptor=args.descriptor, trust=args.trust,
        progress=console.progress,
    )


def _save_npz(path: Path, **arrays) -> None:
    """Write ``arrays`` to exactly ``path`` (np.savez would add .npz), atomically."""
    import numpy as np

    from ..io import atomic_path

    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez_compressed(stream, **arrays)


def map_outputs(raster, keypoints) -> dict:
    """``map_xy``, ``crs`` and ``geotransform`` of ``detect``'s .npz for a georeferenced raster
    (a CRS and a geotransform), else nothing.

    ``map_xy`` are the (x, y) map coordinates, in the raster's CRS, of the (row, col)
    ``keypoints``: integer rows and columns are pixel centres, so the geotransform (pixel
    corners, as rasterio and GDAL give it) is taken at (col + 0.5, row + 0.5), as
    ``rasterio.transform.xy`` does with its default ``offset='center'``.
    """
    import numpy as np

    from ..io import map_coordinates

    if not raster.georeferenced:
        return {}
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
    return {"map_xy": map_coordinates(raster, keypoints[:, ::-1]),
            "crs": np.asarray(raster.crs.to_wkt()),
            "geotransform": np.asarray(list(raster.transform)[:6], np.float64)}


def _detect_file(args: argparse.Namespace, console: Console) -> None:
    import numpy as np

    from ..io import RasterError, read_raster

    try:  # --nodata marks what it would as the file's own value (NaN then), as register reads it
        raster = with_nodata(read_raster(args.image), args.nodata)
        image = raster.band(args.band)
    except RasterError as error:
        raise input_error(error) from None
    console.step(f"read {args.image}: {image.shape[0]} x {image.shape[1]} {image.dtype}")
    note = scaling_note(repr(str(args.image)), raster, "detected", written=False)
    if note is not None:  # detected in physical values
        console.say(note)
    if raster.unused_crs is not None:  # no map_xy: said, not left to the reader to notice
        console.say(f"note: {str(args.image)!r} has {unplaced(raster)}; keypoints in pixels "
                    "only (no map_xy)")
    weights = checked_weights(args.weights, args.trust)
    # min_size None: the library's default; the file's no-data is NaN in image already
    detector = _make_detector(args, weights, args.min_size, console, None)
    start = time.perf_counter()
    detector.detect_and_extract(image)
    elapsed = time.perf_counter() - start
    count = len(detector.keypoints)
    console.step(f"network: {network_text(detector.runtime_used)} (--precision {args.precision})")
    console.say(f"{args.image}: {image.shape[0]} x {image.shape[1]} {image.dtype}, "
                f"{count} keypoints in {elapsed:.2f} s")
    from ..io import atomic_path, written_together

    with written_together():  # -o and --plot together, or neither
        if args.output is not None:
            _save_npz(args.output, keypoints=detector.keypoints, scales=detector.scales,
                      orientations=detector.orientations, responses=detector.responses,
                      descriptors=detector.descriptors,
                      image_shape=np.asarray(image.shape),
                      **map_outputs(raster, detector.keypoints))
        if args.plot is not None:
            from ..viz import display_image, plot_keypoints

            shown = display_image(image, "sar", args.input_kind, mark_nodata=True)
            with atomic_path(args.plot) as temporary:
                plot_keypoints(temporary, shown, detector.keypoints, detector.scales,
                               detector.responses,
                               title=f"{Path(args.image).name}: {count} keypoints")
    _say_written(args, console)


def _say_written(args: argparse.Namespace, console: Console) -> None:
    """Say the files written (-o, --plot), once both are in place."""
    for path in (args.output, args.plot):
        if path is not None:
            console.say(f"wrote {path}")


def example_pair():
    """The examples' pair: Labrador VV, VH warped by EXAMPLE_WARP (NaN outside), the warp."""
    import numpy as np
    from skimage.transform import SimilarityTransform, warp

    from ..data import load_sar_scene

    scene = load_sar_scene("labrador")
    truth = SimilarityTransform(
        scale=EXAMPLE_WARP["scale"], rotation=np.deg2rad(EXAMPLE_WARP["rotation_deg"]),
        translation=EXAMPLE_WARP["translation"])
    # warp() wants the map from output (x, y) to input (x, y): the inverse
    moving = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    return scene[..., 0], moving, truth


def _example(args: argparse.Namespace, console: Console) -> None:
    import numpy as np
    from skimage.feature import match_descriptors

    from ..metrics import match_errors, mean_matching_accuracy

    vv, moving, tform = example_pair()
    weights = checked_weights(args.weights, args.trust)
    # without --min-size, a --max-size below the example's gives one level, at --max-size
    min_size = min(EXAMPLE_MIN_SIZE, args.max_size) if args.min_size is None else args.min_size
    detector = _make_detector(args, weights, min_size, console, args.nodata)
    start = time.perf_counter()
    detector.detect_and_extract(vv)
    keypoints0, descriptors0 = detector.keypoints, detector.descriptors
    detector.detect_and_extract(moving)
    keypoints1, descriptors1 = detector.keypoints, detector.descriptors
    detected = time.perf_counter()
    matches = match_descriptors(descriptors0, descriptors1, cross_check=True)
    elapsed = time.perf_counter() - start
    # reprojection error of each match under the known warp; MMA NaN without a match
    errors = match_errors(keypoints0, keypoints1, matches, tform)
    mma = dict(zip((1, 3, 5), mean_matching_accuracy(keypoints0, keypoints1, matches, tform,
                                                      (1, 3, 5)).tolist()))
    w = EXAMPLE_WARP
    for line in (
        f"sarfeat example: Sentinel-1 Labrador scene, {vv.shape[0]} x {vv.shape[1]} "
        "intensity, about 1.2 looks (contains modified Copernicus Sentinel data)",
        f"image 1: VV; image 2: VH warped by a similarity (scale {w['scale']}, rotation "
        f"{w['rotation_deg']:g} deg, translation {w['translation']} px), NaN outside",
        f"weights: {args.weights or DEFAULT_RELEASE}; min_size {min_size}, "
        f"max_size {args.max_size}; network: {network_text(detector.runtime_used)} "
        f"(--precision {args.precision})",
        f"keypoints: {len(keypoints0)} (VV), {len(keypoints1)} (warped VH)",
        f"matches: {len(matches)} (mutual nearest neighbours), "
        f"{int(np.sum(errors <= 3))} within 3 px",
        "  ".join(f"MMA@{t}: {mma[t]:.3f}" if len(errors) else f"MMA@{t}: n/a (no match)"
                  for t in (1, 3, 5)),
        f"time: {elapsed:.2f} s (detection and description {detected - start:.2f} s, "
        f"matching {elapsed - (detected - start):.2f} s)",
    ):
        console.say(line)
    from ..io import atomic_path, written_together

    with written_together():  # -o and --plot together, or neither
        if args.output is not None:
            _save_npz(args.output, keypoints0=keypoints0, keypoints1=keypoints1,
                      descriptors0=descriptors0, descriptors1=descriptors1, matches=matches,
                      errors=errors, transform=tform.params)
        if args.plot is not None:
            from ..viz import plot_match_errors

            with atomic_path(args.plot) as temporary:
                plot_match_errors(temporary, vv, moving, keypoints0, keypoints1, matches,
                                  errors, f"VV vs warped VH: {int(np.sum(errors <= 3))} of "
                                  f"{len(matches)} matches within 3 px")
    _say_written(args, console)
