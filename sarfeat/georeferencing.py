"""Georeferencing of rasters: map coordinates of pixels, and two rasters on one grid.

Re-exported by :mod:`sarfeat.io` (``io.pixel_map`` and so on). Pixel
convention as there: (x, y) = (col, row), integer at pixel centres; a
geotransform addresses pixel corners, so pixel (x, y) lies at
``transform * (x + 0.5, y + 0.5)``. Everything here needs rasters with a
geotransform; a CRS change needs rasterio (the ``geotiff`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from rasterio.crs import CRS

__all__ = ["RasterLike", "centre_distance", "footprint_window", "georeferenced_pixels",
           "grid_difference", "map_coordinates", "pixel_map", "reproject_band"]

#: Fixed pixels within which a footprint's edge is taken to lie on a pixel edge (the rounding
#: of map coordinates through two geotransforms, far above float error, far below a pixel).
_ON_EDGE = 1e-6


class RasterLike(Protocol):
    """What these functions read of a :class:`sarfeat.io.Raster` (which imports this module,
    so that it cannot be imported here)."""

    crs: object
    transform: object

    @property
    def shape(self) -> tuple[int, int]: ...

    def band(self, index: int | None = None) -> np.ndarray: ...


def map_coordinates(raster: RasterLike, xy: ArrayLike, crs: CRS | str | None = None
                    ) -> np.ndarray:
    """Map coordinates of pixel centres of a georeferenced raster.

    Parameters
    ----------
    raster : Raster
        A raster with a geotransform.
    xy : (N, 2) array_like
        Pixel centres (col, row).
    crs : rasterio.crs.CRS or str, optional
        The CRS of the result (rasterio needed when it is another); None: the raster's.

    Returns
    -------
    (N, 2) ndarray
        (east, north).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    t = raster.transform
    east = t.a * (xy[:, 0] + 0.5) + t.b * (xy[:, 1] + 0.5) + t.c
    north = t.d * (xy[:, 0] + 0.5) + t.e * (xy[:, 1] + 0.5) + t.f
    if crs is not None and crs != raster.crs:
        from rasterio.warp import transform as transform_points

        east, north = (np.asarray(v) for v in transform_points(raster.crs, crs, east, north))
    return np.column_stack([east, north])


def centre_distance(fixed: RasterLike, moving: RasterLike) -> tuple[float, str]:
    """How far apart the centres of two georeferenced rasters are, in ``fixed``'s CRS.

    Parameters
    ----------
    fixed, moving : Raster
        Rasters with a geotransform.

    Returns
    -------
    distance : float
    units : str
        The CRS's linear units when it is projected, else ``'degrees'``.
    """
    centre_fixed = map_coordinates(fixed, [[(fixed.shape[1] - 1) / 2, (fixed.shape[0] - 1) / 2]])
    centre_moving = map_coordinates(moving, [[(moving.shape[1] - 1) / 2,
                                              (moving.shape[0] - 1) / 2]], fixed.crs)
    distance = float(np.hypot(*(centre_moving - centre_fixed)[0]))
    units = fixed.crs.linear_units if fixed.crs.is_projected else "degrees"
    return distance, units


def _to_pixels(raster: RasterLike, east: np.ndarray, north: np.ndarray) -> np.ndarray:
    inverse = ~raster.transform
    cols = inverse.a * east + inverse.b * north + inverse.c - 0.5
    rows = inverse.d * east + inverse.e * north + inverse.f - 0.5
    return np.column_stack([cols, rows])


def georeferenced_pixels(fixed: RasterLike, moving: RasterLike, xy: np.ndarray) -> np.ndarray:
    """Where the georeferencing puts pixels ``xy`` of ``fixed`` in ``moving``: the exact map,
    across CRSs too.

    Parameters
    ----------
    fixed, moving : Raster
        Rasters with a geotransform.
    xy : (N, 2) ndarray
        Pixel (x, y) of ``fixed``.

    Returns
    -------
    (N, 2) ndarray
        Pixel (x, y) of ``moving``.
    """
    mapped = map_coordinates(fixed, xy, moving.crs)
    return _to_pixels(moving, mapped[:, 0], mapped[:, 1])


def pixel_map(fixed: RasterLike, moving: RasterLike, samples: int = 11,
              window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The 3x3 affine matrix mapping fixed pixels (x, y) to moving pixels by georeferencing.

    Exact for two rasters in one CRS; across CRSs, a least-squares fit over a
    ``samples`` x ``samples`` grid of the fixed image: within a pixel over a 20 km
    scene, but up to 24 px off over a 110 km Sentinel-2 tile (10 m) against an
    EPSG:4326 scene, which :func:`sarfeat.io.warp_onto_curved` fits block by block.

    Parameters
    ----------
    fixed, moving : Raster
        Rasters with a geotransform.
    samples : int
        Grid points a side of the fit across CRSs.
    window : (int, int, int, int), optional
        (row0, row1, col0, col1), ends excluded: the fit over that part of ``fixed``,
        from the window's own pixels (its corner is (0, 0)).

    Returns
    -------
    (3, 3) ndarray
    """
    row0, row1, col0, col1 = window or (0, fixed.shape[0], 0, fixed.shape[1])
    rows, cols = row1 - row0, col1 - col0
    # the grid spans at least one pixel each way: on a raster of one row (or column) it would
    # otherwise leave the row (column) coefficients undetermined, and the map singular
    grid = np.stack(np.meshgrid(np.linspace(0, max(cols - 1, 1), samples),
                                np.linspace(0, max(rows - 1, 1), samples)), -1).reshape(-1, 2)
    target = georeferenced_pixels(fixed, moving, grid + (col0, row0))
    design = np.column_stack([grid, np.ones(len(grid))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return np.vstack([solution.T, [0.0, 0.0, 1.0]])


def reproject_band(moving: RasterLike, band: int | None, fixed: RasterLike) -> np.ndarray:
    """One band of ``moving`` resampled onto ``fixed``'s grid (rasterio.warp), NaN outside.

    Parameters
    ----------
    moving : Raster
        The raster to resample.
    band : int or None
        Its band (:meth:`sarfeat.io.Raster.band`).
    fixed : Raster
        The raster whose grid it is brought onto.

    Returns
    -------
    ndarray
        float32 of ``fixed``'s shape; the amplitude of a complex band (the band that is
        matched).
    """
    from rasterio.warp import Resampling, reproject

    values = moving.band(band)
    values = (np.abs(values) if np.iscomplexobj(values) else values).astype(np.float32)
    out = np.full(fixed.shape, np.nan, np.float32)
    reproject(values, out, src_transform=moving.transform, src_crs=moving.crs,
              src_nodata=np.nan, dst_transform=fixed.transform, dst_crs=fixed.crs,
              dst_nodata=np.nan, resampling=Resampling.bilinear)
    return out


def footprint_window(fixed: RasterLike, moving: RasterLike, margin: int = 0
                     ) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1) of ``fixed`` that ``moving``'s footprint covers, or None.

    The footprint is the moving image's outline (its edges sampled, in the fixed CRS),
    widened by ``margin`` fixed pixels and clipped to the fixed image.

    Parameters
    ----------
    fixed, moving : Raster
        Rasters with a geotransform.
    margin : int
        Fixed pixels added around the footprint.

    Returns
    -------
    tuple of int or None
        None when the footprints do not overlap.
    """
    rows, cols = moving.shape
    edge, low, high = np.linspace(0, 1, 33), np.zeros(33), np.ones(33)
    outline = np.column_stack([np.concatenate([edge, edge, low, high]) * cols,  # pixel corners
                               np.concatenate([low, high, edge, edge]) * rows]) - 0.5
    mapped = map_coordinates(moving, outline, fixed.crs)
    xy = _to_pixels(fixed, mapped[:, 0], mapped[:, 1])
    if not np.all(np.isfinite(xy)):
        return 0, fixed.shape[0], 0, fixed.shape[1]
    # pixel edges (corner coordinates) of the outline's extent; an edge within rounding of
    # a fixed pixel's edge is on it (a moving grid that is a crop of the fixed one gets that
    # crop, not a row or column more that would have it resampled)
    low, high = xy.min(axis=0) + 0.5 + _ON_EDGE, xy.max(axis=0) + 0.5 - _ON_EDGE
    r0 = int(max(0, np.floor(low[1]) - margin))
    r1 = int(min(fixed.shape[0], np.ceil(high[1]) + margin))
    c0 = int(max(0, np.floor(low[0]) - margin))
    c1 = int(min(fixed.shape[1], np.ceil(high[0]) + margin))
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, r1, c0, c1


def _pixel_size(raster: RasterLike) -> str:
    """A raster's pixel width x height, in its CRS's units."""
    t, crs = raster.transform, raster.crs
    units = "degrees" if crs.is_geographic else (crs.linear_units or "units")
    units = {"metre": "m", "meter": "m"}.get(units, units)
    return f"{np.hypot(t.a, t.d):.4g} x {np.hypot(t.b, t.e):.4g} {units}"


def grid_difference(fixed: RasterLike, moving: RasterLike, to_moving: np.ndarray) -> str:
    """How ``moving``'s grid differs from ``fixed``'s, in words.

    Parameters
    ----------
    fixed, moving : Raster
        Rasters with a geotransform.
    to_moving : (3, 3) ndarray
        Fixed pixels -> moving pixels.

    Returns
    -------
    str
        Its CRS, else its pixel size, else its offset.
    """
    if moving.crs != fixed.crs:
        return (f"its CRS is {_crs_name(moving.crs)}, pixels {_pixel_size(moving)}; the "
                f"fixed {_crs_name(fixed.crs)}, pixels {_pixel_size(fixed)}")
    if not np.allclose(to_moving[:2, :2], np.eye(2), rtol=0, atol=1e-6):
        return f"its pixels are {_pixel_size(moving)}, the fixed {_pixel_size(fixed)}"
    offset = -np.asarray(to_moving, float)[:2, 2]  # where moving pixel (0, 0) lies, in fixed
    return f"its grid is offset by ({offset[0]:.4g}, {offset[1]:.4g}) fixed pixels (x, y)"


def _crs_name(crs) -> str:
    """An EPSG code where the CRS has one, else its name (never a whole WKT)."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else repr(getattr(crs, "name", None) or "custom")
