"""Resample every band of a :class:`~sarfeat.raster.Raster` with one transform.

:func:`warp_raster` keeps each band's dtype and no-data (a valid pixel never
reads back as no-data, :mod:`sarfeat.nodata_steps`); :func:`warp_onto` puts the
result on a fixed raster's grid and georeferencing, as ``sarfeat register -o``
writes it; :func:`warp_onto_windows` makes it a window at a time
(:class:`WarpedWindows`), which is how ``register -o`` writes it, a strip at a time
(:func:`sarfeat.io.write_raster_windows`). Re-exported by :mod:`sarfeat.io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import numpy as np
from numpy.typing import ArrayLike

from .geometry import (WARP_BLOCK, check_order, check_warp_target, check_window, warp,
                       warp_dtype, window_blocks)
from .nodata_steps import alpha_index, nodata_fits, off_nodata
from .preprocess import valid_mask
from .raster import Raster, check_raster

__all__ = ["warp_raster", "warp_onto", "warp_bands", "warp_colour", "warp_onto_curved",
           "CURVED_BLOCK", "WarpedWindows", "warp_onto_windows", "warp_onto_curved_windows",
           "warp_band_onto_curved"]

#: Largest side (output pixels) of the blocks of :func:`warp_onto_curved`, each resampled
#: with the georeferencing's affine fit over it; a block whose fit departs from the exact
#: map by more than ``CURVED_TOLERANCE`` (moving pixels) is split in four, down to
#: ``CURVED_SMALLEST``. One fit over a 110 km Sentinel-2 tile read from an EPSG:4326 scene
#: is off by 24 px; over a 1024 px block of it, by a few hundredths.
CURVED_BLOCK = 1024
CURVED_TOLERANCE = 0.05
CURVED_SMALLEST = 32


def warp_raster(raster: Raster, inverse_map: np.ndarray, shape: tuple[int, int], *,
                order: int = 1, window: tuple[int, int, int, int] | None = None) -> Raster:
    """Every band of ``raster`` resampled with one transform, in its dtype and nodata.

    Parameters
    ----------
    raster : Raster
    inverse_map : (3, 3) ndarray
        Output (x, y) -> input (x, y), as the ``inverse_map`` of
        :func:`skimage.transform.warp`.
    shape : (int, int)
        Output (rows, cols).
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic); 0 for a bool raster (a mask).
    window : (r0, r1, c0, c1), optional
        Only these rows and columns of the output (:func:`sarfeat.geometry.warp`): a
        window whose edges are multiples of :data:`sarfeat.geometry.WARP_BLOCK` (or the
        output's edges) holds exactly what the whole output holds there.

    Returns
    -------
    Raster
        Of the window's shape when one is given. Same dtype and nodata as
        ``raster`` (an integer raster without a nodata value gets its dtype's
        minimum as nodata; a float or complex one NaN; a bool one keeps its own,
        False outside, no-data in ``valid``).
        A valid pixel never reads back as no-data: one that would (cubic
        overshoot, rounding, a valid minimum taken as nodata, a finite float
        nodata such as -9999.0 or 0.0 met by interpolation) moves one step
        toward the valid range: nodata +- 1 in an integer raster; in a float
        one, the nearest float of the dtype (:func:`numpy.nextafter`) that GDAL
        does not take for the nodata value (it reads floats within about 5e-7
        of it, relative, as no-data; see :mod:`sarfeat.nodata_steps`); in a
        complex one, the real part so (GDAL compares the real part alone);
        no-data wherever the output falls outside the input or next to
        its no-data (:func:`sarfeat.geometry.warp`, sarfeat's one warp). An
        8/16-bit picture whose alpha band marks its no-data (no nodata value,
        :func:`sarfeat.nodata_steps.alpha_index`) keeps no nodata value (it would
        shadow the alpha): where every band is valid, its alpha is resampled with
        ``order`` as the colour it covers (a partly transparent edge stays so, at
        least 1: data is never transparent), and 0 elsewhere, as its other bands.
        Its other bands are resampled weighted by the alpha, as gdalwarp does:
        ``colour * alpha`` and ``alpha`` resampled, then divided, so that a partly
        transparent pixel's colour (often black at an anti-aliased edge) counts
        in proportion to its alpha (where a cubic's alpha undershoots under half a
        level, unweighted). An image with one alpha under all its colour (opaque,
        with or without a transparent outside), and ``order=0``, are resampled as
        any other bands are. No georeferencing, GCPs and RPCs included (the caller
        sets the output grid's); each band's scale, offset and unit are kept (its
        values keep their meaning).

    Raises
    ------
    ValueError
        For an ``order`` that is not an integer 0-5 (even for a raster without
        bands); for a bool raster with ``order`` other than 0: a mask has no values between
        False and True to interpolate; for an ``inverse_map`` that is not a finite,
        invertible 3x3 matrix or a ``shape`` that is not two integers >= 1 (even for
        a raster without bands), or a ``window`` that is not a part of it; for a
        nodata value that the raster's dtype cannot hold (-1 in uint8, NaN in int16:
        written, it would turn into data).
    """
    check_raster(raster)
    inverse_map, shape = check_warp_target(inverse_map, shape)
    r0, r1, c0, c1 = check_window(window, shape)
    check_order(order)  # before any band is warped (and for a raster without bands)
    dtype, nodata = raster.data.dtype, raster.nodata
    if not nodata_fits(dtype, nodata):
        raise ValueError(f"nodata {nodata} cannot be stored in {dtype} pixels (the raster's "
                         "no-data would be written as a value that reads back as data): give "
                         "it a nodata value that its dtype holds, or none")
    if dtype == bool and order != 0:
        raise ValueError(f"a bool raster (a mask) is resampled by nearest neighbour: order=0, "
                         f"not order={order} (or give it as numbers to interpolate them)")
    alpha = alpha_index(raster.bands, dtype, nodata)
    if nodata is None and dtype != bool and alpha is None:
        nodata = float("nan") if dtype.kind in "fc" else float(np.iinfo(dtype).min)
    out = np.empty((raster.count, r1 - r0, c1 - c0), dtype)
    valid_out = np.empty(out.shape, bool)
    for index, warped in enumerate(warp_bands(raster, inverse_map, shape, order=order,
                                              window=window)):
        good = valid_mask(warped)
        warped = off_nodata(warped, good, nodata, dtype)
        out[index] = np.where(good, warped, False if nodata is None else nodata).astype(dtype)
        valid_out[index] = good
    if alpha is not None:  # the alpha says where the image is, for every band
        valid_out[:] = valid_out.all(axis=0)
        out = np.where(valid_out, out, 0).astype(dtype)
        # resampled as the colour it covers; a pixel with data never reads back transparent
        out[alpha] = np.where(valid_out[alpha], np.maximum(out[alpha], 1), 0)
    return replace(raster, data=out, valid=valid_out, nodata=nodata, crs=None, transform=None,
                   gcps=None, rpcs=None, unused_crs=None)


def warp_bands(raster: Raster, inverse_map: np.ndarray, shape: tuple[int, int], *,
               order: int = 1, window: tuple[int, int, int, int] | None = None
               ) -> Iterator[np.ndarray]:
    """Each band of ``raster`` resampled with one transform, as floats, one band at a time.

    What :func:`warp_raster` rounds into the raster's dtype, and what
    :attr:`sarfeat.RegistrationResult.warped` of a colour moving image holds:
    each band as :func:`sarfeat.geometry.warp` resamples it (its ``valid`` pixels
    only; NaN outside the input and next to its no-data), except that the colour
    bands of a picture whose alpha marks its no-data
    (:func:`sarfeat.nodata_steps.alpha_index`: an 8- or 16-bit ``alpha`` band,
    no nodata value) are weighted by the alpha, as gdalwarp weights them:
    ``colour * alpha`` and ``alpha`` resampled, then divided, so that a partly
    transparent pixel lends its colour in proportion to its alpha (where a cubic's
    alpha undershoots under half a level: unweighted). The alpha band itself, an
    image with one alpha under all its colour (opaque, with or without a
    transparent outside), and ``order=0`` are resampled as any band is.

    Parameters
    ----------
    raster : Raster
    inverse_map : (3, 3) ndarray
        Output (x, y) -> input (x, y).
    shape : (int, int)
        Output (rows, cols).
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic).
    window : (r0, r1, c0, c1), optional
        Only these rows and columns of the output, as :func:`sarfeat.geometry.warp`
        takes them.

    Yields
    ------
    (rows, cols) ndarray of :func:`sarfeat.geometry.warp_dtype`
        Band 0, 1, ... resampled (of the window's shape when one is given).

    Raises
    ------
    ValueError
        As :func:`sarfeat.geometry.warp`, when the first band is asked for.
    """
    check_raster(raster)
    alpha = alpha_index(raster.bands, raster.data.dtype, raster.nodata)
    weighted = _AlphaWeighted(raster, alpha, inverse_map, shape, order, window) \
        if alpha is not None and order != 0 else None
    for index in range(raster.count):
        if weighted is not None and weighted.varies and index != alpha:
            yield weighted.colour(index)
        else:
            yield warp(raster.data[index], inverse_map, shape, order=order,
                       valid=raster.valid[index], window=window)


def warp_colour(image: ArrayLike, inverse_map: np.ndarray, shape: tuple[int, int], *,
                order: int = 1, nodata: float | None = None) -> np.ndarray:
    """An (H, W, 3) RGB or (H, W, 4) RGBA array resampled as a picture, as floats.

    Its channels are the bands of a picture (red, green, blue, alpha) resampled
    by :func:`warp_bands`: with an 8- or 16-bit alpha (uint8, uint16), a zero
    alpha is no-data in every channel and the colour is weighted by the alpha;
    otherwise (an RGB array, a float alpha) each channel is resampled as
    :func:`sarfeat.geometry.warp` resamples it. What
    :attr:`sarfeat.RegistrationResult.warped` holds for a colour moving image.

    Parameters
    ----------
    image : (H, W, 3) or (H, W, 4) array_like
        A masked array's masked pixels are no-data in their channel.
    inverse_map : (3, 3) ndarray
        As :func:`warp_bands` takes it.
    shape : (int, int)
        As :func:`warp_bands` takes it.
    order : int
        As :func:`warp_bands` takes it.
    nodata : float, optional
        A value that marks no-data in a channel, besides NaN.

    Returns
    -------
    (rows, cols, channels) ndarray of :func:`sarfeat.geometry.warp_dtype`
        NaN outside the input and next to its no-data.

    Raises
    ------
    ValueError
        For an ``image`` that is not (H, W, 3) or (H, W, 4), and as :func:`~sarfeat.geometry.warp`.
    """
    image = image if np.ma.isMaskedArray(image) else np.asarray(image)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must be an (H, W, 3) RGB or (H, W, 4) RGBA array, got shape "
                         f"{image.shape}")
    data = np.moveaxis(np.ma.getdata(image), -1, 0)
    valid = np.moveaxis(valid_mask(image, nodata), -1, 0)
    bands = tuple((None, colour) for colour in ("red", "green", "blue", "alpha")[:len(data)])
    alpha = alpha_index(bands, data.dtype, None)  # the alpha masks, whatever the nodata value
    if alpha is not None:
        valid = valid & (data[alpha] > 0)
    raster = Raster(data, valid, bands=bands)
    return np.stack(list(warp_bands(raster, inverse_map, shape, order=order)), axis=-1)


class _AlphaWeighted:
    """The colour bands of a picture resampled weighted by its alpha, as gdalwarp does.

    Each band's ``colour * alpha`` and ``alpha`` are resampled (no-data as in
    :func:`sarfeat.geometry.warp`) and divided, so that a partly transparent pixel
    lends its colour in proportion to its alpha: a nearly transparent edge (its
    colour often black or garbage) does not bleed into its neighbours. Where a
    cubic's alpha undershoots under half a level, the colour is resampled unweighted.
    """

    #: Resampled alpha under which the quotient is not taken (a cubic's undershoot).
    FLOOR = 0.5

    def __init__(self, raster: Raster, alpha: int, inverse_map: np.ndarray,
                 shape: tuple[int, int], order: int, window=None) -> None:
        self.raster, self.alpha = raster, raster.data[alpha]
        self.warp = {"inverse_map": inverse_map, "shape": shape, "order": order,
                     "window": window}
        colour = np.delete(raster.valid, alpha, axis=0).all(axis=0)
        seen = self.alpha[colour]
        # one alpha under all the colour (opaque, or 0 outside it): weights change nothing,
        # and the bands are resampled as they were, to the bit
        self.varies = seen.size > 0 and bool((seen != seen[0]).any())
        self._density: tuple | None = None  # (valid mask, resampled alpha) of the last band

    def colour(self, index: int) -> np.ndarray:
        """Band ``index`` resampled weighted by alpha, NaN where :func:`warp` puts no-data."""
        valid = self.raster.valid[index]
        if self._density is None or not np.array_equal(self._density[0], valid):
            self._density = (valid, warp(self.alpha, valid=valid, **self.warp))
        density = self._density[1]
        wide = np.uint32 if self.alpha.dtype == np.uint16 else np.uint16  # exact products
        values = self.raster.data[index]
        product = values.astype(wide) * self.alpha.astype(wide)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = warp(product, valid=valid, **self.warp) / density
        low = density < self.FLOOR  # False on NaN: no-data stays NaN
        if low.any():
            out[low] = warp(values, valid=valid, **self.warp)[low]
        return out


@dataclass(frozen=True)
class WarpedWindows:
    """A raster resampled onto a fixed grid, made a window at a time.

    What :func:`warp_onto_windows` and :func:`warp_onto_curved_windows` return, and what
    :func:`sarfeat.io.write_raster_windows` writes a strip of rows at a time, so that
    the memory a write takes grows with a strip, not with the grid: a small moving
    image written onto a large fixed grid (a SAR chip onto a Sentinel-2 tile) never
    holds the whole grid, mostly no-data, at once.

    Each field is documented at its declaration.
    """

    header: Raster
    """Raster: the whole raster's shape, band count, dtype, nodata, bands, scaling and
    georeferencing (the grid's). Its ``data`` and ``valid`` are read-only views of one pixel
    broadcast over the grid: they hold no pixels (:meth:`window` and :meth:`whole` make
    them)."""
    rows: int
    """int: windows whose edges are multiples of ``rows`` (or the grid's edges) hold exactly
    what :meth:`whole` holds there, to the bit."""
    make: Callable[[tuple[int, int, int, int]], Raster] = field(repr=False)
    """callable: ``(r0, r1, c0, c1) -> Raster``, the pixels of a window taken as it is
    (:meth:`window` checks it first)."""

    def window(self, window: tuple[int, int, int, int]) -> Raster:
        """The pixels of ``window`` (r0, r1, c0, c1) of the grid, without georeferencing.

        Parameters
        ----------
        window : (r0, r1, c0, c1)
            Rows r0 to r1 and columns c0 to c1 (excluded) of the grid.

        Returns
        -------
        Raster
            Its dtype, nodata, bands and scaling those of :attr:`header`.

        Raises
        ------
        ValueError
            For a window that is not a non-empty part of the grid.
        """
        return self.make(check_window(window, self.header.shape))

    def whole(self) -> Raster:
        """Every pixel, georeferenced as the grid is: what :func:`warp_onto` returns.

        Returns
        -------
        Raster
        """
        rows, cols = self.header.shape
        whole = self.window((0, rows, 0, cols))
        return replace(whole, crs=self.header.crs, transform=self.header.transform,
                       gcps=self.header.gcps, rpcs=self.header.rpcs,
                       unused_crs=self.header.unused_crs)


def warp_onto(raster: Raster, grid: Raster, inverse_map: np.ndarray, *, order: int = 1) -> Raster:
    """Every band of ``raster`` resampled onto the pixels of ``grid``, georeferenced as it is.

    What ``sarfeat register -o`` and ``sarfeat register-stack`` write:
    :func:`warp_raster` (each band in its own dtype, nodata, scale and offset) onto
    ``grid``'s shape, with ``grid``'s CRS, geotransform, GCPs and RPCs (or its CRS
    without a geotransform, :attr:`Raster.unused_crs`, kept as it is). They write it a
    strip at a time (:func:`warp_onto_windows`).

    Parameters
    ----------
    raster : Raster
        The moving raster.
    grid : Raster
        The fixed raster; only its shape and georeferencing are read (it may
        hold no band).
    inverse_map : (3, 3) ndarray
        ``grid``'s pixels (x, y) -> ``raster``'s pixels (x, y).
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic).

    Returns
    -------
    Raster

    Raises
    ------
    ValueError
        As :func:`warp_raster`; for a ``grid`` without pixels (a side of 0).
    """
    return warp_onto_windows(raster, grid, inverse_map, order=order).whole()


def warp_onto_windows(raster: Raster, grid: Raster, inverse_map: np.ndarray, *,
                      order: int = 1) -> WarpedWindows:
    """:func:`warp_onto`, made a window at a time (:class:`WarpedWindows`).

    Parameters
    ----------
    raster, grid : Raster
        The moving and the fixed raster, as :func:`warp_onto` takes them.
    inverse_map : (3, 3) ndarray
        As :func:`warp_onto` takes it.
    order : int
        As :func:`warp_onto` takes it.

    Returns
    -------
    WarpedWindows
        Its windows hold what :func:`warp_onto` does, to the bit, when their edges are
        multiples of :data:`sarfeat.geometry.WARP_BLOCK` (its ``rows``).

    Raises
    ------
    ValueError
        As :func:`warp_onto`, before any window is made.
    """
    header = _header(raster, grid, inverse_map, order)
    shape = grid.shape

    def make(window: tuple[int, int, int, int]) -> Raster:
        return warp_raster(raster, inverse_map, shape, order=order, window=window)

    return WarpedWindows(header, WARP_BLOCK, make)


def warp_onto_curved(raster: Raster, grid: Raster, correction: np.ndarray, *, order: int = 1,
                     block: int = CURVED_BLOCK) -> Raster:
    """:func:`warp_onto` through the georeferencing of two rasters in different CRSs.

    Output pixel p of ``grid`` reads ``raster`` where the two CRSs put grid pixel
    ``correction @ p``: a registration found on the grid (the moving image brought onto it)
    corrects the georeferencing there, and the map from the grid's CRS to the raster's
    (curved: UTM against geographic coordinates, say) is applied as it is, not as one
    affine fit over the whole grid (over a 110 km Sentinel-2 tile that fit is off by tens
    of pixels). The output is resampled in square blocks of at most ``block`` pixels, each
    with the affine fit of the georeferencing over it
    (:func:`sarfeat.georeferencing.pixel_map`), split until that fit is within
    ``CURVED_TOLERANCE`` moving pixels of the exact map. ``sarfeat register -o`` writes
    it a strip at a time (:func:`warp_onto_curved_windows`).

    Parameters
    ----------
    raster : Raster
        The moving raster, georeferenced.
    grid : Raster
        The fixed raster, georeferenced; only its shape and georeferencing are read.
    correction : (3, 3) ndarray
        ``grid``'s pixels -> ``grid``'s pixels, where the registration puts them.
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic).
    block : int
        Largest side of the output blocks.

    Returns
    -------
    Raster
        As :func:`warp_onto` returns it.
    """
    return warp_onto_curved_windows(raster, grid, correction, order=order, block=block).whole()


def warp_onto_curved_windows(raster: Raster, grid: Raster, correction: np.ndarray, *,
                             order: int = 1, block: int = CURVED_BLOCK) -> WarpedWindows:
    """:func:`warp_onto_curved`, made a window at a time (:class:`WarpedWindows`).

    Parameters
    ----------
    raster : Raster
        The moving raster, as :func:`warp_onto_curved` takes it.
    grid : Raster
        The fixed raster, as :func:`warp_onto_curved` takes it.
    correction : (3, 3) ndarray
        As :func:`warp_onto_curved` takes it.
    order : int
        As :func:`warp_onto_curved` takes it.
    block : int
        Largest side of the blocks resampled, each with its own fit (as
        :func:`warp_onto_curved` takes it).

    Returns
    -------
    WarpedWindows
        Its windows hold what :func:`warp_onto_curved` does, to the bit, when their
        edges are multiples of ``block`` (its ``rows``): each of its blocks is then
        resampled whole.

    Raises
    ------
    ValueError
        For a raster or grid that is not georeferenced, and as :func:`warp_onto`,
        before any window is made.
    """
    check_raster(grid, "grid")
    if not (raster.georeferenced and grid.georeferenced):
        raise ValueError("warp_onto_curved needs two georeferenced rasters")
    header = _header(raster, grid, np.eye(3), order)

    def make(window: tuple[int, int, int, int]) -> Raster:
        top, bottom, left, right = window
        data = np.empty((raster.count, bottom - top, right - left), header.data.dtype)
        valid = np.empty(data.shape, bool)
        blocks = window_blocks(window, block)  # the grid's own, whole in aligned windows
        for (r0, r1, c0, c1), fit in _fitted_blocks(grid, raster, blocks):
            origin = np.array([[1, 0, c0], [0, 1, r0], [0, 0, 1.0]])
            # block pixels -> grid pixels -> corrected -> block pixels -> raster pixels
            inverse = fit @ np.linalg.inv(origin) @ correction @ origin
            warped = warp_raster(raster, inverse, (r1 - r0, c1 - c0), order=order)
            data[:, r0 - top:r1 - top, c0 - left:c1 - left] = warped.data
            valid[:, r0 - top:r1 - top, c0 - left:c1 - left] = warped.valid
        return replace(header, data=data, valid=valid, crs=None, transform=None, gcps=None,
                       rpcs=None, unused_crs=None)

    return WarpedWindows(header, block, make)


def warp_band_onto_curved(image: ArrayLike, raster: Raster, grid: Raster,
                          correction: np.ndarray, *, order: int = 1,
                          nodata: float | None = None) -> np.ndarray:
    """One band of ``raster`` resampled onto ``grid`` as :func:`warp_onto_curved` resamples
    the raster (the same blocks and fits), given as :func:`sarfeat.geometry.warp` gives it.

    What :attr:`sarfeat.RegistrationResult.warped` holds for two files in two CRSs
    (:meth:`sarfeat.registration.PairInputs.in_file_pixels`): the pixels that
    ``register -o`` writes, in floats rather than rounded into the file's dtype.

    Parameters
    ----------
    image : (H, W) array_like
        The band, of ``raster``'s shape (:meth:`sarfeat.io.Raster.band`: its no-data NaN).
    raster : Raster
        The moving raster, georeferenced; only its shape and georeferencing are read (it
        may hold no band).
    grid : Raster
        The fixed raster, georeferenced; its shape and georeferencing alone are read.
    correction : (3, 3) ndarray
        ``grid``'s pixels -> where the registration puts them on it
        (:meth:`sarfeat.registration.PairInputs.correction`).
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic).
    nodata : float, optional
        A value that marks no-data in ``image``, besides NaN.

    Returns
    -------
    (rows, cols) ndarray of :func:`sarfeat.geometry.warp_dtype`
        On ``grid``'s shape; NaN (in both parts, for complex values) outside ``image``
        and next to its no-data.

    Raises
    ------
    ValueError
        For an ``image`` that is not 2-D of ``raster``'s shape, and as
        :func:`warp_onto_curved`.
    """
    image = np.asarray(image)
    if image.shape != tuple(raster.shape):
        raise ValueError(f"image must be one band of the raster, of its shape {raster.shape}, "
                         f"got shape {image.shape}")
    image = image.astype(warp_dtype(image.dtype), copy=False)  # floats: never rounded
    band = replace(raster, data=image[None], valid=valid_mask(image, nodata)[None],
                   nodata=None, bands=None, scaling=None, picture=False)
    warped = warp_onto_curved_windows(band, grid, correction, order=order).whole()
    data, valid = warped.data[0], warped.valid[0]
    if data.dtype.kind == "c":  # NaN in both parts, as warp puts it
        data[~valid] = complex(np.nan, np.nan)
    return data


def _header(raster: Raster, grid: Raster, inverse_map: np.ndarray, order: int) -> Raster:
    """The :attr:`WarpedWindows.header` of ``raster`` resampled onto ``grid``: one pixel
    resampled (every check of :func:`warp_raster`, before any window; the dtype and
    nodata written) and broadcast over the grid, with its georeferencing."""
    check_raster(grid, "grid")
    if min(grid.shape, default=0) < 1:
        raise ValueError(f"grid has no pixels to warp onto: its shape is {grid.shape}")
    pixel = warp_raster(raster, inverse_map, grid.shape, order=order, window=(0, 1, 0, 1))
    shape = (raster.count,) + tuple(grid.shape)
    return replace(pixel, data=np.broadcast_to(pixel.data, shape),
                   valid=np.broadcast_to(pixel.valid, shape), crs=grid.crs,
                   transform=grid.transform, gcps=grid.gcps, rpcs=grid.rpcs,
                   unused_crs=grid.unused_crs)


def _fitted_blocks(grid: Raster, raster: Raster, windows: list):
    """(window, block pixels -> raster pixels affine fit) of each window, split in four
    until the fit is within ``CURVED_TOLERANCE`` raster pixels of the exact map."""
    from .georeferencing import georeferenced_pixels, pixel_map

    while windows:
        r0, r1, c0, c1 = windows.pop(0)
        fit = pixel_map(grid, raster, window=(r0, r1, c0, c1))
        # the exact map at points between pixel_map's samples
        xy = np.stack(np.meshgrid(np.linspace(0, c1 - c0 - 1, 8),
                                  np.linspace(0, r1 - r0 - 1, 8)), -1).reshape(-1, 2)
        exact = georeferenced_pixels(grid, raster, xy + (c0, r0))
        error = np.abs(xy @ fit[:2, :2].T + fit[:2, 2] - exact).max()
        if error <= CURVED_TOLERANCE or min(r1 - r0, c1 - c0) <= CURVED_SMALLEST:
            yield (r0, r1, c0, c1), fit
            continue
        rm, cm = (r0 + r1) // 2, (c0 + c1) // 2
        windows[:0] = [(a, b, c, d) for a, b in ((r0, rm), (rm, r1))
                       for c, d in ((c0, cm), (cm, c1))]
