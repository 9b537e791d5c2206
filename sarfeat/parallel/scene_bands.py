"""What a scene GeoTIFF's windows are, from its header: the bands read, the masks, the dtype.

:func:`sarfeat.parallel.detect_tiled` reads a GeoTIFF by windows on its workers
(:func:`sarfeat.io.read_band_window`), so that it detects on the pixels that
``sarfeat detect`` reads from the same file (:func:`sarfeat.io.read_raster`, then
:meth:`~sarfeat.raster.Raster.band`). The client tells from the file's header what
its windows hold, before any is read:

- with no band chosen, a single band is read; a gray + alpha picture gives its
  gray band, an RGB(A) picture its gray values (:func:`sarfeat.io.rgb_to_gray`),
  no-data where any band is; any other file of several bands asks for a band
  (:func:`read_bands`);
- a band's no-data is its nodata value and mask band, and GDAL's alpha: where
  an 8- or 16-bit alpha band is 0, every band is no-data, the alpha band itself
  included (:func:`mask_bands`); where a file can mark no-data, every window is
  read as float, NaN for it;
- a band that the file gives a scale or offset (GDAL metadata) is read as its
  physical values, stored value * scale + offset (:func:`band_scaling`), its
  no-data marked on the stored values.
"""

from __future__ import annotations

import numpy as np

from ..raster import scaling_applies
from ..raster_read import is_picture
from ..wording import counted

__all__ = ["read_bands", "mask_bands", "band_scaling"]


def read_bands(source, band: int | None, path: str) -> list[int]:
    """The bands (1-based) of an open rasterio dataset read for its band ``band``.

    ``band`` itself (0-based); with None, the single band, a gray + alpha picture's
    gray band, or every band of an RGB(A) picture (its gray values).

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
