"""Read an image file as a :class:`~sarfeat.raster.Raster`: every band, no-data, georeferencing.

A GeoTIFF is read with rasterio (the ``geotiff`` extra) when it is installed;
without it, a plain TIFF is read with tifffile (GDAL's nodata tag kept) and one
that carries georeferencing tags is refused (:class:`~sarfeat.raster.RasterError`
names the extra). Re-exported by :mod:`sarfeat.io`.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .image_checks import check_numeric_dtype
from .nodata_steps import alpha_index, mark_nodata, nodata_fits, nodata_valid_mask
from .raster import (
    GDAL_NODATA_TAG, IMAGE_SUFFIXES, TIFF_SUFFIXES, GeoreferencingWarning, Raster, RasterError,
    check_path, plain_tiff_quiet, rasterio_or_none,
)

if TYPE_CHECKING:
    import rasterio.io

__all__ = ["read_raster", "read_raster_header", "read_raster_window", "read_band_window",
           "band_has_valid_pixel", "band_count_view", "read_image", "bands_first", "is_picture",
           "georeferencing_of", "unused_crs_of", "check_input_file", "file_stamp",
           "check_read_again"]

#: GDAL's block cache (MB) while a file is read whole, unless GDAL_CACHEMAX is set (in the
#: environment or a rasterio.Env): each block is read once, and GDAL's default (5 % of the
#: memory) held 0.9 GB of a 10980 px 4-band uint16 tile's blocks beside its 0.96 GB of pixels.
READ_CACHE_MB = 64
#: The most of a file's pixels (bytes, as stored, of the bands read) that
#: :func:`band_has_valid_pixel` reads at a time: whole rows of its blocks, at least one.
SCAN_BYTES = 16 * 2**20
#: TIFF tags that carry georeferencing (GeoTIFF and GDAL's own).
_GEO_TAGS = {33550: "ModelPixelScale", 33922: "ModelTiepoint", 34264: "ModelTransformation",
             34735: "GeoKeyDirectory", 50844: "RPCCoefficient"}
#: GDAL's TIFF tag of its metadata (XML), where it keeps a band's scale and offset.
_GDAL_METADATA_TAG = 42112
_PICTURE_BANDS = (("gray", "alpha"), ("red", "green", "blue"), ("red", "green", "blue", "alpha"))
#: A PNG's or JPEG's channels by their count, as GDAL names them.
_PICTURE_COLOURS = {1: ("gray",), 2: _PICTURE_BANDS[0], 3: _PICTURE_BANDS[1],
                    4: _PICTURE_BANDS[2]}


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
    path = _checked_file(path)
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES and rasterio_or_none() is not None:
        return _read_rasterio(path)
    colours = None  # a .npy's bands have no colours
    try:
        if suffix == ".npy":
            array, nodata = np.load(path, allow_pickle=False), None
        elif suffix in TIFF_SUFFIXES:
            array, nodata, colours = _read_tiff(path)
        else:
            from skimage.io import imread

            array, nodata = np.asarray(imread(path)), None
            # a PNG's or JPEG's channels are gray, gray + alpha, RGB or RGBA by their count
            colours = _PICTURE_COLOURS.get(1 if array.ndim == 2 else array.shape[-1])
    except RasterError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise RasterError(f"cannot read {str(path)!r}: {error}") from None
    if array.ndim not in (2, 3) or array.size == 0:
        raise RasterError(f"{str(path)!r} has shape {array.shape}: expected a 2-D image or a "
                          "3-D (rows, cols, bands) array")
    try:  # a bool .npy is refused here, as a bad input file, not once matching starts
        check_numeric_dtype(array.dtype, repr(str(path)))
    except ValueError as error:
        raise RasterError(str(error)) from None
    data = array[None] if array.ndim == 2 else np.moveaxis(_bands_last(array), -1, 0)
    if colours is not None and len(colours) != data.shape[0]:
        colours = None
    bands = None if colours is None else tuple((None, colour) for colour in colours)
    valid = nodata_valid_mask(data, nodata)
    alpha = alpha_index(bands, data.dtype, nodata)
    if alpha is not None:  # GDAL's rule: a zero alpha is no-data in every band, its own too
        valid &= data[alpha] > 0
    return Raster(np.ascontiguousarray(data), valid, nodata, path=path,
                  picture=is_picture(colours, data.dtype), bands=bands)


def _checked_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, once it is known to be a regular file of a supported suffix."""
    path = Path(check_path(path))
    check_input_file(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise RasterError(f"unsupported file type {suffix or '(none)'!r} of {str(path)!r}: "
                          "use " + ", ".join(IMAGE_SUFFIXES))
    return path


def check_input_file(path: str | os.PathLike) -> None:
    """Refuse an input path that is missing, or that is not a regular file, saying what it
    is (the one wording of every command: ``input 'd' is a folder, not an image file``).

    Parameters
    ----------
    path : str or os.PathLike
        The input, as it is read.

    Raises
    ------
    RasterError
        For a missing path, one that cannot be looked at, a folder, a pipe, a socket or a
        device.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise RasterError(f"input file {str(path)!r} does not exist") from None
    except OSError as error:
        raise RasterError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if stat.S_ISDIR(mode):  # no stream to copy to a file: the image is one of its files
        raise RasterError(f"input {str(path)!r} is a folder, not an image file: name the "
                          "image file itself")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "not a regular file")
        raise RasterError(f"input {str(path)!r} is {kind}, not an image file: sarfeat reads "
                          "files it can seek in; copy the data to a file first")


def bands_first(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` is planar (bands, rows, cols).

    Parameters
    ----------
    shape : tuple of int
        An array's shape.

    Returns
    -------
    bool
        True for 3-D, its first axis the shortest and at most 16 long, its last longer
        than 16 (a (3, H, W) array is 3 bands).
    """
    return len(shape) == 3 and shape[0] <= 16 and shape[0] < min(shape[1:]) and shape[-1] > 16


def _bands_last(array: np.ndarray) -> np.ndarray:
    """A 3-D array as (rows, cols, bands): a planar one (:func:`bands_first`) is moved."""
    return np.moveaxis(array, 0, -1) if bands_first(array.shape) else array


def _read_tiff(path: Path):
    """(array, nodata, colours) of a plain TIFF without rasterio; refused when it carries
    georeferencing. A page's samples are its bands, last (rows, cols, bands), with the
    colours GDAL gives them (:func:`_tiff_colours`); other stacks (pages) have no colours."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        tags = page.tags
        geo = [name for code, name in _GEO_TAGS.items() if code in tags]
        if geo:
            raise RasterError(
                f"{str(path)!r} is a georeferenced GeoTIFF ({', '.join(geo)}), but rasterio is "
                "not installed: install the geotiff extra (pip install 'sarfeat[geotiff]') so "
                "that its georeferencing and no-data are kept"
            )
        nodata = tags.get(GDAL_NODATA_TAG)
        metadata = tags.get(_GDAL_METADATA_TAG)
        if metadata is not None and any(f'role="{role}"' in str(metadata.value)
                                        for role in ("scale", "offset")):
            raise RasterError(
                f"{str(path)!r} gives its bands a scale and offset (GDAL metadata), but "
                "rasterio is not installed: install the geotiff extra (pip install "
                "'sarfeat[geotiff]') so that they are kept")
        array = tiff.asarray()
        samples, colours = page.samplesperpixel, None
        if samples == 1 and array.ndim == 2:
            colours = _tiff_colours(page)
        elif samples > 1 and array.ndim == 3:
            if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and array.shape[0] == samples:
                array = np.moveaxis(array, 0, -1)  # planar: (bands, rows, cols) as stored
            if array.shape[-1] == samples:
                colours = _tiff_colours(page)
    if nodata is not None:
        nodata = float(str(nodata.value).strip("\x00 "))
        if not nodata_fits(array.dtype, nodata):  # as GDAL reads it: no nodata value
            nodata = None
    return array, nodata, colours


def _tiff_colours(page) -> tuple[str, ...]:
    """The colour interpretation (rasterio's names) that GDAL gives each sample of a TIFF
    page: gray or red, green, blue by its photometric tag, then alpha for each extra sample
    that the ExtraSamples tag calls alpha (associated or not), undefined for the others."""
    import tifffile

    photometric = page.photometric
    if photometric == tifffile.PHOTOMETRIC.RGB and page.samplesperpixel >= 3:
        first = ("red", "green", "blue")
    elif photometric in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE):
        first = ("gray",)
    else:
        first = ("undefined",)  # a palette, CMYK...: not a picture sarfeat reads as colour
    extra = tuple(page.extrasamples or ())
    extra += (0,) * (page.samplesperpixel - len(first) - len(extra))  # unspecified
    alpha = (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)
    return first + tuple("alpha" if kind in alpha else "undefined"
                         for kind in extra[:page.samplesperpixel - len(first)])


def is_picture(colours: tuple | None, dtype: np.dtype) -> bool:
    """Whether integer bands of ``colours`` are a picture (``sarfeat.raster.Raster.picture``).

    Parameters
    ----------
    colours : tuple of str or None
        The bands' colour interpretations, rasterio's names.
    dtype : numpy.dtype
        The bands' type.

    Returns
    -------
    bool
        True for integer gray + alpha or RGB(A) bands.
    """
    return colours is not None and tuple(colours) in _PICTURE_BANDS \
        and np.issubdtype(dtype, np.integer)


def georeferencing_of(source: rasterio.io.DatasetReader) -> tuple:
    """(crs, transform, gcps, rpcs) of an open rasterio dataset.

    Parameters
    ----------
    source : rasterio.io.DatasetReader
        The open dataset.

    Returns
    -------
    tuple
        As :class:`~sarfeat.raster.Raster` holds them: a CRS and geotransform only where
        there is a geotransform (GDAL gives the identity where there is none), the GCPs as
        (points, their CRS) where there are some, else None; the RPCs.
    """
    crs, transform = source.crs, source.transform
    points, points_crs = source.gcps
    placed = not transform.is_identity  # a geotransform, with or without a CRS
    return (crs if placed else None, transform if placed else None,
            (list(points), points_crs) if points else None, source.rpcs)


def unused_crs_of(source: rasterio.io.DatasetReader) -> object:
    """The CRS of an open rasterio dataset that has nothing to place its pixels with (no
    geotransform, GCPs or RPCs), which :func:`georeferencing_of` drops; else None.

    Parameters
    ----------
    source : rasterio.io.DatasetReader
        A file opened with ``rasterio.open``.

    Returns
    -------
    rasterio.crs.CRS or None
        As :attr:`sarfeat.io.Raster.unused_crs` holds it.
    """
    placed = not source.transform.is_identity or source.gcps[0] or source.rpcs is not None
    return None if placed else source.crs


def _warn_unused_crs(path: Path, crs) -> None:
    """Say, as a :class:`~sarfeat.raster.GeoreferencingWarning`, that the file of ``path``
    is read as not georeferenced though it has a CRS (:func:`unused_crs_of`)."""
    if crs is not None:
        name = crs.to_string() if hasattr(crs, "to_string") else str(crs)
        warnings.warn(f"{str(path)!r} has a CRS ({name}) but no geotransform: the file is read "
                      "as not georeferenced (its CRS kept as unused_crs, not used for matching)",
                      GeoreferencingWarning,
                      stacklevel=4)  # the line that called the public reader


def read_raster_header(path: str | os.PathLike) -> Raster | None:
    """What :func:`read_raster` gives of a GeoTIFF, without its pixels: a raster of no band.

    Its ``data`` and ``valid`` are empty, of shape (0, H, W) (``shape`` is the file's; the
    dtype is the first band's), and it has the file's nodata, georeferencing and every
    band's metadata (``bands``: one entry per band of the file, ``scaling``), as
    :meth:`sarfeat.registration.PairInputs.without_fixed_bands` leaves a raster. Read the
    pixels of a part of it with :func:`read_raster_window`.

    Parameters
    ----------
    path : str or os.PathLike
        An image file.

    Returns
    -------
    Raster or None
        None for a file that rasterio does not read here (not a TIFF, or rasterio not
        installed): such a file is read whole, by :func:`read_raster`.

    Raises
    ------
    RasterError
        As :func:`read_raster`.
    """
    path = _checked_file(path)
    if path.suffix.lower() not in TIFF_SUFFIXES or rasterio_or_none() is None:
        return None
    return _read_rasterio(path, header=True)


def band_count_view(header: Raster, scaled: bool = True) -> Raster:
    """``header`` (a raster of no band: :func:`read_raster_header`) with as many bands as
    its file, of zeros that take no memory (read-only views of one value), all valid.

    For what its band count and band choice say (``header_view.band(k)`` refuses a band
    as the whole file's raster would), never for its pixels.

    Parameters
    ----------
    header : Raster
        A raster of no band.
    scaled : bool
        Keep its scaling; False drops it (a band is then a view, not a converted copy).

    Returns
    -------
    Raster
    """
    from dataclasses import replace

    shape = (len(header.bands),) + tuple(header.shape)
    return replace(header, data=np.broadcast_to(np.zeros((), header.data.dtype), shape),
                   valid=np.broadcast_to(np.ones((), bool), shape),
                   scaling=header.scaling if scaled else None)


def read_raster_window(path: str | os.PathLike, window: tuple[int, int, int, int],
                       bands: tuple[int, ...] | None = None) -> Raster:
    """Bands ``bands`` of the part ``window`` of a GeoTIFF, as :func:`read_raster` reads them.

    Its no-data mask (the file's nodata, mask band or alpha) is read for the window alone,
    and what the raster holds of each band (``bands``, ``scaling``) is of the bands read:
    ``read_raster_window(path, w, (k,)).band(0)`` equals ``read_raster(path).band(k, w)``
    without the other bands or pixels being read.

    Parameters
    ----------
    path : str or os.PathLike
        A TIFF that rasterio reads (:func:`read_raster_header` is not None).
    window : (int, int, int, int)
        (row0, row1, col0, col1) of the file, ends excluded.
    bands : tuple of int, optional
        0-based bands of the file, in the order wanted; every band when None.

    Returns
    -------
    Raster
        Its geotransform that of the window (the file's, shifted by (col0, row0)).

    Raises
    ------
    RasterError
        For a file that cannot be read.
    """
    return _read_rasterio(Path(check_path(path)), window=window, indexes=bands)


def read_band_window(header: Raster, window: tuple[int, int, int, int], band: int | None,
                     nodata: float | None = None) -> np.ndarray:
    """Band ``band`` of the GeoTIFF of ``header`` within ``window``, as
    ``read_raster(path).band(band, window)`` gives it, with only that band read (every band
    when ``band`` is None: a picture's gray values need them).

    Parameters
    ----------
    header : Raster
        The file's header (:func:`read_raster_header`), for its path and band count.
    window : (int, int, int, int)
        (row0, row1, col0, col1) of the file, ends excluded.
    band : int or None
        0-based band, negative from the end; None for a picture's gray.
    nodata : float, optional
        A value marked no-data too (:func:`sarfeat.nodata_steps.mark_nodata`).

    Returns
    -------
    ndarray
        As :meth:`Raster.band` gives it.

    Raises
    ------
    RasterError
        For a file that cannot be read.
    """
    chosen = None if band is None else (band % len(header.bands),)
    part = mark_nodata(read_raster_window(header.path, window, chosen), nodata)
    return part.band(None if chosen is None else 0)


def band_has_valid_pixel(header: Raster, band: int | None,
                         nodata: float | None = None) -> bool:
    """Whether band ``band`` of the GeoTIFF of ``header`` holds a valid pixel, read a few
    rows of the file's blocks at a time (at most :data:`SCAN_BYTES`, at least one row of
    blocks) and stopping at the first that holds one: what
    ``np.isfinite(read_band_window(header, whole, band, nodata)).any()`` says, without
    the whole band in memory.

    Parameters
    ----------
    header : Raster
        The file's header (:func:`read_raster_header`).
    band : int or None
        As :func:`read_band_window` takes it.
    nodata : float, optional
        A value marked no-data too.

    Returns
    -------
    bool

    Raises
    ------
    RasterError
        For a file that cannot be read.
    """
    for window in _block_row_windows(header, band):
        if np.isfinite(read_band_window(header, window, band, nodata)).any():
            return True
    return False


def _block_row_windows(header: Raster, band: int | None):
    """The windows (row0, row1, col0, col1) of whole rows of the blocks of band ``band``
    (the first band for None) of the file of ``header``, top to bottom, each as many rows
    of blocks as :data:`SCAN_BYTES` holds of the bands read (at least one)."""
    rasterio = rasterio_or_none()
    try:
        with plain_tiff_quiet(rasterio), rasterio.open(header.path) as source:
            block_rows = source.block_shapes[0 if band is None else band % source.count][0]
            bands_read = source.count if band is None else 1
            row_bytes = source.width * np.dtype(source.dtypes[0]).itemsize * bands_read
            height, width = source.height, source.width
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise RasterError(f"cannot read {str(header.path)!r}: {error}") from None
    step = block_rows * max(1, SCAN_BYTES // (block_rows * row_bytes))
    for row in range(0, height, step):
        yield row, min(row + step, height), 0, width


def _read_rasterio(path: Path, window: tuple[int, int, int, int] | None = None,
                   indexes: tuple[int, ...] | None = None, header: bool = False) -> Raster:
    """The raster of ``path`` (rasterio): bands ``indexes`` (0-based; all when None) of
    ``window`` (all when None), or, with ``header``, of no band (:func:`read_raster_header`)."""
    from affine import Affine  # rasterio's

    rasterio = rasterio_or_none()
    try:
        with plain_tiff_quiet(rasterio), rasterio.Env(**_read_cache(rasterio)), \
                rasterio.open(path) as source:
            chosen = list(range(source.count)) if indexes is None else list(indexes)
            if header:
                chosen = list(range(source.count))
                data = np.empty((0, source.height, source.width), source.dtypes[0])
                valid = np.empty(data.shape, bool)
            else:
                data, valid = _read_pixels(rasterio, source, chosen, window)
            crs, transform, gcps, rpcs = georeferencing_of(source)
            unused_crs = unused_crs_of(source)
            if window is not None and transform is not None:
                transform = transform @ Affine.translation(window[2], window[0])
            colours = tuple(source.colorinterp[index].name for index in chosen)
            scaling = tuple((source.scales[index], source.offsets[index],
                             source.units[index] or None) for index in chosen)
            bands = tuple((source.descriptions[index], colour)
                          for index, colour in zip(chosen, colours))
            nodata = source.nodata
    except Exception as error:  # noqa: BLE001 - any reader failure is a bad input
        raise RasterError(f"cannot read {str(path)!r}: {error}") from None
    _warn_unused_crs(path, unused_crs)
    return Raster(data, valid, nodata, crs, transform, path,
                  picture=is_picture(colours, data.dtype), gcps=gcps, bands=bands, rpcs=rpcs,
                  scaling=None if all(band == (1.0, 0.0, None) for band in scaling)
                  else scaling, unused_crs=unused_crs)


def _read_pixels(rasterio, source, indexes: list[int],
                 window: tuple[int, int, int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """(data, valid) of bands ``indexes`` (0-based) of an open dataset, within ``window``."""
    part = None if window is None else \
        rasterio.windows.Window.from_slices(window[:2], window[2:])
    data = source.read([index + 1 for index in indexes], window=part)
    nodata = source.nodata
    valid = np.empty(data.shape, bool)
    for at, index in enumerate(indexes):  # a band at a time: no (bands, H, W) temporaries
        np.greater(source.read_masks(index + 1, window=part), 0, out=valid[at])
        valid[at] &= nodata_valid_mask(data[at:at + 1], nodata)[0]
    # the bands that GDAL masks by the alpha band (GDAL leaves the alpha band valid)
    alpha_masked = [index for index, flags in enumerate(source.mask_flag_enums)
                    if rasterio.enums.MaskFlags.alpha in flags]
    if alpha_masked:  # GDAL's mask of the other bands is the alpha band's no-data too
        valid &= source.read_masks(alpha_masked[0] + 1, window=part) > 0
    return data, valid


def _read_cache(rasterio) -> dict:
    """The GDAL options of a whole-file read: a small block cache, unless the user set one."""
    chosen = "GDAL_CACHEMAX" in os.environ or (
        rasterio.env.hasenv() and "GDAL_CACHEMAX" in rasterio.env.getenv())
    return {} if chosen else {"GDAL_CACHEMAX": READ_CACHE_MB}


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


def file_stamp(path: str | os.PathLike) -> tuple[int, int] | None:
    """A file's size and modification time, to find it rewritten before it is read again.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    tuple of int or None
        (size in bytes, modification time in ns); None when it cannot be looked at.
    """
    try:
        found = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return found.st_size, found.st_mtime_ns


def check_read_again(again: Raster, first: Raster, path: str | os.PathLike,
                     stamp: tuple[int, int] | None) -> None:
    """Refuse a file read a second time (for an output, after its bands were let go while it
    was matched) unless it is the file first read.

    Parameters
    ----------
    again : Raster
        The file as read now.
    first : Raster
        The file as first read (its bands may be gone: its grid, dtype and nodata are kept).
    path : str or os.PathLike
        The file.
    stamp : tuple of int or None
        :func:`file_stamp` of the file before it was first read.

    Raises
    ------
    sarfeat.io.RasterError
        When its size, modification time, grid, dtype or nodata changed meanwhile.
    """
    if (again.shape != first.shape or again.data.dtype != first.data.dtype
            or str(again.nodata) != str(first.nodata) or again.transform != first.transform
            or again.crs != first.crs or file_stamp(path) != stamp):
        raise RasterError(f"{os.fspath(path)} changed while it was matched: its output is "
                          "not made from another file; run again")
