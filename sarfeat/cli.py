"""The ``sarfeat`` command line.

``sarfeat detect IMAGE`` finds keypoints in one image and writes them to an
``.npz`` file (and, optionally, a plot); ``sarfeat detect --example`` runs the
detector on the Sentinel-1 scene bundled with sarfeat and reports matching
accuracy against a known warp.

``sarfeat register FIXED MOVING -o OUT`` registers MOVING onto FIXED with
:func:`sarfeat.register` and writes the registered image (``.npy``, PNG/JPEG
or GeoTIFF, by the suffix of OUT), a JSON report (``--json``) and a match plot
(``--plot``); a GeoTIFF output keeps the fixed image's georeferencing when
rasterio is installed. ``sarfeat register --example`` registers the bundled
Sentinel-1 scene (VV fixed, VH under a known similarity) and prints the error
against the truth. An image pair that cannot be registered exits with status 1
and says why.

Exit status: 0 on success, 2 for bad usage (unknown option, missing or
unreadable input, a multi-band array without ``--band``), 1 for a runtime
error (weights unavailable, no keypoint found, ...). Errors are one line on
stderr; set ``SARFEAT_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["main", "build_parser", "read_image", "read_raster", "DEFAULT_WEIGHTS"]

#: Weights used when ``--weights`` is not given: sarfeat's bundled SAR weights.
DEFAULT_WEIGHTS = "weights/sarfeat-sar-v1.pt"

#: The warp of the example (image 1 (x, y) -> image 2 (x, y)).
EXAMPLE_WARP = {"scale": 0.8, "rotation_deg": 10.0, "translation": (30.0, -10.0)}
#: ``--min-size`` of the example when not given: the scene is 256 px, so the
#: library default (256) would leave a single pyramid level.
EXAMPLE_MIN_SIZE = 128

_NPY_SUFFIXES = {".npy"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


class UsageError(Exception):
    """Bad command-line input: reported with exit status 2."""


# -- argument parsing ------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``sarfeat`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        Parser with the ``detect`` and ``register`` subcommands.
    """
    from . import __version__
    from ._inference import PRECISIONS
    from .preprocess import INPUT_KINDS

    parser = argparse.ArgumentParser(
        prog="sarfeat",
        description="Keypoints and descriptors for SAR images with Fast-R2D2.",
        epilog="Set SARFEAT_DEBUG=1 to see tracebacks of errors.",
    )
    parser.add_argument("--version", action="version", version=f"sarfeat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    detect = commands.add_parser(
        "detect",
        help="detect keypoints in an image (or run the bundled example)",
        description=(
            "Detect Fast-R2D2 keypoints in IMAGE (.npy, PNG, JPEG or TIFF) and write "
            "keypoints (row, col), scales, responses and descriptors to an .npz file. "
            "With --example, run on the bundled Sentinel-1 Labrador scene instead: VV "
            "against VH warped by a known similarity, and report the matching accuracy."
        ),
    )
    detect.add_argument("image", nargs="?", metavar="IMAGE", help="input image file")
    detect.add_argument(
        "--example", action="store_true",
        help="run on the bundled Sentinel-1 scene (contains modified Copernicus Sentinel data)",
    )
    detect.add_argument(
        "--weights", default=None, metavar="W",
        help=f"checkpoint file or sarfeat.data registry name (default: {DEFAULT_WEIGHTS}, "
             "found through SARFEAT_DATA_DIR)",
    )
    detect.add_argument(
        "--trust", action="store_true",
        help="allow a legacy pickled checkpoint whose sha256 the registry does not know "
             "(unpickling can run code: only for files you trust)",
    )
    detect.add_argument("--band", type=int, default=None, metavar="I",
                        help="band of a 3-D array to use (index along the last axis)")
    detect.add_argument("--max-keypoints", type=_positive_int, default=5000, metavar="N",
                        help="keep at most N keypoints, the best by response (default 5000)")
    detect.add_argument("--min-size", type=_positive_int, default=None, metavar="PX",
                        help="longest side of the smallest pyramid level (default 256; "
                             f"{EXAMPLE_MIN_SIZE} for --example)")
    detect.add_argument("--max-size", type=_positive_int, default=1024, metavar="PX",
                        help="longest side of the largest pyramid level (default 1024)")
    detect.add_argument("--input-kind", choices=INPUT_KINDS, default="auto",
                        help="what the pixel values are (default auto: uint8 is a display "
                             "image, negative floats are dB, the rest intensity)")
    detect.add_argument("--nodata", type=float, default=None, metavar="VALUE",
                        help="pixel value that marks no-data (NaN always does)")
    detect.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="network arithmetic (default auto: bf16 where native)")
    detect.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    detect.add_argument("--upright", action="store_true",
                        help="skip rotation invariance: keypoints and the network's R2D2 "
                             "descriptors as the image stands (about 4x faster)")
    detect.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.npz",
                        help="write the results to this .npz file")
    detect.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                        help="save a plot of the keypoints (or, with --example, the matches)")
    _add_register_parser(commands, INPUT_KINDS, PRECISIONS)
    from .parallel.cli import add_register_stack_parser

    add_register_stack_parser(commands, INPUT_KINDS, PRECISIONS)
    return parser


def _add_register_parser(commands, input_kinds, precisions) -> None:
    from .matching import MODELS

    register = commands.add_parser(
        "register",
        help="register a moving image onto a fixed one (or run the bundled example)",
        description=(
            "Register MOVING onto FIXED (.npy, PNG, JPEG or TIFF/GeoTIFF, single band) with "
            "sarfeat's coarse-to-fine matcher and write MOVING resampled onto FIXED's grid to "
            "OUT: .npy (float, NaN outside), .png/.jpg (8-bit, 0 outside) or .tif (float32, "
            "NaN outside; with the fixed image's georeferencing when rasterio is installed). "
            "With --example, register the bundled Sentinel-1 scene (VV fixed, VH warped by a "
            "known similarity) and print the error against the truth."
        ),
        epilog="Exit status 1 with a one-line reason when the images cannot be registered.",
    )
    register.add_argument("fixed", nargs="?", metavar="FIXED", help="the reference image")
    register.add_argument("moving", nargs="?", metavar="MOVING", help="the image to register")
    register.add_argument(
        "--example", action="store_true",
        help="register the bundled Sentinel-1 scene (contains modified Copernicus Sentinel data)",
    )
    register.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                          help="write the registered image here (.npy, .png, .jpg or .tif)")
    register.add_argument("--model", choices=tuple(MODELS), default="affine",
                          help="transform model (default affine)")
    register.add_argument(
        "--weights", default=None, metavar="W",
        help=f"checkpoint file or sarfeat.data registry name (default: {DEFAULT_WEIGHTS}, "
             "found through SARFEAT_DATA_DIR)",
    )
    register.add_argument("--trust", action="store_true",
                          help="allow a legacy pickled checkpoint the registry does not know")
    register.add_argument("--json", type=Path, default=None, metavar="REPORT.json",
                          help="write the transform and diagnostics to this JSON file")
    register.add_argument("--plot", type=Path, default=None, metavar="MATCHES.png",
                          help="save a plot of the inlier matches and of the overlay")
    register.add_argument("--band", type=int, default=None, metavar="I",
                          help="band of multi-band inputs to use (index along the last axis, "
                               "or GeoTIFF band I + 1)")
    register.add_argument("--input-kind", choices=input_kinds, default="auto",
                          help="what the pixel values are (default auto)")
    register.add_argument("--nodata", type=float, default=None, metavar="VALUE",
                          help="pixel value that marks no-data (NaN always does)")
    register.add_argument("--seed", type=int, default=0,
                          help="seed of RANSAC's sampling (default 0: reproducible results)")
    register.add_argument("--precision", choices=precisions, default="auto",
                          help="network arithmetic (default auto: bf16 where native)")
    register.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")


# -- input -----------------------------------------------------------------------------------


def read_image(path: str | os.PathLike, band: int | None = None) -> np.ndarray:
    """Read a single-band image for detection.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` array (2-D, or 3-D with `band`), or a PNG, JPEG or TIFF
        file. RGB(A) images are converted to gray, keeping the integer dtype
        (so that 8-bit quick-looks stay 8-bit display images).
    band : int, optional
        Index along the last axis of a 3-D array. Required for 3-D arrays
        that are not RGB(A) images.

    Returns
    -------
    image : ndarray, shape (H, W)

    Raises
    ------
    UsageError
        If the file is missing or unreadable, has an unsupported suffix, or
        has the wrong number of dimensions.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"input file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in _NPY_SUFFIXES:
        try:
            image = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read {str(path)!r} as a NumPy array: {error}") from None
        rgb_ok = False
    elif suffix in _IMAGE_SUFFIXES:
        from skimage.io import imread

        try:
            image = np.asarray(imread(path))
        except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
            raise UsageError(f"cannot read image {str(path)!r}: {error}") from None
        rgb_ok = True
    else:
        raise UsageError(
            f"unsupported file type {suffix or '(none)'!r} of {str(path)!r}: "
            "use .npy, .png, .jpg, .jpeg, .tif or .tiff"
        )
    return _select_band(image, band, rgb_ok, path)


def _select_band(image: np.ndarray, band: int | None, rgb_ok: bool, path: Path) -> np.ndarray:
    if image.ndim == 2:
        if band not in (None, 0):
            raise UsageError(f"--band {band} given, but {str(path)!r} has a single band")
        return image
    if image.ndim != 3:
        raise UsageError(
            f"{str(path)!r} has shape {image.shape}: expected a 2-D image or a 3-D "
            "(rows, cols, bands) array with --band"
        )
    bands = image.shape[-1]
    if band is not None:
        if not -bands <= band < bands:
            raise UsageError(f"--band {band} is out of range: {str(path)!r} has {bands} bands")
        return np.ascontiguousarray(image[..., band])
    if rgb_ok and bands in (3, 4) and np.issubdtype(image.dtype, np.integer):
        return _rgb_to_gray(image[..., :3])
    if rgb_ok and bands == 2:  # gray + alpha
        return np.ascontiguousarray(image[..., 0])
    raise UsageError(
        f"{str(path)!r} has shape {image.shape} ({bands} bands): choose one with "
        f"--band 0..{bands - 1}"
    )


def _rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Gray image of the same integer dtype as ``rgb`` (Rec.709 luma, as skimage)."""
    from skimage.color import rgb2gray

    gray = rgb2gray(rgb)  # float in [0, 1]
    peak = np.iinfo(rgb.dtype).max
    return np.round(gray * peak).astype(rgb.dtype)


# -- weights ---------------------------------------------------------------------------------


def _load_weights(weights: str | None, trust: bool):
    """Load the network named by ``--weights`` (a path or a registry name)."""
    from . import data
    from .checkpoint import load_checkpoint

    name = DEFAULT_WEIGHTS if weights is None else data.WEIGHT_ALIASES.get(weights, weights)
    path = Path(name).expanduser()
    if not path.is_file():
        if name not in data.registry_names():
            raise UsageError(
                f"--weights {name!r} is neither a file nor a sarfeat.data registry name "
                "(see sarfeat.data.registry_names())"
            )
        path = data.fetch(name)
    return load_checkpoint(path, trust=trust)


def _make_detector(args: argparse.Namespace, net, min_size: int):
    from .detector import SARR2D2Detector

    return SARR2D2Detector(
        net,
        max_keypoints=args.max_keypoints,
        min_size=min_size,
        max_size=args.max_size,
        input_kind=args.input_kind,
        nodata=args.nodata,
        precision=args.precision,
        device=args.device,
        upright=getattr(args, "upright", False),
        trust=args.trust,
        progress=sys.stderr.isatty(),
    )


# -- commands --------------------------------------------------------------------------------


def _detect_file(args: argparse.Namespace) -> None:
    image = read_image(args.image, args.band)
    _check_writable(args.output, args.plot)
    net = _load_weights(args.weights, args.trust)
    detector = _make_detector(args, net, 256 if args.min_size is None else args.min_size)
    start = time.perf_counter()
    detector.detect_and_extract(image)
    elapsed = time.perf_counter() - start
    count = len(detector.keypoints)
    print(f"{args.image}: {image.shape[0]} x {image.shape[1]} {image.dtype}, "
          f"{count} keypoints in {elapsed:.2f} s")
    if args.output is not None:
        np.savez_compressed(
            args.output,
            keypoints=detector.keypoints,
            scales=detector.scales,
            orientations=detector.orientations,
            responses=detector.responses,
            descriptors=detector.descriptors,
            image_shape=np.asarray(image.shape),
        )
        print(f"wrote {args.output}")
    if args.plot is not None:
        from .preprocess import normalize_sar

        shown = normalize_sar(image, args.input_kind, nodata=args.nodata).image
        _plot_keypoints(args.plot, shown, detector.keypoints, detector.scales, detector.responses,
                        title=f"{Path(args.image).name}: {count} keypoints")
        print(f"wrote {args.plot}")


def _example(args: argparse.Namespace) -> None:
    from skimage.feature import match_descriptors
    from skimage.transform import SimilarityTransform, warp

    from .data import load_sar_scene

    _check_writable(args.output, args.plot)
    scene = load_sar_scene("labrador")
    vv, vh = scene[..., 0], scene[..., 1]
    tform = SimilarityTransform(
        scale=EXAMPLE_WARP["scale"],
        rotation=np.deg2rad(EXAMPLE_WARP["rotation_deg"]),
        translation=EXAMPLE_WARP["translation"],
    )
    # warp() wants the map from output (x, y) to input (x, y): the inverse
    moving = warp(vh, tform.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)

    net = _load_weights(args.weights, args.trust)
    min_size = EXAMPLE_MIN_SIZE if args.min_size is None else args.min_size
    detector = _make_detector(args, net, min_size)
    start = time.perf_counter()
    detector.detect_and_extract(vv)
    keypoints0, descriptors0 = detector.keypoints, detector.descriptors
    detector.detect_and_extract(moving)
    keypoints1, descriptors1 = detector.keypoints, detector.descriptors
    detected = time.perf_counter()
    matches = match_descriptors(descriptors0, descriptors1, cross_check=True)
    elapsed = time.perf_counter() - start

    # reprojection error of each match under the known warp, in (x, y) = (col, row)
    projected = tform(keypoints0[matches[:, 0], ::-1])
    errors = np.linalg.norm(projected - keypoints1[matches[:, 1], ::-1], axis=1)
    mma = {t: float(np.mean(errors <= t)) if len(errors) else 0.0 for t in (1, 3, 5)}

    w = EXAMPLE_WARP
    print(f"sarfeat example: Sentinel-1 Labrador scene, {vv.shape[0]} x {vv.shape[1]} "
          "intensity, about 1.2 looks (contains modified Copernicus Sentinel data)")
    print(f"image 1: VV; image 2: VH warped by a similarity (scale {w['scale']}, rotation "
          f"{w['rotation_deg']:g} deg, translation {w['translation']} px), NaN outside")
    print(f"weights: {args.weights or DEFAULT_WEIGHTS}; min_size {min_size}, "
          f"max_size {args.max_size}, precision {args.precision}")
    print(f"keypoints: {len(keypoints0)} (VV), {len(keypoints1)} (warped VH)")
    print(f"matches: {len(matches)} (mutual nearest neighbours), "
          f"{int(np.sum(errors <= 3))} within 3 px")
    print("  ".join(f"MMA@{t}: {mma[t]:.3f}" for t in (1, 3, 5)))
    print(f"time: {elapsed:.2f} s (detection and description {detected - start:.2f} s, "
          f"matching {elapsed - (detected - start):.2f} s)")
    if args.output is not None:
        np.savez_compressed(
            args.output, keypoints0=keypoints0, keypoints1=keypoints1,
            descriptors0=descriptors0, descriptors1=descriptors1, matches=matches,
            errors=errors, transform=tform.params,
        )
        print(f"wrote {args.output}")
    if args.plot is not None:
        _plot_example(args.plot, vv, moving, keypoints0, keypoints1, matches, errors)
        print(f"wrote {args.plot}")


def _check_writable(*paths: Path | None) -> None:
    for path in paths:
        if path is not None and not path.expanduser().resolve().parent.is_dir():
            raise UsageError(f"cannot write {str(path)!r}: its folder does not exist")


# -- plots -----------------------------------------------------------------------------------


def _figure(size):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from None
    return Figure(figsize=size, layout="constrained")  # Agg canvas, no pyplot state


def _plot_keypoints(path, image, keypoints, scales, responses, title) -> None:
    fig = _figure((8, 8 * image.shape[0] / max(image.shape[1], 1) + 0.4))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    order = np.argsort(responses)  # best keypoints drawn last, on top
    colors = ScalarMappable(Normalize(float(responses.min()), float(responses.max())), "viridis")
    ax.scatter(
        keypoints[order, 1], keypoints[order, 0], s=np.clip(scales[order], 16, 256),
        marker="o", facecolors="none", edgecolors=colors.to_rgba(responses[order]),
        linewidths=0.8,
    )
    fig.colorbar(colors, ax=ax, shrink=0.7, label="response (reliability x repeatability)")
    ax.set_title(title)
    ax.set_axis_off()
    fig.savefig(path, dpi=120)


def _plot_example(path, image0, image1, keypoints0, keypoints1, matches, errors) -> None:
    from skimage.feature import plot_matched_features

    from .preprocess import normalize_sar

    fig = _figure((10, 5.4))
    ax = fig.add_subplot()
    shown0 = normalize_sar(image0).image
    shown1 = normalize_sar(image1).image
    good = errors <= 3
    for subset, color in ((~good, "tab:red"), (good, "lime")):
        if subset.any():
            plot_matched_features(
                shown0, shown1, keypoints0=keypoints0, keypoints1=keypoints1,
                matches=matches[subset], ax=ax, keypoints_color="yellow", matches_color=color,
                only_matches=True,
            )
    ax.set_title(f"VV vs warped VH: {int(good.sum())} of {len(matches)} matches within 3 px")
    ax.set_axis_off()
    fig.savefig(path, dpi=120)


# -- register ---------------------------------------------------------------------------------

_TIFF_SUFFIXES = {".tif", ".tiff"}
_PLOT_MATCHES = 150
_OUTPUT_SUFFIXES = {".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def _rasterio():
    """The rasterio module, or None when it is not installed (it is an optional extra)."""
    try:
        import rasterio
    except ImportError:
        return None
    return rasterio


def read_raster(path: str | os.PathLike, band: int | None = None) -> tuple[np.ndarray, dict | None]:
    """Read a single-band image and, for a georeferenced GeoTIFF, its georeferencing.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``, PNG, JPEG or TIFF. TIFF files are read with rasterio when it
        is installed (keeping georeferencing and turning the file's no-data
        value into NaN), else as plain images (see :func:`read_image`).
    band : int, optional
        0-based band of a multi-band file.

    Returns
    -------
    image : ndarray, shape (H, W)
    georeference : dict or None
        ``{'crs': ..., 'transform': ..., 'nodata': ...}`` of a georeferenced
        GeoTIFF read with rasterio; None otherwise.

    Raises
    ------
    UsageError
        If the file is missing, unreadable or of an unsupported type.
    """
    path = Path(path)
    rasterio = _rasterio()
    if path.suffix.lower() not in _TIFF_SUFFIXES or rasterio is None or not path.is_file():
        return read_image(path, band), None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning for plain TIFFs
            with rasterio.open(path) as source:
                count = source.count
                if band is None and count > 1:
                    raise UsageError(
                        f"{str(path)!r} has {count} bands: choose one with --band 0..{count - 1}"
                    )
                index = 0 if band is None else band
                if not -count <= index < count:
                    raise UsageError(f"--band {band} is out of range: {str(path)!r} has "
                                     f"{count} bands")
                image = source.read(index % count + 1)
                nodata = source.nodata
                crs, transform = source.crs, source.transform
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise UsageError(f"cannot read {str(path)!r}: {error}") from None
    if nodata is not None and not np.isnan(nodata):
        image = image.astype(np.float32 if image.dtype != np.float64 else np.float64)
        image[image == nodata] = np.nan
    georeferenced = crs is not None or not transform.is_identity
    georeference = {"crs": crs, "transform": transform} if georeferenced else None
    return image, georeference


def _as_display(values: np.ndarray, like: np.dtype, input_kind: str) -> np.ndarray:
    """An 8/16-bit image of ``values`` (NaN -> 0) for PNG/JPEG output."""
    if np.issubdtype(like, np.integer) and np.iinfo(like).max in (255, 65535):
        peak = np.iinfo(like).max
        out = np.nan_to_num(np.clip(np.rint(values), 0, peak), nan=0)
        return out.astype(like)
    from .preprocess import normalize_sar

    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    shown = normalize_sar(values, input_kind).image  # in [0, 1], NaN filled
    return np.where(finite, np.rint(255 * shown), 0).astype(np.uint8)


def _write_registered(path: Path, warped: np.ndarray, moving_dtype: np.dtype,
                      georeference: dict | None, input_kind: str) -> tuple[str, bool]:
    """Write the registered image; returns a note on the format and whether it is georeferenced."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, warped)
        return f".npy {warped.dtype}, NaN outside the moving image", False
    if suffix in (".png", ".jpg", ".jpeg"):
        from skimage.io import imsave

        image = _as_display(np.real(warped) if np.iscomplexobj(warped) else warped,
                            np.dtype(moving_dtype), input_kind)
        imsave(path, image, check_contrast=False)
        return f"{suffix[1:].upper()} {image.dtype}, 0 outside the moving image", False
    values = np.abs(warped) if np.iscomplexobj(warped) else warped
    values = values.astype(np.float32)
    rasterio = _rasterio()
    if rasterio is not None and georeference is not None:
        height, width = values.shape
        with rasterio.open(
            path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
            crs=georeference["crs"], transform=georeference["transform"], nodata=np.nan,
        ) as target:
            target.write(values, 1)
        return "GeoTIFF float32 with the fixed image's georeferencing, NaN outside", True
    import tifffile

    tifffile.imwrite(path, values)
    note = "TIFF float32, NaN outside"
    if georeference is None:
        return note + " (the fixed image has no georeferencing)", False
    return note + " (install rasterio to keep the georeferencing)", False


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    return value


def _report(result, args: argparse.Namespace, fixed_shape, moving_shape, extra=None) -> dict:
    diagnostics = result.diagnostics
    report = {
        "sarfeat_version": __import__("sarfeat").__version__,
        "fixed": None if args.example else str(args.fixed),
        "moving": None if args.example else str(args.moving),
        "output": None if args.output is None else str(args.output),
        "weights": args.weights or DEFAULT_WEIGHTS,
        "model": args.model,
        "fixed_shape": list(fixed_shape),
        "moving_shape": list(moving_shape),
        "transform_fixed_to_moving": result.transform.params,
        "transform_moving_to_fixed": result.moving_to_fixed.params,
        "transform_convention": (
            "3x3 matrices on homogeneous (x, y, 1) = (col, row, 1) pixel coordinates; "
            "fixed_to_moving is the inverse_map of skimage.transform.warp"
        ),
        "confidence": result.confidence,
        "seconds": result.seconds,
        "matches": {
            "coarse_candidates": diagnostics.get("coarse_candidates"),
            "coarse_inliers": diagnostics.get("coarse_inliers"),
            "fine_candidates": diagnostics.get("fine_candidates"),
            "fine_inliers": diagnostics.get("fine_inliers"),
        },
        "residuals_px": {
            "median": diagnostics.get("residual_median"),
            "rms": diagnostics.get("residual_rms"),
        },
        "diagnostics": {k: v for k, v in diagnostics.items() if k != "failure"},
    }
    report.update(extra or {})
    return _jsonable(report)


def _load_register_inputs(args: argparse.Namespace):
    fixed, georeference = read_raster(args.fixed, args.band)
    moving, _ = read_raster(args.moving, args.band)
    return fixed, moving, georeference


def _make_matcher(args: argparse.Namespace, net):
    from .matching import CoarseFineMatcher

    return CoarseFineMatcher(
        net, model=args.model, rng=args.seed, input_kind=args.input_kind, nodata=args.nodata,
        precision=args.precision, device=args.device, trust=args.trust,
    )


def _register_command(args: argparse.Namespace) -> None:
    if args.example:
        _register_example(args)
        return
    if args.output is None:
        raise UsageError("give -o OUT, the file for the registered image (.npy, .png, .jpg, .tif)")
    if args.output.suffix.lower() not in _OUTPUT_SUFFIXES:
        raise UsageError(f"unsupported output type {args.output.suffix or '(none)'!r}: use "
                         ".npy, .png, .jpg or .tif")
    _check_writable(args.output, args.plot, args.json)
    fixed, moving, georeference = _load_register_inputs(args)
    net = _load_weights(args.weights, args.trust)
    from .registration import register

    result = register(fixed, moving, matcher=_make_matcher(args, net))
    note, georeferenced = _write_registered(args.output, result.warped, moving.dtype,
                                            georeference, args.input_kind)
    d = result.diagnostics
    print(f"registered {args.moving} onto {args.fixed}: {args.model}, "
          f"{d['fine_inliers']} inlier matches (coarse {d['coarse_inliers']}), residual RMS "
          f"{d['residual_rms']:.2f} px, confidence {result.confidence:.2f}, "
          f"{result.seconds:.1f} s")
    print(f"wrote {args.output} ({note})")
    if args.json is not None:
        report = _report(result, args, fixed.shape, moving.shape,
                         {"georeferenced_output": georeferenced})
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.plot is not None:
        _plot_registration(args.plot, fixed, moving, result, args.input_kind)
        print(f"wrote {args.plot}")


def _register_example(args: argparse.Namespace) -> None:
    from skimage.transform import SimilarityTransform, warp

    from .data import load_sar_scene
    from .metrics import correct_match_counts, registration_rmse
    from .registration import register

    if args.band is not None:
        raise UsageError("--band does not apply to --example")
    if args.output is not None and args.output.suffix.lower() not in _OUTPUT_SUFFIXES:
        raise UsageError(f"unsupported output type {args.output.suffix or '(none)'!r}: use "
                         ".npy, .png, .jpg or .tif")
    _check_writable(args.output, args.plot, args.json)
    scene = load_sar_scene("labrador")
    fixed, vh = scene[..., 0], scene[..., 1]
    truth = SimilarityTransform(
        scale=EXAMPLE_WARP["scale"], rotation=np.deg2rad(EXAMPLE_WARP["rotation_deg"]),
        translation=EXAMPLE_WARP["translation"],
    )
    # truth maps fixed (x, y) to moving (x, y); warp() wants the map from the moving grid
    # (its output) back to the fixed frame (where VH lies): the inverse
    moving = warp(vh, truth.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)
    net = _load_weights(args.weights, args.trust)
    result = register(fixed, moving, matcher=_make_matcher(args, net))
    rmse = registration_rmse(result.transform, truth.params, fixed.shape, moving.shape)
    inliers = result.inlier_matches
    ncm, cmr = correct_match_counts(result.keypoints_fixed, result.keypoints_moving, inliers,
                                    truth.params)
    w = EXAMPLE_WARP
    d = result.diagnostics
    print(f"sarfeat register example: Sentinel-1 Labrador scene, {fixed.shape[0]} x "
          f"{fixed.shape[1]} intensity (contains modified Copernicus Sentinel data)")
    print(f"fixed: VV; moving: VH warped by a similarity (scale {w['scale']}, rotation "
          f"{w['rotation_deg']:g} deg, translation {w['translation']} px), NaN outside")
    print(f"weights: {args.weights or DEFAULT_WEIGHTS}; model {args.model}")
    print(f"matches: coarse {d['coarse_inliers']} inliers of {d['coarse_candidates']}, "
          f"fine {d['fine_inliers']} inliers of {d['fine_candidates']} voted; "
          f"{ncm} within 3 px of the truth (CMR {cmr:.2f})")
    print(f"confidence: {result.confidence:.2f}; residual RMS {d['residual_rms']:.2f} px")
    print(f"RMSE against the truth: {rmse:.3f} px")
    print(f"time: {result.seconds:.2f} s")
    if args.output is not None:
        note, _ = _write_registered(args.output, result.warped, moving.dtype, None,
                                    "intensity")
        print(f"wrote {args.output} ({note})")
    if args.json is not None:
        report = _report(result, args, fixed.shape, moving.shape, {
            "example": "Sentinel-1 Labrador VV (fixed) vs VH under a known similarity",
            "truth_fixed_to_moving": truth.params, "rmse_px": rmse,
            "correct_matches": ncm, "correct_match_ratio": cmr,
        })
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.plot is not None:
        _plot_registration(args.plot, fixed, moving, result, "intensity")
        print(f"wrote {args.plot}")


def _plot_registration(path, fixed, moving, result, input_kind) -> None:
    """Inlier matches (left) and a two-colour overlay of fixed and registered (right)."""
    from skimage.feature import plot_matched_features

    from .preprocess import normalize_sar

    shown_fixed = normalize_sar(fixed, input_kind).image
    shown_moving = normalize_sar(moving, input_kind).image
    warped = result.warped if not np.iscomplexobj(result.warped) else np.abs(result.warped)
    fig = _figure((12, 5.4))
    ax_matches, ax_overlay = fig.subplots(1, 2, width_ratios=(2, 1))
    inliers = result.inlier_matches
    shown = inliers
    if len(shown) > _PLOT_MATCHES:  # a readable plot: an even sample of the inliers
        shown = inliers[np.linspace(0, len(inliers) - 1, _PLOT_MATCHES).round().astype(int)]
    if len(shown):
        plot_matched_features(
            shown_fixed, shown_moving, keypoints0=result.keypoints_fixed,
            keypoints1=result.keypoints_moving, matches=shown, ax=ax_matches,
            keypoints_color="yellow", matches_color="lime", only_matches=True,
        )
    sampled = f", {len(shown)} shown" if len(shown) < len(inliers) else ""
    ax_matches.set_title(f"fixed | moving: {len(inliers)} inlier matches{sampled} "
                         f"(confidence {result.confidence:.2f})")
    ax_matches.set_axis_off()
    overlay = np.zeros(fixed.shape + (3,), np.float32)
    overlay[..., 0] = overlay[..., 2] = shown_fixed
    if np.isfinite(warped).any():
        overlay[..., 1] = np.where(np.isfinite(warped),
                                   normalize_sar(warped, input_kind).image, 0)
    ax_overlay.imshow(overlay, interpolation="nearest")
    ax_overlay.set_title("overlay: fixed magenta, registered green")
    ax_overlay.set_axis_off()
    fig.savefig(path, dpi=110)


# -- entry point -----------------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sarfeat`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success, 1 for a runtime error (including a pair that cannot be
        registered), 2 for bad usage.
    """
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 on bad usage
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("sarfeat: error: choose a command, e.g. 'sarfeat detect --example'",
              file=sys.stderr)
        return 2
    if args.command == "register-stack":
        from .parallel.cli import register_stack_command

        return _guarded("register-stack", register_stack_command, args)
    if args.command == "register":
        given = (args.fixed is not None) + (args.moving is not None)
        if args.example == (given > 0) or (not args.example and given != 2):
            print("usage: sarfeat register [options] (FIXED MOVING -o OUT | --example)",
                  file=sys.stderr)
            print("sarfeat register: error: give FIXED and MOVING, or --example",
                  file=sys.stderr)
            return 2
        return _guarded("register", _register_command, args)
    if args.example == (args.image is not None):
        print("usage: sarfeat detect [options] (IMAGE | --example)", file=sys.stderr)
        print("sarfeat detect: error: give exactly one of IMAGE or --example", file=sys.stderr)
        return 2

    def detect(args: argparse.Namespace) -> None:
        if args.example:
            if args.band is not None:
                raise UsageError("--band does not apply to --example")
            _example(args)
        else:
            _detect_file(args)

    return _guarded("detect", detect, args)


def _guarded(command: str, action, args: argparse.Namespace) -> int:
    """Run ``action(args)``; report errors on one line with the exit status they deserve."""
    debug = os.environ.get("SARFEAT_DEBUG") == "1"
    try:
        action(args)
    except UsageError as error:
        if debug:
            raise
        print(f"sarfeat {command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sarfeat: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line, no traceback (SARFEAT_DEBUG=1 for it)
        if debug:
            raise
        print(f"sarfeat: error: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0
