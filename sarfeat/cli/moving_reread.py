"""MOVING let go while ``sarfeat register`` matches, and read again for ``-o``.

When MOVING's band is brought onto the fixed grid before matching (a copy of its own), the
file as read (every band, with its mask) is not needed while matching: the inputs keep a
MOVING raster of no band (:func:`without_moving_bands`), and ``-o`` reads the file again
(:func:`moving_again`), refusing a file that changed meanwhile (:func:`file_stamp`).
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import numpy as np

from ..raster_read import check_read_again, file_stamp
from .common import input_error, with_nodata

if TYPE_CHECKING:
    from ..registration import PairInputs as Inputs

__all__ = ["without_moving_bands", "moving_again", "file_stamp"]


def without_moving_bands(args: argparse.Namespace, inputs: Inputs) -> Inputs:
    """``inputs`` with a MOVING raster of no band (its shape and georeferencing kept) when the
    band matched was brought onto the fixed grid, a copy of its own: the file as read (an 8265
    x 7475 float32 scene, 309 MB with its mask) is not held while matching; -o reads it again."""
    from dataclasses import replace

    moving = inputs.moving
    if (not inputs.resampled or inputs.moving_image is None or not os.path.isfile(args.moving)
            or np.shares_memory(inputs.moving_image, moving.data)):
        return inputs
    return replace(inputs, moving=moving.without_bands())


def moving_again(args: argparse.Namespace, inputs: Inputs, stamp) -> Inputs:
    """``inputs`` with MOVING's bands, for -o: read again when they were let go while
    matching (:func:`without_moving_bands`), as first read (with ``--nodata``); an input
    error if the file changed meanwhile (``stamp``, its size and modification time when
    first read, or its grid, dtype or nodata)."""
    from dataclasses import replace

    from ..io import RasterError, read_raster

    held = inputs.moving
    if held.count > 0:
        return inputs
    try:
        again = with_nodata(read_raster(args.moving), args.nodata)
        check_read_again(again, held, args.moving, stamp)
    except RasterError as error:
        raise input_error(error) from None
    return replace(inputs, moving=again)

