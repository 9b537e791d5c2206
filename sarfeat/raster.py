"""A raster in memory: :class:`Raster`, its errors and checks, sarfeat's one RGB-to-gray rule.

Read by :mod:`sarfeat.raster_read`, written by :mod:`sarfeat.raster_write`, resampled by
:mod:`sarfeat.raster_warp`; :mod:`sarfeat.io` re-exports the public names of all four.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np

from .wording import counted

__all__ = [
    "Raster", "RasterError", "BandChoiceError", "check_path", "check_raster", "rasterio_or_none",
    "plain_tiff_quiet", "rgb_to_gray", "LUMA", "IMAGE_SUFFIXES", "TIFF_SUFFIXES",
    "GDAL_NODATA_TAG", "physical_values", "scaling_applies", "GeoreferencingWarning",
]

#: Rec. 709 luma, the weights of :func:`skimage.color.rgb2gray`: sarfeat's one RGB-to-gray rule.
LUMA = np.array([0.2125, 0.7154, 0.0721])
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg") + TIFF_SUFFIXES
#: GDAL's TIFF tag of a nodata value (a string), read and written without rasterio too.
GDAL_NODATA_TAG = 42113


class RasterError(ValueError):
    """A file cannot be read or written as asked; the message says why and what to do."""


class BandChoiceError(RasterError):
    """A raster of several bands was asked for its band with none chosen.

    Attributes
    ----------
    name : str
        The raster, as a message names it.
    count : int
        Its bands.
    shape : (int, int)
        The shape of one band.
    """

    def __init__(self, name: str, count: int, shape: tuple) -> None:
        self.name, self.count, self.shape = name, count, shape
        super().__init__(self.choose_with("--band") + " (band= in Python)")

    def __reduce__(self):  # pickled with its fields (Dask sends errors between processes)
        return type(self), (self.name, self.count, self.shape)

    def choose_with(self, option: str) -> str:
        """The message, naming ``option`` (a command's ``--fixed-band``, say) as the choice."""
        return (f"{self.name} has {counted(self.count, 'band')} of shape {self.shape}: choose "
                f"one with {option} 0..{self.count - 1}")


class GeoreferencingWarning(UserWarning):
    """A file's georeferencing is incomplete and sarfeat reads the file as not
    georeferenced: a CRS without a geotransform (nor GCPs or RPCs) places no pixel
    (:attr:`Raster.unused_crs`)."""


@dataclass
class Raster:
    """Every band of an image file, with its no-data and georeferencing.

    Each field is documented at its declaration (linkable as
    ``sarfeat.io.Raster.<name>``).
    """

    data: np.ndarray
    """(bands, H, W) ndarray: the pixel values in the file's dtype."""
    valid: np.ndarray
    """(bands, H, W) ndarray of bool: False on no-data (the file's nodata value, its mask
    band or alpha, NaN). A file's nodata value is read as GDAL reads it: a complex pixel
    whose real part equals it is no-data whatever its imaginary part, and so is a float
    within GDAL's relative tolerance of it (about 5e-7)."""
    nodata: float | None = None
    """float or None: the file's no-data value."""
    crs: object = None
    """rasterio.crs.CRS or None: the file's CRS where it has a geotransform, else None (the
    CRS of GCPs is in :attr:`gcps`; one that nothing places, :attr:`unused_crs`)."""
    transform: object = None
    """affine.Affine or None: geotransform (pixel corners) of the file, with or without a
    CRS, else None."""
    path: Path | None = None
    """Path or None: the file read."""
    picture: bool = False
    """bool: True for a PNG, JPEG or TIFF picture (with rasterio: by its colour
    interpretation), whose 2-4 bands are gray + alpha or RGB(A) colour channels, not
    separate measurements."""
    gcps: tuple | None = None
    """(list of rasterio.control.GroundControlPoint, rasterio.crs.CRS) or None: ground
    control points of a file georeferenced by them (a SAR image in its own geometry), else
    None. They are kept, not used for matching."""
    bands: tuple | None = None
    """tuple of (str or None, str) or None: each band's description and colour
    interpretation (a rasterio ``ColorInterp`` name) in a GeoTIFF read with rasterio,
    written back with the bands (an RGB(A) image stays RGB(A), a band named ``B4`` keeps
    its name), else None."""
    rpcs: object = None
    """rasterio.rpc.RPC or None: rational polynomial coefficients of a file georeferenced
    by them (an optical scene in its sensor geometry), kept as GCPs are: not used for
    matching, written with the pixels they describe."""
    scaling: tuple | None = None
    """tuple of (float, float, str or None) or None: each band's GDAL scale, offset and
    unit type (physical value = stored value * scale + offset, as ``gdalinfo`` shows them)
    in a GeoTIFF read with rasterio, when a band has other than scale 1, offset 0 and no
    unit; else None. :attr:`data` holds the stored values as they are (as GDAL reads
    them), written back with their scale, offset and unit; :meth:`band`, what detection
    and matching see, gives the physical values."""
    unused_crs: object = None
    """rasterio.crs.CRS or None: the CRS of a file that has no geotransform, GCPs or RPCs
    to place its pixels with (GDAL gives the identity geotransform): it places nothing, so
    the raster is not georeferenced (:attr:`crs` is None) and the CRS is not used for
    matching; kept to say so (the file is read with a :class:`GeoreferencingWarning`) and
    to write it back as it was, without a geotransform (a GeoTIFF of the raster, or of
    another resampled onto its grid: :func:`sarfeat.io.warp_onto`). Else None."""

    @property
    def georeferenced(self) -> bool:
        """True when the raster has a CRS and a geotransform."""
        return self.crs is not None and self.transform is not None

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of one band."""
        return tuple(self.data.shape[1:])

    @property
    def count(self) -> int:
        """Number of bands."""
        return self.data.shape[0]

    def without_bands(self) -> Raster:
        """This raster holding no band: its shape, georeferencing and metadata kept, in new
        empty arrays (a view of its pixels would keep them all)."""
        return replace(self, data=np.empty((0,) + self.data.shape[1:], self.data.dtype),
                       valid=np.empty((0,) + self.valid.shape[1:], bool))

    @property
    def scaled(self) -> bool:
        """Whether a band has a scale other than 1 or an offset other than 0
        (``scaling``), so that :meth:`band` gives other values than ``data``."""
        return scaling_applies(self.scaling)

    def band(self, index: int | None = None,
             window: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """One band, its no-data as NaN (a float copy only where there is no-data or scaling).

        Where the file gives the band a scale or offset (``scaling``), its
        physical values: stored value * scale + offset (float), as GDAL's unscaling
        gives them; no-data is what the stored values mark (before scaling).

        Parameters
        ----------
        index : int, optional
            0-based band, negative from the end (-1: the last); may be omitted
            for a single-band raster (an RGB(A) 8/16-bit image is then gray by
            :func:`rgb_to_gray`, no-data where a channel is).
        window : (int, int, int, int), optional
            (row0, row1, col0, col1), ends excluded: only that part of the band is
            converted and returned (a crop of a large raster costs the crop's memory,
            not the whole band's).
        """
        if index is not None and (isinstance(index, (bool, np.bool_))
                                  or not isinstance(index, numbers.Integral)):
            raise RasterError("band must be an integer index (0-based; a negative index "
                              f"counts from the end, -1 the last band) or None, got {index!r}")
        if index is None and not (self.picture and self.count in (3, 4)):
            if self.count != 1 and not (self.picture and self.count == 2):  # gray + alpha
                raise BandChoiceError(self._name(), self.count, self.shape)
            index = 0
        data, valid_bands = self.data, self.valid
        if window is not None:
            r0, r1, c0, c1 = window
            data, valid_bands = data[:, r0:r1, c0:c1], valid_bands[:, r0:r1, c0:c1]
        if index is None:  # colour: its gray values, no-data where a channel (or alpha) says
            channels = physical_values(data[:3], self._scaling_of(range(3)))
            values, valid = rgb_to_gray(np.moveaxis(channels, 0, -1)), valid_bands.all(0)
        elif not -self.count <= index < self.count:
            raise RasterError(f"band {index} is out of range: {self._name()} has "
                              f"{counted(self.count, 'band')} (0..{self.count - 1}, or "
                              f"-{self.count}..-1 from the end)")
        else:
            values = physical_values(data[index][None], self._scaling_of([index]))[0]
            valid = valid_bands[index]
        if valid.all():
            return values
        # float32 or wider; complex stays complex (an SLC keeps its phase); made in that
        # dtype (np.where with NaN would make a float64 copy of an integer band first)
        marked = values.astype(np.result_type(values.dtype, np.float32))
        marked[~valid] = np.nan
        return marked

    def _scaling_of(self, indexes) -> list | None:
        """(scale, offset) of bands ``indexes``; None where no band is scaled."""
        if not self.scaled or len(self.scaling) != self.count:
            return None
        return [self.scaling[index][:2] for index in indexes]

    def _name(self) -> str:
        return repr(str(self.path)) if self.path is not None else "the raster"


def scaling_applies(scaling: Sequence[Sequence[float]] | None) -> bool:
    """Whether ``scaling`` scales or offsets a band.

    Parameters
    ----------
    scaling : sequence of (scale, offset, ...), or None
        Per band.

    Returns
    -------
    bool
        True for a scale other than 1 or an offset other than 0.
    """
    return scaling is not None and any(band[0] != 1 or band[1] != 0 for band in scaling)


def physical_values(stored: np.ndarray, scaling: Sequence[Sequence[float]] | None
                    ) -> np.ndarray:
    """The physical values of ``stored`` bands: each band's stored value * scale + offset.

    NaN stays NaN: a band's no-data, marked on the stored values, is no-data scaled too.

    Parameters
    ----------
    stored : ndarray
        The bands, bands first.
    scaling : sequence of (scale, offset), or None
        Per band.

    Returns
    -------
    ndarray
        Float (float32, or float64 for 32/64-bit integers and float64; complex stays
        complex); ``stored`` itself where ``scaling`` scales and offsets nothing.

    Examples
    --------
    >>> physical_values(np.array([[0, 1000]], np.uint16), [(0.01, -50.0)])
    array([[-50., -40.]], dtype=float32)
    """
    if scaling is None or not scaling_applies(scaling):
        return stored
    dtype = np.result_type(stored.dtype, np.float32)
    out = stored.astype(dtype)  # a copy: the raster's data is never changed
    for band, (scale, offset) in zip(out, scaling):
        band *= dtype.type(scale)
        band += dtype.type(offset)
    return out


def check_path(path: object, name: str = "path") -> str | os.PathLike:
    """Return ``path`` after checking it is a str or os.PathLike, else raise TypeError.

    Parameters
    ----------
    path : object
        What was given as a path.
    name : str
        The argument's name, for the message.

    Returns
    -------
    str or os.PathLike
        ``path`` itself.
    """
    if not isinstance(path, (str, os.PathLike)):
        hint = (": an array needs no reading, pass it to sarfeat's functions as it is"
                if isinstance(path, np.ndarray) else "")
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}{hint}")
    return path


def check_raster(raster: object, name: str = "raster") -> None:
    """Raise TypeError unless ``raster`` is a :class:`~sarfeat.io.Raster`, saying how to make it.

    Parameters
    ----------
    raster : object
        The value checked: only a Raster passes.
    name : str
        Named in the TypeError.
    """
    if not isinstance(raster, Raster):
        raise TypeError(f"{name} must be a sarfeat.io.Raster (read_raster gives one; "
                        f"Raster(data[None], valid[None]) wraps a 2-D array), got "
                        f"{type(raster).__name__}")


def rasterio_or_none() -> ModuleType | None:
    """The rasterio module, or None when it is not installed (the ``geotiff`` extra).

    Returns
    -------
    module or None
    """
    try:
        import rasterio
    except ImportError:
        return None
    return rasterio


@contextlib.contextmanager
def plain_tiff_quiet(rasterio: ModuleType) -> Iterator[None]:
    """Silence rasterio's NotGeoreferencedWarning (a plain TIFF is expected), nothing else.

    Parameters
    ----------
    rasterio : module
        The rasterio module (:func:`rasterio_or_none`).

    Yields
    ------
    None
        Within the ``with`` block.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
        yield


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Gray image of an (H, W, 3) RGB array with the Rec. 709 luma weights.

    Integer inputs stay in their dtype (rounded), so that an 8-bit quick-look
    stays an 8-bit display image; float inputs give float32. An alpha channel
    ((H, W, 4)) is left out.

    Parameters
    ----------
    rgb : (H, W, 3) or (H, W, 4) ndarray
        The colour image.

    Returns
    -------
    (H, W) ndarray

    Raises
    ------
    ValueError
        For an array that is not (H, W, 3) or (H, W, 4) integers or floats (a
        gray (H, W) image was read as rows of colours).

    Examples
    --------
    >>> gray = rgb_to_gray(np.full((2, 2, 3), 200, np.uint8))
    >>> gray.shape, gray.dtype, int(gray[0, 0])  # NumPy 1 and 2 print these alike
    ((2, 2), dtype('uint8'), 200)
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4) or rgb.dtype.kind not in "iuf":
        raise ValueError(f"rgb must be an (H, W, 3) RGB or (H, W, 4) RGBA array of numbers, "
                         f"got shape {rgb.shape} of dtype {rgb.dtype}")
    gray = rgb[..., :3].astype(np.float64) @ LUMA
    if np.issubdtype(rgb.dtype, np.integer):
        info = np.iinfo(rgb.dtype)
        return np.clip(np.rint(gray), info.min, info.max).astype(rgb.dtype)
    return gray.astype(np.float32)

