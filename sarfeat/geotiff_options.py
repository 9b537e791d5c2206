"""How :func:`sarfeat.io.write_raster` lays out a GeoTIFF: GDAL creation options and overviews.

The defaults (tiled 256 x 256 when both sides reach 256, deflate with a
predictor suited to the dtype, no overviews) can be overridden with GDAL
creation options, as ``gdal_translate -co KEY=VALUE`` takes them, and
overviews added, as ``gdaladdo`` builds them. :func:`check_creation_options`
asks GDAL itself (a small file in memory) whether it takes the options, so that
an option it refuses is named before anything is written. Re-exported by
:mod:`sarfeat.io`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import DTypeLike

from .raster import RasterError, plain_tiff_quiet, rasterio_or_none

__all__ = ["BLOCK", "OVERVIEW_MIN_SIZE", "OVERVIEW_RESAMPLINGS", "geotiff_creation_options",
           "check_creation_options", "overview_factors", "check_overview_resampling"]

#: Side of the default tiles.
BLOCK = 256
#: Overviews of factors 2, 4, 8... are built until the smallest one's longer side is at most
#: this many pixels (gdaladdo's default ``--min-size``).
OVERVIEW_MIN_SIZE = 256
#: Resamplings of the overviews (GDAL's names): ``average`` for measurements (SAR
#: intensity, amplitude, reflectance: what a zoomed-out view should show, speckle
#: smoothed), ``nearest`` or ``mode`` for classes, whose values must not be mixed. All
#: leave no-data out (the nodata value, or an alpha band).
OVERVIEW_RESAMPLINGS = ("average", "nearest", "mode")
#: Compressions that take GDAL's PREDICTOR: the default predictor is kept with these alone.
_PREDICTED = ("DEFLATE", "LZW", "ZSTD")
_TILING = ("TILED", "BLOCKXSIZE", "BLOCKYSIZE")
#: What the writer sets from the raster itself: not creation options.
_FROM_RASTER = ("DRIVER", "WIDTH", "HEIGHT", "COUNT", "DTYPE", "NODATA", "CRS", "TRANSFORM")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _normalized(creation_options: Mapping | None) -> dict[str, str]:
    """``creation_options`` with upper-case keys and text values, checked."""
    if creation_options is None:
        return {}
    if not isinstance(creation_options, Mapping):
        raise RasterError("creation_options must be a mapping of GDAL creation options, "
                          f"KEY: VALUE, not {type(creation_options).__name__}")
    options = {}
    for key, value in creation_options.items():
        if not isinstance(key, str) or _KEY.fullmatch(key) is None:
            raise RasterError(f"creation option {key!r}: expected a GDAL option name "
                              "(letters, digits and _), such as COMPRESS")
        if key.upper() in _FROM_RASTER:
            raise RasterError(f"creation option {key!r} is set from the raster, not given")
        if isinstance(value, bool):
            value = "YES" if value else "NO"
        if isinstance(value, (int, np.integer)) or isinstance(value, str) and value.strip():
            options[key.upper()] = str(value).strip()
        else:
            raise RasterError(f"creation option {key}={value!r}: expected a non-empty text or "
                              "a whole number")
    return options


def geotiff_creation_options(dtype: DTypeLike, shape: tuple[int, int],
                             creation_options: Mapping | None = None) -> dict[str, str]:
    """The GDAL creation options of a GeoTIFF of ``dtype`` and ``shape`` (rows, columns).

    The defaults, overridden by ``creation_options``: ``TILED=YES`` with
    256 x 256 blocks when both sides reach 256 (dropped when any of TILED,
    BLOCKXSIZE or BLOCKYSIZE is given), ``COMPRESS=DEFLATE`` and ``PREDICTOR``
    3 for floats, 2 for integers, 1 for complex (dropped when another
    compression that takes no predictor is given without one).

    Parameters
    ----------
    dtype : dtype_like
        The dtype the file is written in.
    shape : tuple of int
        Its (rows, columns).
    creation_options : mapping, optional
        GDAL creation options, as ``gdal_translate -co KEY=VALUE`` takes them
        (keys in any case; values texts, whole numbers or booleans, YES or NO),
        over the defaults.

    Returns
    -------
    dict of str to str
        The options to write with, keys in upper case.

    Raises
    ------
    sarfeat.io.RasterError
        For options that are not a mapping, a key that is not a GDAL option name
        or is set from the raster (``DTYPE``, ``NODATA``...), or a value that is
        none of these.

    Examples
    --------
    >>> geotiff_creation_options("int16", (100, 100), {"compress": "zstd"})
    {'COMPRESS': 'ZSTD', 'PREDICTOR': '2'}
    >>> geotiff_creation_options("float32", (100, 100), {"COMPRESS": "NONE"})
    {'COMPRESS': 'NONE'}
    """
    given = _normalized(creation_options)
    kind = np.dtype(dtype).kind
    options = {"COMPRESS": "DEFLATE", "PREDICTOR": {"f": "3", "c": "1"}.get(kind, "2")}
    if min(shape) >= BLOCK and not any(key in given for key in _TILING):
        options.update(TILED="YES", BLOCKXSIZE=str(BLOCK), BLOCKYSIZE=str(BLOCK))
    if given.get("COMPRESS", "DEFLATE").upper() not in _PREDICTED:
        del options["PREDICTOR"]
    options.update(given)
    if "COMPRESS" in given:
        options["COMPRESS"] = options["COMPRESS"].upper()
    return options


def _quoted(text: str) -> str:
    """GDAL's words on one line, without its error class and the random name of the trial
    file in memory, which it puts first."""
    text = re.sub(r"^CPLE_\w+ in ", "", " ".join(text.split()))
    return re.sub(r"^\S+\.tif: ", "", text)


@contextlib.contextmanager
def _gdal_warnings():
    """The warnings GDAL gives meanwhile (rasterio logs them), collected in a list."""
    logger, found = logging.getLogger("rasterio._env"), []

    class Collect(logging.Handler):
        def emit(self, record):
            found.append(_quoted(record.getMessage()))

    handler, level = Collect(logging.WARNING), logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def check_creation_options(creation_options: Mapping | None, dtype: DTypeLike = "float32",
                           count: int = 1,
                           shape: tuple[int, int] = (BLOCK, BLOCK)) -> dict[str, str]:
    """Refuse GDAL creation options that GDAL does not take; return those to write with.

    A GeoTIFF of ``count`` bands of ``dtype`` is made in memory with the options
    of :func:`geotiff_creation_options` (16 x 16 pixels, whatever ``shape``):
    an option that GDAL's GTiff driver does not know, a value that it does not
    list, or options it cannot write (``PREDICTOR=3`` for integers, blocks not
    a multiple of 16) are refused, GDAL's words quoted.

    Parameters
    ----------
    creation_options : mapping or None
        The options given (None or empty: the defaults, which need no check).
    dtype : dtype_like
        The dtype the file is written in.
    count : int
        Its number of bands.
    shape : tuple of int
        Its (rows, columns), which decide the default tiling.

    Returns
    -------
    dict of str to str
        :func:`geotiff_creation_options` of the same arguments.

    Raises
    ------
    sarfeat.io.RasterError
        Naming the options and why; also when options are given and rasterio is
        not installed.

    Examples
    --------
    >>> check_creation_options({"COMPRESS": "LZW"}, "uint8")["COMPRESS"]
    'LZW'
    >>> check_creation_options({"COMPRESS": "FOO"})
    Traceback (most recent call last):
    ...
    sarfeat.raster.RasterError: GDAL refused the GeoTIFF creation options COMPRESS=FOO: ...
    """
    options = geotiff_creation_options(dtype, shape, creation_options)
    given = _normalized(creation_options)
    if not given:
        return options
    rasterio = rasterio_or_none()
    if rasterio is None:
        raise RasterError("GDAL creation options need rasterio: install the geotiff extra "
                          "(pip install 'sarfeat[geotiff]')")
    named = " ".join(f"{key}={value}" for key, value in given.items())
    dtype = np.dtype(np.float32 if np.dtype(dtype) == np.float16 else dtype)
    with _gdal_warnings() as complaints, plain_tiff_quiet(rasterio):
        try:
            with rasterio.MemoryFile() as memory, memory.open(
                    driver="GTiff", width=16, height=16, count=count, dtype=dtype.name,
                    **options) as trial:
                trial.write(np.zeros((count, 16, 16), dtype))
        except Exception as error:  # noqa: BLE001 - rasterio's and GDAL's errors, quoted
            complaints.append(_quoted(str(error)))
    if complaints:
        raise RasterError(f"GDAL refused the GeoTIFF creation options {named}: "
                          + "; ".join(dict.fromkeys(complaints)))
    return options


def overview_factors(shape: tuple[int, int], overviews: bool | Sequence[int] | None,
                     min_size: int = OVERVIEW_MIN_SIZE) -> list[int]:
    """The overview factors of a raster of ``shape`` (rows, columns).

    ``True``: 2, 4, 8... until the smallest overview's longer side is at most
    ``min_size`` pixels, as gdaladdo chooses them (none for a raster that small);
    ``False`` or None: none; a sequence: those factors, whole numbers >= 2, in
    increasing order.

    Parameters
    ----------
    shape : tuple of int
        The raster's (rows, columns).
    overviews : bool or sequence of int or None
        Whether to build overviews, or their factors.
    min_size : int
        The longer side, in pixels, at which ``True`` stops adding overviews.

    Returns
    -------
    list of int
        The factors, increasing; empty for no overviews.

    Raises
    ------
    sarfeat.io.RasterError
        For ``overviews`` that is none of these.

    Examples
    --------
    >>> overview_factors((3000, 1000), True), overview_factors((200, 200), True)
    ([2, 4, 8, 16], [])
    """
    if overviews is None or overviews is False:
        return []
    if overviews is True:
        factors, factor = [], 1
        while -(-max(shape) // factor) > min_size:
            factor *= 2
            factors.append(factor)
        return factors
    if isinstance(overviews, (str, bytes)) or not isinstance(overviews, Sequence) or not all(
            isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f >= 2
            for f in overviews):
        raise RasterError(f"overviews must be True, False or whole factors >= 2 (such as "
                          f"[2, 4, 8]), not {overviews!r}")
    return sorted({int(factor) for factor in overviews})


def check_overview_resampling(resampling: str) -> str:
    """``resampling`` if it is one of :data:`OVERVIEW_RESAMPLINGS`, else RasterError.

    Parameters
    ----------
    resampling : str
        The resampling of the overviews, by GDAL's name.

    Returns
    -------
    str
        ``resampling``, unchanged.

    Raises
    ------
    sarfeat.io.RasterError
        For a resampling not among :data:`OVERVIEW_RESAMPLINGS`, naming them.
    """
    if resampling not in OVERVIEW_RESAMPLINGS:
        raise RasterError(f"overview resampling {resampling!r}: use "
                          + ", ".join(OVERVIEW_RESAMPLINGS))
    return resampling
