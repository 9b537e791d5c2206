"""The GeoTIFF output options of ``register`` and ``register-stack``, defined once:
``--co KEY=VALUE`` (GDAL creation options, as ``gdal_translate -co``), ``--overviews`` and
``--overview-resampling``; their checks before any work, and what the writer and the
report get (:func:`sarfeat.io.write_raster`)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from .common import UsageError

__all__ = ["RESAMPLINGS", "add_geotiff_options", "check_geotiff_options", "geotiff_keywords",
           "geotiff_report", "output_report", "creation_option", "check_dtype"]

#: ``--overview-resampling``: auto, then the writer's (sarfeat.io.OVERVIEW_RESAMPLINGS,
#: written here so that --help needs no rasterio; tests/test_cli_geotiff_options.py checks).
RESAMPLINGS = ("auto", "average", "nearest", "mode")
_OPTIONS = ("--co", "--overviews", "--overview-resampling")


def creation_option(text: str) -> tuple[str, str]:
    """argparse type: ``KEY=VALUE``, a GDAL creation option (KEY upper-cased).

    Examples
    --------
    >>> creation_option("compress=ZSTD")
    ('COMPRESS', 'ZSTD')
    """
    key, equals, value = text.partition("=")
    if not equals or re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key.strip()) is None \
            or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (a GDAL creation option such "
                                         f"as COMPRESS=ZSTD), got {text!r}")
    return key.strip().upper(), value.strip()


class _CreationOptions(argparse.Action):
    """Gathers repeated ``--co`` into a dict; a key given twice is refused."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest) or {})
        key, value = values
        if key in options:
            parser.error(f"--co {key} given twice ({options[key]} and {value}): give it once")
        options[key] = value
        setattr(namespace, self.dest, options)


def add_geotiff_options(parser: argparse.ArgumentParser, output: str) -> None:
    """``--co``, ``--overviews`` and ``--overview-resampling``, for a GeoTIFF ``output``."""
    group = parser.add_argument_group(
        "GeoTIFF output", f"how {output} is written when it is a GeoTIFF (default: tiled "
        "256 x 256, deflate with a predictor, no overviews)")
    group.add_argument(
        "--co", dest="creation_options", type=creation_option, action=_CreationOptions,
        default=None, metavar="KEY=VALUE",
        help="a GDAL creation option of the GTiff driver, as gdal_translate -co takes it, "
             "over the defaults (repeat it: --co COMPRESS=ZSTD --co BIGTIFF=YES; "
             "COMPRESS=NONE, TILED=NO); one that GDAL refuses is refused before any work")
    group.add_argument(
        "--overviews", action="store_true",
        help="build overviews inside the GeoTIFF, factors 2, 4, 8... until the smallest is "
             "at most 256 pixels a side (as gdaladdo), so that a large product opens fast")
    group.add_argument(
        "--overview-resampling", choices=RESAMPLINGS, default="auto",
        help="resampling of --overviews, no-data left out: auto (default) is average (SAR "
             "intensities, amplitudes: the mean of the valid pixels), or nearest with "
             "--order 0 (classes, whose values must not mix); mode for classes too")


def check_geotiff_options(args: argparse.Namespace, output: Path | None, option: str,
                          dtype="float32") -> None:
    """Refuse, before any work, GeoTIFF options for an output that is not a GeoTIFF
    (``output``, given by ``option``), ``--overview-resampling`` without ``--overviews``,
    and creation options that GDAL refuses (:func:`sarfeat.io.check_creation_options`) for
    one band of ``dtype`` (None: not checked here, the caller checks its outputs' dtypes)."""
    given = [name for name, value in zip(_OPTIONS, (args.creation_options, args.overviews,
                                                    args.overview_resampling != "auto"))
             if value]
    if not given:
        return
    if output is None or output.suffix.lower() not in (".tif", ".tiff"):
        raise UsageError(f"{', '.join(given)}: for a GeoTIFF output; give {option}")
    if args.overview_resampling != "auto" and not args.overviews:
        raise UsageError("--overview-resampling is for --overviews: give both")
    if dtype is not None:
        check_dtype(args, dtype)


def check_dtype(args: argparse.Namespace, dtype="float32", count: int = 1) -> None:
    """Refuse ``--co`` that GDAL refuses for ``count`` bands of ``dtype`` (a usage error
    naming them and GDAL's reason)."""
    from ..io import RasterError, check_creation_options

    try:
        check_creation_options(args.creation_options, dtype, count)
    except RasterError as error:
        raise UsageError(f"--co: {error}") from None


def _resampling(args: argparse.Namespace) -> str:
    if args.overview_resampling != "auto":
        return args.overview_resampling
    return "nearest" if getattr(args, "order", 1) == 0 else "average"


def geotiff_keywords(args: argparse.Namespace, output: Path) -> dict:
    """The keywords of :func:`sarfeat.io.write_raster` for ``output``: none but for a GeoTIFF."""
    if output.suffix.lower() not in (".tif", ".tiff"):
        return {}
    return {"creation_options": args.creation_options, "overviews": args.overviews,
            "overview_resampling": _resampling(args)}


def geotiff_report(args: argparse.Namespace, raster, output: Path) -> dict:
    """What the JSON report says of a GeoTIFF ``output`` of ``raster`` as written: its
    creation options and overview factors (and their resampling); nothing for another type."""
    from ..io import geotiff_creation_options, overview_factors, rasterio_or_none, written_dtype

    if output.suffix.lower() not in (".tif", ".tiff") or rasterio_or_none() is None:
        return {}
    factors = overview_factors(raster.shape, args.overviews)
    return {"output_creation_options": geotiff_creation_options(
                written_dtype(raster, output), raster.shape, args.creation_options),
            "output_overviews": factors,
            "output_overview_resampling": _resampling(args) if factors else None}


def output_report(args: argparse.Namespace, raster, output: Path, note: str) -> dict:
    """What the JSON report of ``sarfeat register`` and of each image of ``register-stack``
    says of the registered image ``raster`` as written to ``output``: the writer's ``note``,
    whether it is georeferenced, its dtype and nodata, and :func:`geotiff_report`."""
    from ..io import written_dtype

    return {"output_format": note, "georeferenced_output": raster.georeferenced,
            "output_dtype": str(written_dtype(raster, output)), "output_nodata": raster.nodata,
            **geotiff_report(args, raster, output)}
