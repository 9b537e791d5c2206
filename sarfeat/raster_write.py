"""Write a :class:`~sarfeat.raster.Raster` atomically: GeoTIFF, ``.npy``, PNG or JPEG.

A GeoTIFF keeps the raster's dtype, nodata, georeferencing (CRS and
geotransform, or GCPs; RPCs; a CRS without a geotransform, :attr:`Raster.unused_crs`,
as it is), band names and colours, and band scales, offsets
and units (rasterio, the ``geotiff`` extra); without rasterio a plain TIFF is
written and a georeferenced or scaled raster refused. Re-exported by :mod:`sarfeat.io`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .atomic_files import WriteError, atomic_path, disk_failure
from .geotiff_options import (BLOCK, check_creation_options, check_overview_resampling,
                              geotiff_creation_options, overview_factors)
from .nodata_steps import nodata_fits
from .preprocess import normalize_sar
from .raster import (
    GDAL_NODATA_TAG, IMAGE_SUFFIXES, TIFF_SUFFIXES, Raster, RasterError, check_path, check_raster,
    plain_tiff_quiet, rasterio_or_none,
)
from .wording import counted

if TYPE_CHECKING:  # the windows are read by their attributes alone
    from .raster_warp import WarpedWindows

__all__ = ["write_raster", "write_raster_windows", "written_dtype"]

#: A GeoTIFF written window by window (:func:`write_raster_windows`) is written in strips of
#: rows a common multiple of the file's block height and of the windows' ``rows``, unless
#: that is more than this many times their ``rows`` (a file in odd strips): then in strips
#: of their ``rows``.
_STRIP_GROWTH = 8


def write_raster(path: str | os.PathLike, raster: Raster, *, display_kind: str = "auto",
                 creation_options: dict | None = None, overviews: bool | Sequence[int] = False,
                 overview_resampling: str = "average") -> str:
    """Write ``raster`` to ``path`` atomically, by the suffix; return a note on the format.

    Parameters
    ----------
    path : str or os.PathLike
        ``.tif``: GeoTIFF tiled (256 x 256; in strips when a side is under 256) and
        deflate-compressed, the note saying which, with the raster's dtype, nodata,
        CRS and geotransform or GCPs, RPCs (or a CRS without a geotransform,
        ``raster.unused_crs``, written without one), band descriptions and colour
        interpretation, band scales, offsets and units (rasterio; without it, a plain
        TIFF, refused for a georeferenced or scaled raster). ``.npy``: (H, W) or
        (H, W, bands), no-data as stored. ``.png``/``.jpg``: an 8-bit colour
        picture (Raster.picture: gray + alpha,
        RGB or RGBA, uint8) keeps its colours, and in a PNG its alpha; a JPEG has no
        alpha, so the colour is composited onto black (``colour * alpha / 255``,
        rounded: what the PNG shows over black), gray or RGB. Any other raster is
        written as an 8-bit display image of its first band (a uint16 band stays
        16-bit in a PNG). Either way, 0 on no-data.
    raster : Raster
        What to write.
    display_kind : str
        The ``input_kind`` (:func:`sarfeat.normalize_sar`) of a display image's band.
    creation_options : dict, optional
        GeoTIFF only (rasterio): GDAL creation options
        (``{"COMPRESS": "ZSTD", "BIGTIFF": "YES"}``, as ``gdal_translate -co``) over
        the defaults (:func:`~sarfeat.geotiff_options.geotiff_creation_options`),
        refused before anything is written when GDAL does not take them
        (:func:`~sarfeat.geotiff_options.check_creation_options`).
    overviews : bool or sequence of int
        GeoTIFF only: True for factors 2, 4, 8... down to 256 pixels a side
        (:func:`~sarfeat.geotiff_options.overview_factors`) or the factors, built
        inside the file, no-data left out.
    overview_resampling : str
        How overviews are made: average, nearest or mode.

    Returns
    -------
    str
        A note on the format written.

    Raises
    ------
    RasterError
        An unsupported suffix, creation options or overviews for another file
        type or without rasterio, options that GDAL refuses, a colour picture
        of another dtype than uint8 for a PNG or JPEG (:func:`written_dtype`), or a
        GeoTIFF's nodata value that its dtype cannot hold (-1 for uint8, NaN for
        int16), before anything is written.
    """
    path = _checked_path(path, raster)
    suffix = path.suffix.lower()
    layout = _layout(raster, path, creation_options, overviews, overview_resampling)
    dtype = written_dtype(raster, path)  # a picture that a PNG or JPEG cannot hold: refused
    with atomic_path(path) as temporary:
        if suffix == ".npy":
            data = raster.data[0] if raster.count == 1 else np.moveaxis(raster.data, 0, -1)
            with open(temporary, "wb") as stream:
                np.save(stream, data)
            return f".npy {raster.data.dtype}" + _georeferencing_dropped(raster)
        if suffix in TIFF_SUFFIXES:
            return _write_tiff(temporary, raster, layout, name=path)
        from skimage.io import imsave

        colours = _picture_colours(raster)
        if colours is None:
            shown = _display(raster, display_kind, dtype)
            note = f"{suffix[1:].upper()} {shown.dtype} display image, 0 on no-data"
        else:
            shown, note = _picture(raster, colours, suffix)
        imsave(temporary, shown, check_contrast=False)
        return note + _georeferencing_dropped(raster)


def _georeferencing_dropped(raster: Raster) -> str:
    """What a ``.npy``, PNG or JPEG does not keep of ``raster``'s georeferencing, for the
    note (empty when it has none): those formats hold pixels only."""
    held = [name for name, value in (("CRS", raster.crs or raster.unused_crs),
                                     ("geotransform", raster.transform),
                                     ("GCPs", raster.gcps), ("RPCs", raster.rpcs))
            if value is not None]
    return f"; its {' and '.join(held)} not kept (a .tif keeps them)" if held else ""


def write_raster_windows(path: str | os.PathLike, windows: WarpedWindows, *,
                         display_kind: str = "auto",
                         creation_options: dict | None = None,
                         overviews: bool | Sequence[int] = False,
                         overview_resampling: str = "average") -> str:
    """:func:`write_raster` of a raster made a window at a time; a GeoTIFF a strip at a time.

    The file is what :func:`write_raster` writes of ``windows.whole()``, to the byte,
    atomically as it is (a failure leaves no file at ``path``). A GeoTIFF (with
    rasterio) is written a strip of rows at a time: the memory taken grows with the
    width of the grid, not with its area (a SAR chip resampled onto a Sentinel-2 tile
    never holds the tile at once). A ``.npy``, PNG or JPEG, and a TIFF without rasterio,
    are written whole.

    Parameters
    ----------
    path : str or os.PathLike
        As :func:`write_raster` takes it.
    windows : sarfeat.io.WarpedWindows
        The raster (:func:`sarfeat.io.warp_onto_windows`): its ``header`` says its
        shape, dtype, nodata and georeferencing; its strips are made by its ``window``,
        each ``windows.rows`` rows (or a multiple: whole blocks of the file) high.
    display_kind : str
        As :func:`write_raster` takes it.
    creation_options : dict, optional
        As :func:`write_raster` takes them.
    overviews : bool or sequence of int
        As :func:`write_raster` takes them.
    overview_resampling : str
        As :func:`write_raster` takes it.

    Returns
    -------
    str
        The note of :func:`write_raster`.

    Raises
    ------
    RasterError
        As :func:`write_raster`, before any strip is made.
    """
    header = windows.header
    path = _checked_path(path, header)
    if path.suffix.lower() not in TIFF_SUFFIXES or rasterio_or_none() is None:
        return write_raster(path, windows.whole(), display_kind=display_kind,
                            creation_options=creation_options, overviews=overviews,
                            overview_resampling=overview_resampling)
    layout = _layout(header, path, creation_options, overviews, overview_resampling)
    with atomic_path(path) as temporary:
        return _write_tiff(temporary, header, layout, name=path, windows=windows)


def _checked_path(path: str | os.PathLike, raster: Raster) -> Path:
    """``path`` as a Path when it can be written with a supported suffix, and ``raster``
    a Raster; RasterError or TypeError otherwise."""
    path = Path(check_path(path))
    check_raster(raster)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise RasterError(f"unsupported output type {suffix or '(none)'!r}: use "
                          + ", ".join(IMAGE_SUFFIXES))
    return path


def written_dtype(raster: Raster, path: str | os.PathLike) -> np.dtype:
    """The dtype in which :func:`~sarfeat.io.write_raster` stores ``raster`` at ``path``.

    Parameters
    ----------
    raster : Raster
        What would be written.
    path : str or os.PathLike
        Where; its suffix decides.

    Returns
    -------
    numpy.dtype
        ``.npy``, the raster's; TIFF, float16 as float32 (GDAL before 3.11 has no
        float16); PNG/JPEG display image, uint16 for uint16 data in a PNG, else uint8;
        a colour picture, uint8.

    Raises
    ------
    RasterError
        For a colour picture (gray + alpha, RGB, RGBA) of another dtype than uint8
        and a PNG or JPEG: its colours would not be written (write a GeoTIFF).
    """
    suffix, dtype = Path(path).suffix.lower(), raster.data.dtype
    if suffix == ".npy" or suffix in TIFF_SUFFIXES:
        return np.dtype(np.float32) if dtype == np.float16 and suffix != ".npy" else dtype
    colours = _picture_colours(raster)
    if colours is not None and dtype != np.uint8:
        raise RasterError(
            f"a {dtype} {_COLOUR_NAMES[colours]} picture cannot be written to {suffix} with its "
            "colours: sarfeat writes 8-bit colour pictures to PNG and JPEG; write it to .tif, "
            "which keeps its dtype and colours")
    return np.dtype(np.uint16 if dtype == np.uint16 and suffix == ".png" else np.uint8)


#: The colours of a picture that a PNG or JPEG keeps, and how notes name them.
_COLOUR_NAMES = {("gray", "alpha"): "gray + alpha", ("red", "green", "blue"): "RGB",
                 ("red", "green", "blue", "alpha"): "RGBA"}
#: A picture's colours by its band count, when the raster does not name them.
_COLOURS_BY_COUNT = {len(colours): colours for colours in _COLOUR_NAMES}


def _picture_colours(raster: Raster) -> tuple[str, ...] | None:
    """The colours of ``raster`` when it is a colour picture (gray + alpha, RGB or RGBA),
    by its bands' colour interpretation or, where it names none, its band count; else None
    (measurements, and a picture's single gray band, are written as a display image)."""
    if not raster.picture:
        return None
    colours = tuple(colour for _, colour in raster.bands) \
        if raster.bands is not None and len(raster.bands) == raster.count \
        else _COLOURS_BY_COUNT.get(raster.count)
    return colours if colours in _COLOUR_NAMES else None


def _picture(raster: Raster, colours: tuple[str, ...], suffix: str) -> tuple[np.ndarray, str]:
    """(H, W[, channels]) uint8 pixels of a colour picture for a PNG or JPEG, 0 on no-data,
    and the note: a PNG keeps every channel; a JPEG (no alpha) has the colour composited
    onto black, rounded (``colour * alpha / 255``)."""
    data = np.where(raster.valid, raster.data, 0).astype(np.uint8)
    name = _COLOUR_NAMES[colours]
    note = f"{suffix[1:].upper()} uint8 {name} picture, 0 on no-data"
    if suffix == ".png" or "alpha" not in colours:
        return np.moveaxis(data, 0, -1), note
    alpha = data[colours.index("alpha")].astype(np.uint16)
    colour = np.delete(data, colours.index("alpha"), axis=0).astype(np.uint16)
    # exact rounding of colour * alpha / 255 (no ties: 255 is odd)
    composited = ((colour * alpha + 127) // 255).astype(np.uint8)
    shown = composited[0] if len(composited) == 1 else np.moveaxis(composited, 0, -1)
    written = "gray" if len(composited) == 1 else "RGB"
    return shown, (f"{suffix[1:].upper()} uint8 {written} picture, its alpha composited onto "
                   "black (JPEG has no alpha), 0 on no-data")


def _layout(raster: Raster, path: Path, creation_options, overviews, resampling):
    """(creation options or None for the defaults, overview factors, resampling) of a
    GeoTIFF, checked; refused for another file type or without rasterio."""
    factors = overview_factors(raster.shape, overviews)
    check_overview_resampling(resampling)
    given = creation_options is not None and len(creation_options) > 0
    if not (given or overviews):
        return None, [], resampling
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise RasterError("creation options and overviews are for a GeoTIFF (.tif), not "
                          f"{path.suffix.lower()!r}")
    if rasterio_or_none() is None:
        raise RasterError("GeoTIFF creation options and overviews need rasterio: install the "
                          "geotiff extra (pip install 'sarfeat[geotiff]')")
    options = check_creation_options(creation_options, written_dtype(raster, path),
                                     raster.count, raster.shape) if given else None
    return options, factors, resampling


def _write_tiff(path: Path, raster: Raster, layout=(None, [], "average"), *,
                name: Path | None = None, windows=None) -> str:
    """Write ``raster`` to the TIFF ``path``; ``name``, the file that errors name (``path``
    is its temporary file). With ``windows`` (rasterio only), ``raster`` is their header
    and the pixels are written a strip at a time (:func:`_write_strips`)."""
    name = path if name is None else name
    rasterio = rasterio_or_none()
    dtype = written_dtype(raster, path)
    if not nodata_fits(dtype, raster.nodata):  # GDAL would read the file without one
        raise RasterError(f"nodata {raster.nodata} cannot be stored in {dtype} pixels: "
                          "give the raster a nodata value that its dtype holds, or none")
    options, factors, resampling = layout
    if rasterio is None:
        data = raster.data.astype(dtype, copy=False)
        placed = raster.transform is not None or raster.gcps or raster.rpcs is not None \
            or raster.unused_crs is not None
        if placed or raster.scaling is not None:
            kept = "georeferencing" if placed else "bands' scale and offset"
            raise RasterError(f"writing a GeoTIFF with its {kept} needs rasterio: install the "
                              "geotiff extra (pip install 'sarfeat[geotiff]')")
        import tifffile

        tile = (BLOCK, BLOCK) if min(raster.shape) >= BLOCK else None
        nodata = raster.nodata  # GDAL's tag, as _read_tiff reads it
        text = None if nodata is None else str(int(nodata)) if float(nodata).is_integer() \
            else repr(float(nodata))
        tifffile.imwrite(path, data if raster.count > 1 else data[0], tile=tile,
                         compression="zlib", planarconfig="separate" if raster.count > 1 else None,
                         extratags=[] if text is None else [(GDAL_NODATA_TAG, "s", 0, text, True)],
                         **_tiff_colours(raster))
        return f"TIFF {data.dtype}, nodata {nodata}, not georeferenced"
    profile = dict(driver="GTiff", height=raster.shape[0], width=raster.shape[1],
                   count=raster.count, dtype=dtype.name, nodata=raster.nodata)
    # the options given over the defaults, else the defaults (tiled where both sides
    # reach a block, deflate with the dtype's predictor)
    profile.update(options if options is not None
                   else geotiff_creation_options(dtype, raster.shape))
    if raster.transform is not None:  # a geotransform without a CRS is kept too
        profile.update(crs=raster.crs, transform=raster.transform)
    elif raster.unused_crs is not None:  # and a CRS without one: no geotransform written
        profile.update(crs=raster.unused_crs)
    if raster.picture and raster.count == 3:  # read back as the colour picture it is
        profile.update(photometric="RGB")
    try:
        with plain_tiff_quiet(rasterio), rasterio.open(path, "w", **profile) as target:
            if windows is None:
                target.write(raster.data.astype(dtype, copy=False))
            else:
                _write_strips(target, windows, dtype)
            _fill(rasterio, target, raster, factors, resampling)
    except rasterio.errors.RasterioError as error:  # "Write failed": the reason is chained
        raise _failed(path, name, _gdal_reason(error)) from error
    shortfall = _tiff_shortfall(path)  # GDAL does not report a write failing as it closes
    if shortfall is not None:
        raise _failed(path, name, shortfall)
    where = "georeferenced" if raster.georeferenced else \
        f"georeferenced by {len(raster.gcps[0])} GCPs" if raster.gcps else \
        "georeferenced by RPCs" if raster.rpcs is not None else \
        "geotransform without CRS" if raster.transform is not None else \
        "CRS without geotransform, not georeferenced" if raster.unused_crs is not None else \
        "not georeferenced"
    scaled = ", scale and offset kept" if raster.scaling is not None else ""
    return f"GeoTIFF {dtype}, {counted(raster.count, 'band')}, nodata {raster.nodata}, " \
           f"{where}{scaled}, " + _layout_note(profile, options, factors, resampling)


def _write_strips(target, windows, dtype: np.dtype) -> None:
    """Write the pixels of ``windows`` (:class:`~sarfeat.io.WarpedWindows`) into the open
    GeoTIFF ``target`` a strip of whole rows at a time, top to bottom: whole blocks of the
    file, in the order in which GDAL writes a whole array (the same file, to the byte), and
    whole windows (``windows.rows``: the same pixels as the whole raster's)."""
    from rasterio.windows import Window

    rows, cols = windows.header.shape
    step = math.lcm(target.block_shapes[0][0] if target.count else 1, windows.rows)
    if step > _STRIP_GROWTH * windows.rows:
        step = windows.rows
    for top in range(0, rows, step):
        bottom = min(rows, top + step)
        part = windows.window((top, bottom, 0, cols))
        target.write(part.data.astype(dtype, copy=False),
                     window=Window(0, top, cols, bottom - top))


def _fill(rasterio, target, raster: Raster, factors: list[int], resampling: str) -> None:
    """Write the metadata of ``raster`` into the open GeoTIFF ``target`` (its pixels
    written), and build its overviews."""
    if raster.gcps and not raster.georeferenced:
        target.gcps = raster.gcps
    if raster.rpcs is not None:
        target.rpcs = raster.rpcs
    if raster.scaling is not None and len(raster.scaling) == raster.count:
        scales, offsets, units = zip(*raster.scaling)  # the stored values' meaning
        target.scales, target.offsets = scales, offsets
        target.units = tuple(unit or "" for unit in units)
    if raster.bands is not None and len(raster.bands) == raster.count:
        target.descriptions = tuple(text for text, _ in raster.bands)
        target.colorinterp = [rasterio.enums.ColorInterp[name] for _, name in raster.bands]
    if factors:  # after the colours: an alpha band is the overviews' mask
        target.build_overviews(factors, rasterio.enums.Resampling[resampling])
        target.update_tags(ns="rio_overview", resampling=resampling)


def _gdal_reason(error: BaseException) -> str:
    """GDAL's own words for a rasterio error: the first error of its chain ("Write failed.
    See previous exception for details." names none)."""
    reasons = []
    while error is not None:
        reasons.append(" ".join(str(error).split()))
        error = error.__cause__
    return reasons[-1]


def _tiff_shortfall(path: Path) -> str | None:
    """What is missing from the TIFF that GDAL wrote at ``path``: None when its directories
    read and every block lies within the file (tifffile reads no pixels for it)."""
    import tifffile

    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tiff:
            ends = [offset + count for page in tiff.pages
                    for offset, count in zip(page.dataoffsets, page.databytecounts)]
    except Exception as error:  # noqa: BLE001 - tifffile's errors on a cut file vary
        return f"the file written is incomplete ({' '.join(str(error).split())})"
    if max(ends, default=0) > size:
        return f"the file written is incomplete ({size} of {max(ends)} bytes)"
    return None


def _failed(path: Path, name: Path, reason: str) -> Exception:
    """The error of a GeoTIFF that GDAL could not write to ``path`` (the temporary file of
    ``name``): the system's reason when a write there fails now (a full disk), else
    GDAL's ``reason``."""
    system = disk_failure(path)
    if system is not None and system.errno is not None:
        return WriteError(system.errno, f"{system.strerror} (GDAL: {reason})", str(name))
    return RasterError(f"GDAL could not write {str(name)!r}: {reason}")


def _tiff_colours(raster: Raster) -> dict:
    """tifffile's photometric and extra samples that GDAL reads as ``raster``'s colours:
    RGB(A) and gray + alpha as such, any other bands gray and undefined (not the RGB(A)
    that tifffile would guess for three or four bands, a fourth band then read as alpha)."""
    colours = [colour for _, colour in raster.bands] \
        if raster.bands is not None and len(raster.bands) == raster.count else None
    if colours is None and raster.picture and raster.count == 3:
        colours = ["red", "green", "blue"]  # as the rasterio writer writes such a picture
    rgb = colours is not None and colours[:3] == ["red", "green", "blue"]
    others = (colours or [])[3 if rgb else 1:] or ["undefined"] * (raster.count - 1)
    extras = [2 if colour == "alpha" else 0 for colour in others]  # 2: unassociated alpha
    return {"photometric": "rgb" if rgb else "minisblack", "extrasamples": extras or None}


def _layout_note(profile: dict, options: dict | None, factors: list[int],
                 resampling: str) -> str:
    """How the GeoTIFF was laid out by ``profile``, for the note: tiled or in strips (a side
    under 256 px is not tiled by default), its compression, the creation ``options`` given
    and the overviews."""
    written = {key.upper(): str(value).upper() for key, value in profile.items()}
    tiled = written.get("TILED", "NO") in ("YES", "TRUE", "ON", "1")
    note = f"{'tiled' if tiled else 'in strips'}, {written.get('COMPRESS', 'NONE').lower()}"
    if options is not None:
        note += " (" + " ".join(f"{key}={value}" for key, value in options.items()) + ")"
    if factors:
        note += f", overviews {', '.join(map(str, factors))} ({resampling})"
    return note


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

