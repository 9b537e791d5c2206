"""What of a pair's pixels a :mod:`sarfeat.parallel.stack` task matches and holds: the
bands matched, the fixed band handed over to the matcher, and the inputs kept without
their pixels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..handover import Handover
from ..io import Raster
from ..nodata_steps import mark_nodata
from ..registration import PairInputs

__all__ = ["matched_band", "without_pixels", "fixed_and_moving_bands", "handing_over"]


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
