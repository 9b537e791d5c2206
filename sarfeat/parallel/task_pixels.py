"""What of a pair's pixels a :mod:`sarfeat.parallel.stack` task matches and holds: the
bands matched, the fixed band handed over to the matcher, the moving file's bands let go
while it matches and read again for the output, and the inputs kept without their
pixels."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Callable

import numpy as np

from ..handover import Handover
from ..io import Raster
from ..nodata_steps import mark_nodata
from ..raster_read import check_read_again, file_stamp
from ..registration import PairInputs

__all__ = ["matched_band", "without_pixels", "fixed_and_moving_bands", "handing_over",
           "without_moving_bands", "moving_again", "file_stamp"]


def matched_band(image, band: int | None, nodata: float | None = None):
    """The band matched of a raster (as :func:`sarfeat.io.read_image` reads it), ``nodata``
    marking no-data as its file's own value would (as :func:`prepare_pair` marks it), or
    the array."""
    return mark_nodata(image, nodata).band(band) if isinstance(image, Raster) else image


def without_pixels(inputs: PairInputs) -> PairInputs:
    """``inputs`` without its pixels: rasters of no band, no images."""
    return replace(inputs, fixed=replace(inputs.fixed, data=inputs.fixed.data[:0],
                                         valid=inputs.fixed.valid[:0]),
                   moving=replace(inputs.moving, data=inputs.moving.data[:0],
                                  valid=inputs.moving.valid[:0]),
                   fixed_image=None, moving_image=None)


def fixed_and_moving_bands(band) -> tuple:
    """(fixed band, moving band) of ``band``: one for both sides, or a pair of them."""
    if isinstance(band, (tuple, list)):
        if len(band) != 2:
            raise ValueError(f"band must be one band or a (fixed, moving) pair, got {band!r}")
        return tuple(band)
    return band, band


def handing_over(inputs: PairInputs | None, fixed, received) -> tuple:
    """(inputs, fixed): the fixed band matched in a :class:`~sarfeat.handover.Handover`
    where it is this task's own copy (read from a file by the task, or converted from the
    raster received), so that it is freed once the matcher has made its working copy (as
    ``sarfeat register`` hands FIXED's band over); ``inputs`` (None for a pair matched on
    its own grids) then keep its shape and shared fraction
    (:meth:`~sarfeat.registration.PairInputs.handing_over`). A band that is a view of
    ``received``, the fixed input as the task received it (a stack's reference, copied to
    each worker once and shared by its tasks), is left as it is: letting it go frees
    nothing."""
    if not isinstance(fixed, np.ndarray):
        return inputs, fixed
    shared = received.data if isinstance(received, Raster) else received
    if isinstance(shared, np.ndarray) and np.may_share_memory(fixed, shared):
        return inputs, fixed
    if inputs is None:
        return None, Handover(fixed)
    return inputs.handing_over()


def without_moving_bands(inputs: PairInputs, path) -> PairInputs:
    """``inputs`` with a moving raster of no band (its shape, georeferencing and nodata kept)
    when the moving file was read from ``path`` (a path; None for an image given in memory,
    which is kept) and the band matched is a copy of its own (brought onto the fixed grid):
    the file as read (an 8265 x 7475 float32 scene, 309 MB with its mask, at the 10980 px set
    of benchmarks/README.md) is not held while the pair is matched, and :func:`moving_again`
    reads it again for the output, as ``sarfeat register`` does for ``-o``."""
    moving = inputs.moving
    if (not isinstance(path, (str, os.PathLike)) or moving.count == 0
            or inputs.moving_image is None
            or np.may_share_memory(inputs.moving_image, moving.data)):
        return inputs
    return replace(inputs, moving=moving.without_bands())


def moving_again(inputs: PairInputs, path, stamp: tuple[int, int] | None,
                 read: Callable[[str | os.PathLike], Raster],
                 nodata: float | None = None) -> PairInputs:
    """``inputs`` with the moving file's bands: as they are when held, else (let go by
    :func:`without_moving_bands`) ``read(path)`` again, ``nodata`` marking no-data as it
    did when first read (:func:`~sarfeat.registration.prepare_pair`).

    Raises
    ------
    sarfeat.io.RasterError
        When the file changed since it was first read: its size or modification time
        (``stamp``, :func:`file_stamp` before that read), its grid, dtype or nodata.
    """
    held = inputs.moving
    if held.count > 0:
        return inputs
    again = mark_nodata(read(path), nodata)
    check_read_again(again, held, path, stamp)
    return replace(inputs, moving=again)

