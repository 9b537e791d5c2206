"""A window of a scene GeoTIFF as :func:`sarfeat.io.read_image` reads the file.

:func:`sarfeat.parallel.detect_tiled` reads a GeoTIFF by windows on its workers
(rasterio). So that it detects on the pixels that ``sarfeat detect`` reads from
the same file (:func:`sarfeat.io.read_raster`, then
:meth:`~sarfeat.raster.Raster.band`):

- with no band chosen, a single band is read; a gray + alpha picture gives its
  gray band, an RGB(A) picture its gray values (:func:`sarfeat.io.rgb_to_gray`),
  no-data where any band is; any other file of several bands asks for a band;
- a band's no-data is its nodata value and mask band, and GDAL's alpha: where
  an 8- or 16-bit alpha band is 0, every band is no-data, the alpha band itself
  included (GDAL leaves the alpha band's own mask valid; sarfeat's reader does
  not).
- a band that the file gives a scale or offset (GDAL metadata) is read as its
  physical values, stored value * scale + offset (:func:`sarfeat.raster.physical_values`),
  its no-data marked on the stored values.
"""

from __future__ import annotations

import numpy as np

from ..io import rgb_to_gray
from ..nodata_steps import nodata_valid_mask
from ..raster import physical_values, scaling_applies
from ..raster_read import is_picture
from ..wording import counted

__all__ = ["read_bands", "mask_bands", "read_window", "band_scaling"]


def read_bands(source, band: int | None, path: str) -> list[int]:
    """The bands (1-based) of an open rasterio dataset read for its band ``band``.

    ``band`` itself (0-based); with None, the single band, a gray + alpha picture's
    gray band, or every band of an RGB(A) picture (its gray, :func:`read_window`).

    Raises
    ------
    ValueError
        With None, for a file of several bands that is not a picture: choose one.
    """
    if band is not None:
        return [band + 1]
    colours = tuple(colour.name for colour in source.colorinterp)
    picture = is_picture(colours, np.dtype(source.dtypes[0]))
    if source.count == 1 or (picture and source.count == 2):
        return [1]
    if picture:
        return list(range(1, source.count + 1))
    raise ValueError(f"{path!r} has {counted(source.count, 'band')}: choose one with band=")


def mask_bands(source, indexes: list[int]) -> list[int]:
    """The bands (1-based) of an open rasterio dataset whose masks mark no-data in bands
    ``indexes``: each one's own (a nodata value or mask band) and the alpha's (GDAL's
    mask of the other bands), which marks the alpha band itself too. Empty: no mask."""
    from rasterio.enums import MaskFlags

    flags = source.mask_flag_enums
    alpha = [index for index in range(1, source.count + 1) if MaskFlags.alpha in flags[index - 1]]
    own = {index for index in indexes if MaskFlags.all_valid not in flags[index - 1]}
    return sorted(own | set(alpha[:1]))


def band_scaling(source, indexes: list[int]) -> list[tuple[float, float]] | None:
    """(scale, offset) of bands ``indexes`` (1-based) of an open rasterio dataset; None
    where none of them is scaled or offset (:func:`sarfeat.raster.scaling_applies`),
    as :meth:`sarfeat.io.Raster.band` reads them."""
    scaling = list(zip(source.scales, source.offsets))
    chosen = [scaling[index - 1] for index in indexes]
    return chosen if scaling_applies(chosen) else None


def read_window(source, band: int | None, path: str, where,
                nodata: float | None) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """Window ``where`` of band ``band`` of an open rasterio dataset, as read_image reads it.

    Parameters
    ----------
    source : rasterio.DatasetReader
    band : int or None
        As :func:`read_bands` takes it.
    path : str
        The file, for messages.
    where : rasterio.windows.Window
    nodata : float or None
        A nodata value given for the file (``detect --nodata``).

    Returns
    -------
    pixels : (rows, cols) ndarray
        In the file's dtype (an RGB(A) picture's gray too); float, the physical values,
        where the file scales or offsets its bands (:func:`band_scaling`).
    valid : (rows, cols) ndarray of bool or None
        False where the file marks no-data (its nodata value, masks, alpha); None
        where it marks none.
    nodata : float or None
        The given ``nodata``, still to mark in ``pixels``; None where it is marked
        in ``valid`` already (in each band of a picture, as
        :func:`sarfeat.nodata_steps.mark_nodata` marks a file's bands, and in scaled
        bands: it is a stored value).
    """
    indexes = read_bands(source, band, path)
    window = source.read(indexes, window=where)
    masks = mask_bands(source, indexes)
    valid = None
    if masks:
        valid = np.logical_and.reduce([source.read_masks(index, window=where) > 0
                                       for index in masks])
        valid &= nodata_valid_mask(window, source.nodata).all(axis=0)
    scaling = band_scaling(source, indexes)
    if len(indexes) == 1 and scaling is None:
        return window[0], valid, nodata
    if nodata is not None and not np.isnan(nodata):
        given = nodata_valid_mask(window, nodata).all(axis=0)
        valid = given if valid is None else valid & given
    window = physical_values(window, scaling)
    if len(indexes) == 1:
        return window[0], valid, None
    return rgb_to_gray(np.moveaxis(window[:3], 0, -1)), valid, None
