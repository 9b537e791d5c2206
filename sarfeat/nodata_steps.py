"""Resampled pixels as they are written: a valid one never reads back as no-data.

:func:`sarfeat.io.warp_raster` writes the no-data value where the output has no
data; a valid pixel that lands on that value (cubic overshoot, rounding, a
valid minimum taken as nodata, an interpolation between values either side of
a finite float nodata such as -9999.0 or 0.0) would read back as no-data. It
moves one step toward the valid range instead (:func:`off_nodata`):

- integer rasters: to the nearer of ``nodata`` +- 1;
- float rasters with a finite nodata value: to the nearest float of the dtype
  (:func:`numpy.nextafter`) that GDAL does not take for the nodata value. GDAL
  reads a float within a relative tolerance of it as no-data
  (``ARE_REAL_EQUAL`` in ``gdal_priv.h``: ``|v - nodata| < 2 * FLT_EPSILON *
  |v + nodata|``, about 5e-7 relative, for float32 and float64 alike), so a
  valid pixel within that tolerance moves too; for nodata 0.0 the step is the
  next float itself.

The step is upward unless the resampled value was below the nodata value, or
no value of the dtype lies above it.

Complex rasters: GDAL reads a complex pixel as no-data when its real part is
the nodata value (compared as a float of the real part's type, with the same
tolerance), whatever its imaginary part. A valid complex pixel whose real part
would be taken for it has its real part moved as a float's is; the imaginary
part is kept.

:func:`nodata_valid_mask` reads a nodata value so, and :func:`mark_nodata`
marks one given for a file (``--nodata`` on the command line) so: the file's
own value and the same value given mean the same pixels.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .preprocess import valid_mask

if TYPE_CHECKING:
    from .raster import Raster

__all__ = ["off_nodata", "taken_for_nodata", "nodata_valid_mask", "mark_nodata",
           "alpha_index", "nodata_fits"]

#: The dtypes of an alpha band that GDAL reads as a mask.
_ALPHA_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
#: GDAL's relative tolerance of a float no-data value, with a margin of 1/1024 of it
#: for the order in which GDAL may evaluate it.
_TOLERANCE = 2 * (1 + 2 ** -10) * float(np.finfo(np.float32).eps)


def off_nodata(values: np.ndarray, good: np.ndarray, nodata: float | None,
               dtype: np.dtype) -> np.ndarray:
    """``values`` as written in ``dtype``: a ``good`` one never read back as ``nodata``.

    Parameters
    ----------
    values : ndarray of float
        Resampled values (anything where ``good`` is False).
    good : ndarray of bool
        Where ``values`` are valid.
    nodata : float or None
        The nodata value written where ``good`` is False.
    dtype : numpy.dtype
        The dtype written.

    Returns
    -------
    ndarray
        ``values`` rounded into an integer ``dtype`` (clipped to its range), or
        cast into a float or complex one, each valid value that would read back
        as ``nodata`` moved off it (a complex value's real part; see the module
        documentation); a bool ``dtype``, and a float or complex one with a NaN
        or missing ``nodata``: ``values`` as given.
    """
    dtype = np.dtype(dtype)
    finite = nodata is not None and np.isfinite(nodata)
    if dtype.kind in "iu":  # rounded into the dtype's range whatever the nodata value
        return _rounded_off_nodata(np.where(good, values, 0), good,
                                   nodata if finite else None, dtype)
    if not finite:
        return values
    if dtype.kind == "f":
        return _stepped_off_nodata(values, good, nodata, dtype)
    if dtype.kind == "c":
        values = np.asarray(values)  # the real parts as resampled: on which side they fell
        cast = values.astype(dtype)
        cast.real = _stepped_off_nodata(values.real, good, nodata, cast.real.dtype)
        return cast
    return values


def taken_for_nodata(values: ArrayLike, nodata: float) -> np.ndarray:
    """Whether GDAL reads each float of ``values`` as the no-data value ``nodata``.

    Parameters
    ----------
    values : array_like
        Float values.
    nodata : float
        The no-data value.

    Returns
    -------
    ndarray of bool
        True where equal to it, or within GDAL's relative tolerance of it (see the
        module documentation; with a margin of 1/1024 of the tolerance).
    """
    data, nodata = np.asarray(values, np.float64), float(nodata)
    with np.errstate(over="ignore", invalid="ignore"):  # halves: no sum overflows
        return (data == nodata) | (np.abs(data / 2 - nodata / 2)
                                   < _TOLERANCE * np.abs(data / 2 + nodata / 2))


def nodata_valid_mask(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """:func:`~sarfeat.preprocess.valid_mask`, with ``nodata`` read as GDAL reads a file's.

    A float pixel within GDAL's tolerance of ``nodata``, and a complex pixel
    whose real part is (whatever its imaginary part), is no-data: every TIFF
    reader gives one file one mask, with rasterio or without, and a value given
    for a file (``--nodata``) marks what the same value in the file would.

    Parameters
    ----------
    data : (bands, H, W) ndarray
        The pixels of a file, a band at a time.
    nodata : float or None
        The nodata value.

    Returns
    -------
    valid : ndarray of bool, the shape of ``data``
    """
    valid = valid_mask(data, nodata)
    if nodata is not None and np.isfinite(nodata) and data.dtype.kind in "fc":
        for band, kept in zip(data, valid):  # a band at a time: a float64 copy of one band
            kept &= ~taken_for_nodata(band.real, nodata)
    return valid


def mark_nodata(raster: Raster, value: float | None) -> Raster:
    """``raster`` with the pixels that ``value`` marks invalid too.

    Parameters
    ----------
    raster : sarfeat.io.Raster
        The raster (not changed).
    value : float or None
        Read as the file's own nodata value is (:func:`nodata_valid_mask`); None or
        NaN (always no-data) changes nothing.

    Returns
    -------
    sarfeat.io.Raster
        A copy with those pixels invalid (``raster`` itself for None or NaN);
        ``raster.nodata`` is kept.
    """
    if value is None or np.isnan(value):
        return raster
    return replace(raster, valid=raster.valid & nodata_valid_mask(raster.data, value))


def _rounded_off_nodata(values: np.ndarray, good: np.ndarray, nodata: float | None,
                        dtype: np.dtype) -> np.ndarray:
    """``values`` rounded into integer ``dtype``, a ``good`` one never equal to ``nodata``."""
    info = np.iinfo(dtype)
    rounded = np.clip(np.rint(values), info.min, info.max)
    if nodata is None:
        return rounded
    hit = good & (rounded == nodata)
    if hit.any():
        step = np.where(values >= nodata, 1, -1)
        step = np.where(nodata + step > info.max, -1, np.where(nodata + step < info.min, 1, step))
        rounded[hit] = nodata + step[hit]
    return rounded


def _stepped_off_nodata(values: np.ndarray, good: np.ndarray, nodata: float,
                        dtype: np.dtype) -> np.ndarray:
    """``values`` cast to float ``dtype``, a ``good`` one never taken for ``nodata``."""
    cast = values.astype(dtype)
    hit = good & taken_for_nodata(cast, nodata)
    if hit.any():
        above = np.asarray(values) >= nodata
        for side, moving in ((1.0, hit & above), (-1.0, hit & ~above)):
            if moving.any():
                step = _nearest_kept(nodata, dtype, side)
                cast[moving] = step if step is not None else _nearest_kept(nodata, dtype, -side)
    return cast


def _nearest_kept(nodata: float, dtype: np.dtype, side: float):
    """The float of ``dtype`` nearest ``nodata`` on ``side`` (+1 above, -1 below) that
    GDAL does not take for it; None when there is none (beyond the dtype's range)."""
    # the tolerance's edge: |d| = _TOLERANCE * |2 nodata + d| for d = step - nodata; start
    # a billionth inside it (nodata itself for 0), then out by the fewest floats
    away = 1 if side * nodata > 0 else -1  # d takes step away from 0, or toward it
    edge = 2 * _TOLERANCE * abs(float(nodata)) / (1 - away * _TOLERANCE)
    with np.errstate(over="ignore"):
        step = np.array(float(nodata) + side * edge * (1 - 1e-9), dtype)
    for _ in range(64):  # a few floats at most
        if not np.isfinite(step):
            return None
        if not taken_for_nodata(step, nodata):
            return step[()]
        step = np.nextafter(step, dtype.type(side * np.inf))
    raise AssertionError(f"no float of {dtype} found past nodata {nodata!r}")


def alpha_index(bands: tuple | None, dtype: np.dtype, nodata: float | None) -> int | None:
    """The band of an image whose alpha marks its no-data, else None.

    GDAL's rule: an alpha band (colour interpretation ``alpha``) of 8 or 16 bits
    (uint8, uint16) masks every band where it is 0; one of another dtype masks
    nothing (GDAL reads such an image as valid everywhere), nor one beside a
    nodata value.

    Parameters
    ----------
    bands : tuple of (str or None, str) or None
        Each band's description and colour interpretation (``Raster.bands``).
    dtype : numpy.dtype
        The image's dtype; only a uint8 or uint16 image has an alpha band here.
    nodata : float or None
        The image's nodata value: with one, the nodata value marks no-data (GDAL
        lets it shadow the alpha band), and there is no alpha band to keep.

    Returns
    -------
    int or None

    Examples
    --------
    >>> alpha_index(((None, "red"), (None, "green"), (None, "blue"), (None, "alpha")),
    ...             np.dtype(np.uint8), None)
    3
    """
    if nodata is not None or bands is None or np.dtype(dtype) not in _ALPHA_DTYPES:
        return None
    found = [index for index, (_, colour) in enumerate(bands) if colour == "alpha"]
    return found[0] if found else None


def nodata_fits(dtype: np.dtype, nodata: float | None) -> bool:
    """Whether ``nodata`` is a value that pixels of ``dtype`` can hold (None: yes).

    An integer dtype holds the integers of its range, not NaN, a fraction or a
    value beyond its range (-1 in uint8); a float or complex dtype holds NaN,
    the infinities and the finite values within its range (not 1e40 in float32).
    GDAL (and rasterio) reads a file whose nodata value does not fit its dtype
    as having none; written, such a value would turn into another one (-1 into
    255 in uint8, NaN into 0) that reads back as data.

    Parameters
    ----------
    dtype : numpy.dtype
        The pixels' type.
    nodata : float or None
        The value.

    Returns
    -------
    bool

    Examples
    --------
    >>> nodata_fits(np.dtype(np.uint8), -1.0), nodata_fits(np.dtype(np.int16), -9999.0)
    (False, True)
    >>> nodata_fits(np.dtype(np.int16), float("nan")), nodata_fits(np.dtype(np.float32), 1e40)
    (False, False)
    """
    dtype = np.dtype(dtype)
    if nodata is None or dtype == bool:
        return True
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return bool(np.isfinite(nodata)) and float(nodata).is_integer() \
            and info.min <= nodata <= info.max
    if dtype.kind in "fc":
        return not np.isfinite(nodata) or abs(nodata) <= float(np.finfo(dtype).max)
    return True
