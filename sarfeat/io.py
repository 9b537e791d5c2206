"""Read and write images and rasters: one reader, one RGB-to-gray rule, georeferencing kept.

:func:`read_raster` reads every band of a file with its no-data mask and, for a
GeoTIFF, its CRS and geotransform (with rasterio, the ``geotiff`` extra).
:func:`read_raster_header` and :func:`read_raster_window` read a GeoTIFF's
header, then a part of some of its bands. :func:`read_image` reads one gray band for
detection. :func:`write_raster` writes an array (GeoTIFF tiled and deflate-compressed,
``.npy``, PNG or JPEG) through a temporary file that is renamed only once it is complete.
:func:`warp_raster` and :func:`warp_onto` resample every band with one transform
(:func:`warp_bands`: as floats, a picture's colour weighted by its alpha;
:func:`warp_colour`: an RGB(A) array so); :func:`warp_onto_windows` makes the
result a window at a time, which :func:`write_raster_windows` writes a strip at a time.

Georeferencing is never dropped silently: a GeoTIFF that carries georeferencing
tags cannot be read without rasterio (:class:`RasterError` names the extra),
a georeferenced array cannot be written without it, and a file whose CRS places
nothing (no geotransform, GCPs or RPCs) is read as not georeferenced with a
:class:`GeoreferencingWarning` (:attr:`Raster.unused_crs`), and written back so, its
CRS without a geotransform (as is what :func:`warp_onto` puts on its grid).

Pixel convention: (x, y) = (col, row) with integer coordinates at pixel
centres, as in scikit-image; rasterio's geotransforms address pixel corners, so
pixel (x, y) lies at ``transform * (x + 0.5, y + 0.5)``.

The names live in modules by concern, all re-exported here: :mod:`sarfeat.raster`
(the :class:`Raster`, its errors and checks, the gray rule), :mod:`sarfeat.raster_read`,
:mod:`sarfeat.raster_write` (a GeoTIFF's creation options and overviews:
:mod:`sarfeat.geotiff_options`), :mod:`sarfeat.raster_warp`, :mod:`sarfeat.atomic_files`
and :mod:`sarfeat.georeferencing`.
"""

from __future__ import annotations

from .atomic_files import (TEMPORARY_MARK, WriteError, atomic_path, default_file_mode,
                           remove_stale_temporaries, written_together)
from .geotiff_options import (OVERVIEW_RESAMPLINGS, check_creation_options,
                              geotiff_creation_options, overview_factors)
from .georeferencing import (footprint_window, grid_difference, map_coordinates, pixel_map,
                             reproject_band)
from .raster import (
    IMAGE_SUFFIXES, TIFF_SUFFIXES, BandChoiceError, GeoreferencingWarning, Raster, RasterError,
    check_path, check_raster, rasterio_or_none, rgb_to_gray,
)
from .raster import LUMA  # noqa: F401 - io.LUMA as before, the weights of rgb_to_gray
from .raster_read import (band_count_view, band_has_valid_pixel, bands_first,
                          read_band_window, read_image, read_raster, read_raster_header,
                          read_raster_window)
from .raster_warp import (WarpedWindows, warp_band_onto_curved, warp_bands, warp_colour,
                          warp_onto, warp_onto_curved, warp_onto_curved_windows,
                          warp_onto_windows, warp_raster)
from .raster_write import write_raster, write_raster_windows, written_dtype

__all__ = [
    "Raster", "RasterError", "BandChoiceError", "GeoreferencingWarning", "read_raster",
    "read_image", "rgb_to_gray",
    "write_raster", "atomic_path", "rasterio_or_none", "pixel_map", "reproject_band",
    "map_coordinates", "warp_raster", "footprint_window", "remove_stale_temporaries",
    "IMAGE_SUFFIXES", "TIFF_SUFFIXES", "TEMPORARY_MARK", "bands_first", "default_file_mode",
    "written_dtype", "warp_onto", "check_path", "check_raster", "check_creation_options",
    "geotiff_creation_options", "overview_factors", "OVERVIEW_RESAMPLINGS", "warp_bands",
    "warp_colour", "written_together", "grid_difference", "WriteError", "warp_onto_curved",
    "read_raster_header", "read_raster_window", "read_band_window", "band_has_valid_pixel",
    "band_count_view",
    "WarpedWindows", "warp_onto_windows", "warp_onto_curved_windows", "write_raster_windows",
    "warp_band_onto_curved",
]
