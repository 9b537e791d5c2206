"""Read and write images and rasters: one reader, one RGB-to-gray rule, georeferencing kept.

:func:`read_raster` reads every band of a file with its no-data mask and, for a
GeoTIFF, its CRS and geotransform (with rasterio, the ``geotiff`` extra).
:func:`read_image` reads one gray band for detection. :func:`write_raster`
writes an array (GeoTIFF tiled and deflate-compressed, ``.npy``, PNG or JPEG)
through a temporary file that is renamed only once it is complete.

Georeferencing is never dropped silently: a GeoTIFF that carries georeferencing
tags cannot be read without rasterio (:class:`RasterError` names the extra),
and a georeferenced array cannot be written without it.

Pixel convention: (x, y) = (col, row) with integer coordinates at pixel
centres, as in scikit-image; rasterio's geotransforms address pixel corners, so
pixel (x, y) lies at ``transform * (x + 0.5, y + 0.5)``.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import stat
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .atomic_files import TEMPORARY_MARK, atomic_path, default_file_mode, remove_stale_temporaries
from .geometry import check_order, check_warp_target, warp
from .georeferencing import footprint_window, map_coordinates, pixel_map, reproject_band
from .nodata_steps import alpha_index, nodata_valid_mask, off_nodata
from .preprocess import normalize_sar, valid_mask

__all__ = [
    "Raster", "RasterError", "BandChoiceError", "read_raster", "read_image", "rgb_to_gray", "write_raster",
    "atomic_path", "rasterio_or_none", "pixel_map", "reproject_band", "map_coordinates",
    "warp_raster", "footprint_window", "remove_stale_temporaries", "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES", "TEMPORARY_MARK", "bands_first", "default_file_mode", "written_dtype",
    "warp_onto", "check_path", "check_raster",
]

#: Rec. 709 luma, the weights of :func:`skimage.color.rgb2gray`: sarfeat's one RGB-to-gray rule.
LUMA = np.array([0.2125, 0.7154, 0.0721])
TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg") + TIFF_SUFFIXES
#: TIFF tags that carry georeferencing (GeoTIFF and GDAL's own).
_GEO_TAGS = {33550: "ModelPixelScale", 33922: "ModelTiepoint", 34264: "ModelTransformation",
             34735: "GeoKeyDirectory"}
_GDAL_NODATA_TAG = 42113
_PICTURE_BANDS = (("gray", "alpha"), ("red", "green", "blue"), ("red", "green", "blue", "alpha"))
_BLOCK = 256


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
        return (f"{self.name} has {self.count} bands of shape {self.shape}: choose one with "
                f"{option} 0..{self.count - 1}")


@dataclass
class Raster:
    """Every band of an image file, with its no-data and georeferencing.

    Attributes
    ----------
    data : (bands, H, W) ndarray
        The pixel values in the file's dtype.
    valid : (bands, H, W) ndarray of bool
        False on no-data (the file's nodata value, its mask band or alpha, NaN). A
        file's nodata value is read as GDAL reads it: a complex pixel whose real
        part equals it is no-data whatever its imaginary part, and so is a float
        within GDAL's relative tolerance of it (about 5e-7).
    nodata : float or None
        The file's no-data value.
    crs : rasterio.crs.CRS or None
    transform : affine.Affine or None
        Geotransform (pixel corners) of the file, with or without a CRS, else None.
    path : Path or None
    picture : bool
        True for a PNG, JPEG or TIFF picture (with rasterio: by its colour interpretation),
        whose 2-4 bands are gray + alpha or RGB(A) colour channels, not separate measurements.
    gcps : (list of rasterio.control.GroundControlPoint, rasterio.crs.CRS) or None
        Ground control points of a file georeferenced by them (a SAR image in
        its own geometry), else None. They are kept, not used for matching.
    bands : tuple of (str or None, str) or None
        Each band's description and colour interpretation (a rasterio
        ``ColorInterp`` name) in a GeoTIFF read with rasterio, written back
        with the bands (an RGB(A) image stays RGB(A), a band named ``B4`` keeps
        its name), else None.
    """

    data: np.ndarray
    valid: np.ndarray
    nodata: float | None = None
    crs: object = None
    transform: object = None
    path: Path | None = None
    picture: bool = False
    gcps: tuple | None = None
    bands: tuple | None = None

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

    def band(self, index: int | None = None) -> np.ndarray:
        """One band, its no-data as NaN (a float copy only where there is no-data).

        Parameters
        ----------
        index : int, optional
            0-based band, negative from the end (-1: the last); may be omitted
            for a single-band raster (an RGB(A) 8/16-bit image is then gray by
            :func:`rgb_to_gray`, no-data where a channel is).
        """
        if index is not None and (isinstance(index, (bool, np.bool_))
                                  or not isinstance(index, numbers.Integral)):
            raise RasterError("band must be an integer index (0-based; a negative index "
                              f"counts from the end, -1 the last band) or None, got {index!r}")
        if index is None and not (self.picture and self.count in (3, 4)):
            if self.count != 1 and not (self.picture and self.count == 2):  # gray + alpha
                raise BandChoiceError(self._name(), self.count, self.shape)
            index = 0
        if index is None:  # colour: its gray values, no-data where a channel (or alpha) says
            values, valid = rgb_to_gray(np.moveaxis(self.data[:3], 0, -1)), self.valid.all(0)
        elif not -self.count <= index < self.count:
            raise RasterError(f"band {index} is out of range: {self._name()} has "
                              f"{self.count} bands (0..{self.count - 1}, or "
                              f"-{self.count}..-1 from the end)")
        else:
            values, valid = self.data[index], self.valid[index]
        if valid.all():
            return values
        # float32 or wider; complex stays complex (an SLC keeps its phase)
        return np.where(valid, values, np.nan).astype(np.result_type(values.dtype, np.float32))

    def _name(self) -> str:
        return repr(str(self.path)) if self.path is not None else "the raster"


def check_path(path, name: str = "path") -> str | os.PathLike:
    """Return ``path`` after checking it is a str or os.PathLike, else raise TypeError."""
    if not isinstance(path, (str, os.PathLike)):
        hint = (": an array needs no reading, pass it to sarfeat's functions as it is"
                if isinstance(path, np.ndarray) else "")
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}{hint}")
    return path


def check_raster(raster, name: str = "raster") -> None:
    """Raise TypeError unless ``raster`` is a :class:`Raster`, saying how to make one."""
    if not isinstance(raster, Raster):
        raise TypeError(f"{name} must be a sarfeat.io.Raster (read_raster gives one; "
                        f"Raster(data[None], valid[None]) wraps a 2-D array), got "
                        f"{type(raster).__name__}")


def rasterio_or_none():
    """The rasterio module, or None when it is not installed (the ``geotiff`` extra)."""
    try:
        import rasterio
    except ImportError:
        return None
    return rasterio


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Gray image of an (H, W, 3) RGB array with the Rec. 709 luma weights.

    Integer inputs stay in their dtype (rounded), so that an 8-bit quick-look
    stays an 8-bit display image; float inputs give float32. An alpha channel
    ((H, W, 4)) is left out.

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


def read_raster(path: str | os.PathLike) -> Raster:
    """Read every band of an image file with its no-data mask and georeferencing.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy`` (2-D, or 3-D (rows, cols, bands)), PNG, JPEG or TIFF/GeoTIFF.

    Returns
    -------
    Raster

    Raises
    ------
    RasterError
        For a missing or unreadable file, an unsupported suffix, or a
        georeferenced TIFF without rasterio installed.
    TypeError
        For a ``path`` that is not a str or os.PathLike (an array needs no reading).
    """
    path = Path(check_path(path))
    _check_regular_file(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise RasterError(f"unsupported file type {suffix or '(none)'!r} of {str(path)!r}: "
                          "use " + ", ".join(IMAGE_SUFFIXES))
    if suffix in TIFF_SUFFIXES and rasterio_or_none() is not None:
        return _read_rasterio(path)
    try:
        if suffix == ".npy":
            array, nodata = np.load(path, allow_pickle=False), None
        elif suffix in TIFF_SUFFIXES:
            array, nodata = _read_tiff(path)
        else:
            from skimage.io import imread

            array, nodata = np.asarray(imread(path)), None
    except RasterError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise RasterError(f"cannot read {str(path)!r}: {error}") from None
    if array.ndim not in (2, 3) or array.size == 0:
        raise RasterError(f"{str(path)!r} has shape {array.shape}: expected a 2-D image or a "
                          "3-D (rows, cols, bands) array")
    data = array[None] if array.ndim == 2 else np.moveaxis(_bands_last(array), -1, 0)
    valid = nodata_valid_mask(data, nodata)
    picture = suffix != ".npy" and data.shape[0] in (2, 3, 4) \
        and np.issubdtype(data.dtype, np.integer)
    if picture and data.shape[0] in (2, 4):
        valid &= data[-1:] > 0  # alpha
    return Raster(np.ascontiguousarray(data), valid, nodata, path=path, picture=picture)


def _check_regular_file(path: Path) -> None:
    """Refuse a path that is missing, or that is not a regular file, with what it is."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise RasterError(f"input file {str(path)!r} does not exist") from None
    except OSError as error:
        raise RasterError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if
                stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise RasterError(f"input {str(path)!r} is {kind}, not an image file: sarfeat reads "
                          "files it can seek in; copy the data to a file first")


def bands_first(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` is planar (bands, rows, cols): 3-D, its first axis the
    shortest and at most 16 long, its last longer than 16 (a (3, H, W) array is 3 bands)."""
    return len(shape) == 3 and shape[0] <= 16 and shape[0] < min(shape[1:]) and shape[-1] > 16


def _bands_last(array: np.ndarray) -> np.ndarray:
    """A 3-D array as (rows, cols, bands): a planar one (:func:`bands_first`) is moved."""
    return np.moveaxis(array, 0, -1) if bands_first(array.shape) else array


def _read_tiff(path: Path):
    """A plain TIFF without rasterio; refused when it carries georeferencing."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        tags = tiff.pages[0].tags
        geo = [name for code, name in _GEO_TAGS.items() if code in tags]
        if geo:
            raise RasterError(
                f"{str(path)!r} is a georeferenced GeoTIFF ({', '.join(geo)}), but rasterio is "
                "not installed: install the geotiff extra (pip install 'sarfeat[geotiff]') so "
                "that its georeferencing and no-data are kept"
            )
        nodata = tags.get(_GDAL_NODATA_TAG)
        array = tiff.asarray()
    if nodata is not None:
        nodata = float(str(nodata.value).strip("\x00 "))
    return array, nodata


def _read_rasterio(path: Path) -> Raster:
    rasterio = rasterio_or_none()
    try:
        with _plain_tiff_quiet(rasterio), rasterio.open(path) as source:
            data = source.read()
            masks = source.read_masks() > 0
            nodata, crs, transform = source.nodata, source.crs, source.transform
            points, points_crs = source.gcps
            colours = tuple(colour.name for colour in source.colorinterp)  # RGB(A): a picture
            bands = tuple(zip(source.descriptions, colours))
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise RasterError(f"cannot read {str(path)!r}: {error}") from None
    valid = masks & nodata_valid_mask(data, nodata)
    placed = not transform.is_identity  # a geotransform, with or without a CRS
    picture = colours in _PICTURE_BANDS and np.issubdtype(data.dtype, np.integer)
    return Raster(data, valid, nodata, crs if placed else None, transform if placed else None,
                  path, picture=picture, gcps=(list(points), points_crs) if points else None,
                  bands=bands)


@contextlib.contextmanager
def _plain_tiff_quiet(rasterio):
    """Silence rasterio's NotGeoreferencedWarning (a plain TIFF is expected), nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
        yield


def read_image(path: str | os.PathLike, band: int | None = None) -> np.ndarray:
    """Read one gray band of an image file for detection, no-data as NaN.

    Parameters
    ----------
    path : str or os.PathLike
        ``.npy``, PNG, JPEG or TIFF/GeoTIFF. RGB(A) 8/16-bit images are
        reduced to gray (:func:`rgb_to_gray`, keeping the integer dtype).
    band : int, optional
        0-based band of a multi-band file, negative from the end (-1: the
        last); required unless RGB(A).

    Returns
    -------
    image : (H, W) ndarray
        In the file's dtype, or float with NaN where the file marks no-data.

    Raises
    ------
    RasterError
        As :func:`read_raster`, or for a missing or out-of-range band.
    """
    return read_raster(path).band(band)


# -- writing ---------------------------------------------------------------------------------


def write_raster(path: str | os.PathLike, raster: Raster, *, display_kind: str = "auto") -> str:
    """Write ``raster`` to ``path`` atomically, by the suffix; return a note on the format.

    ``.tif``: GeoTIFF tiled (256 x 256) and deflate-compressed, with the
    raster's dtype, nodata, CRS and geotransform or GCPs, band descriptions and
    colour interpretation (rasterio; without it, a
    plain TIFF, refused for a georeferenced raster). ``.npy``: (H, W) or
    (H, W, bands), no-data as stored. ``.png``/``.jpg``: 8-bit display image
    of the first band (0 on no-data; a uint16 band stays 16-bit in a PNG).
    """
    path = Path(check_path(path))
    check_raster(raster)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise RasterError(f"unsupported output type {suffix or '(none)'!r}: use "
                          + ", ".join(IMAGE_SUFFIXES))
    with atomic_path(path) as temporary:
        if suffix == ".npy":
            data = raster.data[0] if raster.count == 1 else np.moveaxis(raster.data, 0, -1)
            with open(temporary, "wb") as stream:
                np.save(stream, data)
            return f".npy {raster.data.dtype}"
        if suffix in TIFF_SUFFIXES:
            return _write_tiff(temporary, raster)
        from skimage.io import imsave

        shown = _display(raster, display_kind, written_dtype(raster, path))
        imsave(temporary, shown, check_contrast=False)
        return f"{suffix[1:].upper()} {shown.dtype} display image, 0 on no-data"


def written_dtype(raster: Raster, path: str | os.PathLike) -> np.dtype:
    """The dtype in which :func:`write_raster` stores ``raster`` at ``path`` (by its suffix):
    ``.npy``, the raster's; TIFF, float16 as float32 (GDAL before 3.11 has no float16);
    PNG/JPEG display image, uint16 for uint16 data in a PNG, else uint8."""
    suffix, dtype = Path(path).suffix.lower(), raster.data.dtype
    if suffix == ".npy" or suffix in TIFF_SUFFIXES:
        return np.dtype(np.float32) if dtype == np.float16 and suffix != ".npy" else dtype
    return np.dtype(np.uint16 if dtype == np.uint16 and suffix == ".png" else np.uint8)


def _write_tiff(path: Path, raster: Raster) -> str:
    rasterio = rasterio_or_none()
    data = raster.data.astype(written_dtype(raster, path), copy=False)
    if rasterio is None:
        if raster.transform is not None or raster.gcps:
            raise RasterError("writing a georeferenced GeoTIFF needs rasterio: install the "
                              "geotiff extra (pip install 'sarfeat[geotiff]')")
        import tifffile

        tile = (_BLOCK, _BLOCK) if min(raster.shape) >= _BLOCK else None
        nodata = raster.nodata  # GDAL's tag, as _read_tiff reads it
        text = None if nodata is None else str(int(nodata)) if float(nodata).is_integer() \
            else repr(float(nodata))
        tifffile.imwrite(path, data if raster.count > 1 else data[0], tile=tile,
                         compression="zlib", planarconfig="separate" if raster.count > 1 else None,
                         extratags=[] if text is None else [(_GDAL_NODATA_TAG, "s", 0, text, True)])
        return f"TIFF {data.dtype}, nodata {nodata}, not georeferenced"
    # deflate's predictor: floating point for floats, differencing for integers, none for complex
    predictor = {"f": 3, "c": 1}.get(data.dtype.kind, 2)
    profile = dict(driver="GTiff", height=raster.shape[0], width=raster.shape[1],
                   count=raster.count, dtype=data.dtype.name, nodata=raster.nodata,
                   compress="deflate", predictor=predictor)
    if min(raster.shape) >= _BLOCK:
        profile.update(tiled=True, blockxsize=_BLOCK, blockysize=_BLOCK)
    if raster.transform is not None:  # a geotransform without a CRS is kept too
        profile.update(crs=raster.crs, transform=raster.transform)
    if raster.picture and raster.count == 3:  # read back as the colour picture it is
        profile.update(photometric="RGB")
    with _plain_tiff_quiet(rasterio), rasterio.open(path, "w", **profile) as target:
        target.write(data)
        if raster.gcps and not raster.georeferenced:
            target.gcps = raster.gcps
        if raster.bands is not None and len(raster.bands) == raster.count:
            target.descriptions = tuple(text for text, _ in raster.bands)
            target.colorinterp = [rasterio.enums.ColorInterp[name] for _, name in raster.bands]
    where = "georeferenced" if raster.georeferenced else \
        f"georeferenced by {len(raster.gcps[0])} GCPs" if raster.gcps else \
        "geotransform without CRS" if raster.transform is not None else "not georeferenced"
    return f"GeoTIFF {data.dtype}, {raster.count} band(s), nodata {raster.nodata}, {where}, " \
           "tiled, deflate"


def _display(raster: Raster, input_kind: str, dtype: np.dtype) -> np.ndarray:
    """The ``dtype`` (uint8 or uint16) display image of the first band (no-data -> 0)."""
    values, valid = raster.data[0], raster.valid[0]
    if values.dtype == dtype:  # already a display image of this depth
        return np.where(valid, values, 0).astype(values.dtype)
    if not valid.any():
        return np.zeros(values.shape, np.uint8)
    values = np.abs(values) if np.iscomplexobj(values) else values
    shown = normalize_sar(np.where(valid, values, np.nan).astype(np.float32), input_kind).image
    return np.where(valid, np.rint(255 * shown), 0).astype(np.uint8)


# -- georeferencing --------------------------------------------------------------------------


def warp_raster(raster: Raster, inverse_map: np.ndarray, shape: tuple[int, int], *,
                order: int = 1) -> Raster:
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

    Returns
    -------
    Raster
        Same dtype and nodata as ``raster`` (an integer raster without a
        nodata value gets its dtype's minimum as nodata; a float or complex one
        NaN; a bool one keeps its own, False outside, no-data in ``valid``).
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
        integer picture whose alpha band marks its no-data keeps no nodata value
        (it would shadow the alpha): its alpha is the dtype's maximum where every
        band is valid, 0 elsewhere, as its other bands. No georeferencing, GCPs
        included (the caller sets the output grid's).

    Raises
    ------
    ValueError
        For an ``order`` that is not an integer 0-5 (even for a raster without
        bands); for a bool raster with ``order`` other than 0: a mask has no values between
        False and True to interpolate; for an ``inverse_map`` that is not a finite,
        invertible 3x3 matrix or a ``shape`` that is not two integers >= 1 (even for
        a raster without bands).
    """
    check_raster(raster)
    inverse_map, shape = check_warp_target(inverse_map, shape)
    check_order(order)  # before any band is warped (and for a raster without bands)
    dtype, nodata = raster.data.dtype, raster.nodata
    if dtype == bool and order != 0:
        raise ValueError(f"a bool raster (a mask) is resampled by nearest neighbour: order=0, "
                         f"not order={order} (or give it as numbers to interpolate them)")
    alpha = alpha_index(raster.bands, dtype, nodata)
    if nodata is None and dtype != bool and alpha is None:
        nodata = float("nan") if dtype.kind in "fc" else float(np.iinfo(dtype).min)
    out = np.empty((raster.count,) + tuple(shape), dtype)
    valid_out = np.empty(out.shape, bool)
    for index in range(raster.count):
        warped = warp(raster.data[index], inverse_map, shape, order=order,
                      valid=raster.valid[index])
        good = valid_mask(warped)
        warped = off_nodata(warped, good, nodata, dtype)
        out[index] = np.where(good, warped, False if nodata is None else nodata).astype(dtype)
        valid_out[index] = good
    if alpha is not None:  # the alpha says where the image is, for every band
        valid_out[:] = valid_out.all(axis=0)
        out = np.where(valid_out, out, 0).astype(dtype)
        out[alpha] = np.where(valid_out[alpha], np.iinfo(dtype).max, 0)
    return replace(raster, data=out, valid=valid_out, nodata=nodata, crs=None, transform=None,
                   gcps=None)


def warp_onto(raster: Raster, grid: Raster, inverse_map: np.ndarray, *, order: int = 1) -> Raster:
    """Every band of ``raster`` resampled onto the pixels of ``grid``, georeferenced as it is.

    What ``sarfeat register -o`` and ``sarfeat register-stack`` write:
    :func:`warp_raster` (each band in its own dtype and nodata) onto ``grid``'s
    shape, with ``grid``'s CRS, geotransform and GCPs.

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
    check_raster(grid, "grid")
    if min(grid.shape, default=0) < 1:
        raise ValueError(f"grid has no pixels to warp onto: its shape is {grid.shape}")
    warped = warp_raster(raster, inverse_map, grid.shape, order=order)
    return replace(warped, crs=grid.crs, transform=grid.transform, gcps=grid.gcps)
