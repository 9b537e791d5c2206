"""Checks of ``sarfeat register-stack``'s inputs before any work: IMAGES from their headers,
and REFERENCE read."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..argument_checks import UsageError
from ..io import (TIFF_SUFFIXES, Raster, RasterError, band_count_view, bands_first,
                  rasterio_or_none, read_raster, read_raster_header)
from ..raster import plain_tiff_quiet, scaling_applies
from ..raster_read import check_input_file, georeferencing_of, unused_crs_of
from ..wording import counted
from .common import (check_bands, check_valid_pixel, has_georeferencing, input_error,
                     scaling_note, unused_georeferencing, with_nodata)
from .geotiff_output import check_dtype
from .search_options import check_sar_pictures, colour_pictures

__all__ = ["header_raster", "read_headers", "images_needing_a_band", "check_distinct",
           "matched_bands", "read_reference", "colour_sides", "georeferencing_notes",
           "scaling_notes",
           "check_output_layouts",
           "check_output_type"]

#: Colour interpretations of a picture's bands, besides gray (rasterio's names).
_COLOURS = ("red", "green", "blue", "alpha")


def header_raster(path: str | os.PathLike) -> Raster:
    """``path`` as a :class:`~sarfeat.io.Raster` whose bands' number, shape and dtype, and
    georeferencing (CRS, geotransform, GCPs, RPCs) and bands' scale and offset are the
    file's, its pixels not read
    (zeros that take no memory), so that :meth:`~sarfeat.io.Raster.band` refuses a band as
    it would for the file.

    A ``.npy`` file is opened as a memory map and a TIFF with rasterio, reading
    headers only. Other files, and a TIFF of 2-4 integer bands with colours (perhaps
    a picture, which :meth:`~sarfeat.io.Raster.band` turns to gray), are read whole
    (:func:`sarfeat.io.read_raster`).

    Raises
    ------
    sarfeat.io.RasterError
        For a file that cannot be read.
    """
    header = _header(Path(path))
    if header is None:
        return read_raster(path)
    shape, dtype, (crs, transform, gcps, rpcs, unused_crs), scaling = header
    # a valid mask of one pixel a band: Raster.band checks it, not its shape, in no time
    return Raster(np.broadcast_to(np.zeros((), dtype), shape), np.ones((shape[0], 1, 1), bool),
                  crs=crs, transform=transform, path=Path(path), gcps=gcps, rpcs=rpcs,
                  scaling=scaling, unused_crs=unused_crs)


def _header(path: Path) -> tuple[tuple[int, int, int], np.dtype, tuple, tuple | None] | None:
    """(bands, rows, cols), dtype, georeferencing (crs, transform, gcps, rpcs:
    :func:`~sarfeat.raster_read.georeferencing_of`; and a CRS that places nothing,
    :func:`~sarfeat.raster_read.unused_crs_of`) and bands' scale and offset
    (:attr:`sarfeat.io.Raster.scaling`, without units) of ``path`` from its header; None where
    only a whole read tells (another file type, no rasterio, a possible picture, or a
    header that cannot be read)."""
    suffix = path.suffix.lower()
    georeferencing, scaling = (None, None, None, None, None), None
    try:
        if suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            shape, dtype = array.shape, array.dtype
            colours = False  # never a picture
            if len(shape) == 2:
                shape = (1, *shape)
            elif len(shape) == 3 and not bands_first(shape):
                shape = (shape[2], *shape[:2])
        elif suffix in TIFF_SUFFIXES and rasterio_or_none() is not None:
            rasterio = rasterio_or_none()
            with plain_tiff_quiet(rasterio), rasterio.open(path) as source:
                shape = (source.count, source.height, source.width)
                dtype = np.dtype(source.dtypes[0])
                # a picture's bands (gray + alpha, RGB(A)) say so, as read_raster reads it
                colours = (np.issubdtype(dtype, np.integer) and any(
                    colour.name in _COLOURS for colour in source.colorinterp))
                georeferencing = (*georeferencing_of(source), unused_crs_of(source))
                scaling = tuple((scale, offset, None) for scale, offset
                                in zip(source.scales, source.offsets))
        else:
            return None
    except Exception:  # noqa: BLE001 - read whole, which says what is wrong
        return None
    if len(shape) != 3 or 0 in shape or (colours and shape[0] in (2, 3, 4)):
        return None
    return shape, dtype, georeferencing, scaling if scaling_applies(scaling) else None


def read_headers(images: Sequence[str | os.PathLike]) -> list[tuple[str, Raster]]:
    """(image, :func:`header_raster`) of each of IMAGES, read once for every check; an
    image that cannot be read is left out: its own task reports it."""
    headers = []
    for image in images:
        try:
            headers.append((str(image), header_raster(image)))
        except RasterError:
            continue
    return headers


def images_needing_a_band(headers: Sequence[tuple[str, Raster]],
                          band: int | None) -> list[Raster]:
    """The images that cannot give band ``band`` without one being chosen: of several
    bands, ``band`` None (``headers`` from :func:`read_headers`).

    Raises
    ------
    sarfeat.io.RasterError
        For ``band`` out of range of an image, naming the first and how many more.
    """
    from ..io import BandChoiceError

    refused, out_of_range = [], []
    for _, raster in headers:
        try:
            raster.band(band)
        except BandChoiceError:
            refused.append(raster)
        except RasterError as error:
            out_of_range.append(error)
    if out_of_range:
        more = len(out_of_range) - 1
        raise RasterError(f"{out_of_range[0]}" + (f" (and {more} more of IMAGES)"
                                                   if more else ""))
    return refused


def check_distinct(images: Sequence[str | os.PathLike]) -> None:
    """Refuse IMAGES that list one file twice (by its resolved path): it would be registered
    twice, and its outputs renamed ``NAME_<i>`` by position.

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming the first file listed twice and its positions (1-based).
    """
    seen: dict[Path, int] = {}
    for position, image in enumerate(images, 1):
        key = Path(image).resolve()  # as it is read: a quoted ~ is not expanded
        if key in seen:
            raise UsageError(f"IMAGES list {str(image)!r} twice (at {seen[key]} and "
                             f"{position}): list each image once")
        seen[key] = position


def matched_bands(args: argparse.Namespace) -> tuple:
    """The band matched of REFERENCE and of each image: --reference-band and --image-band,
    or --band where not given."""
    return (args.band if args.reference_band is None else args.reference_band,
            args.band if args.image_band is None else args.image_band)


def read_reference(args: argparse.Namespace) -> tuple[Raster, list[tuple[str, Raster]]]:
    """Check the inputs; return the reference raster (its band to match checked, and
    refused when it has no valid pixel) and the images' headers (:func:`read_headers`).

    A georeferenced GeoTIFF reference is returned as its header
    (:func:`sarfeat.io.read_raster_header`: a raster of no band), its band matched read
    alone for the check: the tasks read it by its path, each where its image lies.

    Raises
    ------
    sarfeat.cli.common.UsageError
        For a missing image, negative retries, ``--co`` that GDAL refuses for an output
        (:func:`check_output_layouts`), an image that ``--format`` cannot hold
        (:func:`check_output_type`), a band to choose or out of range, or a reference
        without a valid pixel.
    """
    missing = [image for image in args.images if not Path(image).is_file()]
    if missing:  # said as detect and register say it (a folder, a pipe...)
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        try:
            check_input_file(missing[0])
        except RasterError as error:
            raise UsageError(f"{error}{more}") from None
        raise UsageError(f"input {str(missing[0])!r} is not a regular file{more}")
    if args.retries < 0:
        raise UsageError(f"--retries must be >= 0, got {args.retries}")
    if args.lost_retries < 0:
        raise UsageError(f"--lost-retries must be >= 0, got {args.lost_retries}")
    headers = read_headers(args.images)  # PNG and JPEG are read whole: once
    check_output_layouts(args, headers)
    check_output_type(args, headers)
    band, image_band = matched_bands(args)
    try:
        raster = read_raster_header(args.reference)
        if raster is None or not raster.georeferenced:  # read whole, and sent so
            raster = read_raster(args.reference)
        marked = with_nodata(raster, args.nodata)
        shown = band_count_view(marked, scaled=False) if raster.count == 0 else marked
        # every image, from its header: a band to choose (or out of range) fails before any
        # work, not in its task; REFERENCE's and the images' options in one message
        refused = images_needing_a_band(headers, image_band)
        check_bands([(shown, band, "--reference-band"),
                     *[(image, image_band, "--image-band") for image in refused[:1]]],
                    more=[str(image.path) for image in refused[1:]])
        check_sar_pictures(getattr(args, "modality", "sar"),
                           (shown, band, "REFERENCE", "--reference-band"),
                           [(image, image_band, "image", "--image-band") for _, image in headers])
        # every image would fail, each in its own task; a header has that band alone read,
        # a few blocks at a time, until one holds a valid pixel
        check_valid_pixel(f"REFERENCE {args.reference!r}", marked, band, args.nodata,
                          "--reference-band")
    except RasterError as error:
        raise input_error(error) from None
    return raster, headers


def colour_sides(args: argparse.Namespace, reference: Raster,
                 headers: Sequence[tuple[str, Raster]]) -> dict[str, tuple]:
    """The colour pictures read as their gray values (REFERENCE, an image or both:
    :func:`~sarfeat.cli.search_options.colour_pictures`) of each pair with one under
    ``--modality sar``, by the image's path (``headers`` from :func:`read_headers`), for
    the hint of a refused search (:func:`~sarfeat.cli.search_options.picture_hint`), as
    ``sarfeat register`` gives it; worked out from the headers on the client.
    ``reference`` is :func:`read_reference`'s raster."""
    if getattr(args, "modality", "sar") != "sar":
        return {}
    band, image_band = matched_bands(args)
    shown = band_count_view(reference, scaled=False) if reference.count == 0 else reference
    sides = {image: colour_pictures((shown, band, "REFERENCE"), (header, image_band, "image"))
             for image, header in headers}
    return {image: colour for image, colour in sides.items() if colour}


def scaling_notes(reference_path: str, reference: Raster,
                  headers: Sequence[tuple[str, Raster]]) -> list[str]:
    """The note of ``sarfeat register`` (:func:`~sarfeat.cli.common.scaling_note`) for
    REFERENCE and each image whose file scales or offsets its bands: matched in its physical
    values; ``headers`` from :func:`read_headers`."""
    notes = [scaling_note(f"REFERENCE {reference_path!r}", reference)]
    notes += [scaling_note(f"image {image!r}", header) for image, header in headers]
    return [note for note in notes if note is not None]


def georeferencing_notes(reference_path: str, reference: Raster,
                         headers: Sequence[tuple[str, Raster]]) -> list[str]:
    """What ``sarfeat register`` notes of each pair matched from pixels alone though
    georeferencing is at hand (:func:`~sarfeat.cli.common.unused_georeferencing`), said once
    for REFERENCE (beside IMAGES) and once for each image (beside REFERENCE) where it
    applies; ``headers`` from :func:`read_headers`."""
    images_have_some = any(has_georeferencing(header) for _, header in headers)
    notes = [unused_georeferencing([(f"REFERENCE {reference_path!r}", reference)],
                                   images_have_some)]
    notes += [unused_georeferencing([(f"image {image!r}", header)],
                                    has_georeferencing(reference)) for image, header in headers]
    return [note for note in notes if note is not None]


def check_output_type(args: argparse.Namespace,
                      headers: Sequence[tuple[str, Raster]]) -> None:
    """Refuse, before any work, IMAGES that ``--format`` cannot hold as registered (a
    16-bit colour picture in a PNG: :func:`sarfeat.io.written_dtype`), naming the first.

    Raises
    ------
    sarfeat.cli.common.UsageError
    """
    from ..io import written_dtype

    for image, header in headers:
        try:
            written_dtype(header, Path(f"x.{args.format}"))
        except RasterError as error:
            raise UsageError(f"--format {args.format}: IMAGES {image!r}: {error}") from None


def check_output_layouts(args: argparse.Namespace,
                         headers: Sequence[tuple[str, Raster]]) -> None:
    """Refuse, before any work, ``--co`` that GDAL refuses for a registered GeoTIFF: for
    each distinct dtype and band count that IMAGES are written in (``headers`` from
    :func:`read_headers`; the image's dtype, float16 as float32), or one float32 band
    when no header can be read.

    Raises
    ------
    sarfeat.cli.common.UsageError
        Naming the options, GDAL's words, the dtype and bands, and the images written so.
    """
    from ..io import written_dtype

    if not args.creation_options or args.format != "tif":
        return
    layouts: dict[tuple[np.dtype, int], list[str]] = {}
    for image, header in headers:
        dtype = written_dtype(header, Path("x.tif"))
        if dtype != bool:  # no GeoTIFF of bools: its task says so, whatever the options
            layouts.setdefault((dtype, header.count), []).append(str(image))
    for (dtype, count), images in (layouts or {(np.dtype(np.float32), 1): []}).items():
        try:
            check_dtype(args, dtype, count)
        except UsageError as error:
            named = ", ".join(repr(image) for image in images[:3]) + (
                f" and {len(images) - 3} more" if len(images) > 3 else "")
            raise UsageError(f"{error} (for {counted(count, 'band')} of {dtype}, as IMAGES {named} "
                             "are written)" if images else str(error)) from None
