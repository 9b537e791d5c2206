"""Pure geometry and sarfeat's one warp.

:func:`warp` resamples an image of any dtype (integer, float or complex)
through a 3x3 matrix, in blocks of the output so that memory stays bounded on
large scenes, with no-data handled one way everywhere: an output pixel is NaN
where its source point falls outside the input's pixel centres, and where
invalid input pixels (by :func:`sarfeat.preprocess.valid_mask`) carry more
than ``MASK_THRESHOLD`` of its bilinear weight. :mod:`sarfeat.io`,
:func:`sarfeat.register`, the matcher and the training pairs all warp with it.

Pixel convention: (x, y) = (col, row), integer at pixel centres, as in
:mod:`skimage.transform`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike, DTypeLike
from scipy import ndimage
from skimage.transform import ProjectiveTransform
from skimage.transform import warp as _skimage_warp

from .preprocess import check_nodata, valid_mask

__all__ = ["warp", "warp_dtype", "source_window", "check_window", "window_blocks",
           "MASK_THRESHOLD", "WARP_BLOCK"]

#: An output pixel is no-data when invalid input pixels carry more than this share of its
#: bilinear weight (the one threshold of every warp in sarfeat).
MASK_THRESHOLD = 1e-3
#: Source points this far (pixels) beyond the input's outermost pixel centres still read it
#: (rounding of the transform, not extrapolation).
_EDGE_TOLERANCE = 1e-6
#: Side of the square blocks of the output resampled at once (bounds the memory: each block
#: reads only the part of the input it needs).
WARP_BLOCK = 512
#: A map whose determinant is under this share of Hadamard's bound is singular.
_SINGULAR = 1e-12


def warp_dtype(dtype: DTypeLike) -> np.dtype:
    """Output dtype of :func:`~sarfeat.geometry.warp` for ``dtype``: float32 or wider, complex kept.

    Parameters
    ----------
    dtype : dtype_like
        The input's dtype.

    Returns
    -------
    numpy.dtype

    Examples
    --------
    >>> warp_dtype(np.uint8), warp_dtype(np.int32), warp_dtype(np.complex64)
    (dtype('float32'), dtype('float64'), dtype('complex64'))

    Raises
    ------
    ValueError
        For a dtype that :func:`warp` refuses (not bool, integer, float or complex: it
        would otherwise answer object or a string dtype).
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "biufc":
        raise ValueError(f"dtype {dtype} is not one that warp resamples: pass numbers "
                         "(integer, float, complex, or bool for a mask)")
    return np.result_type(dtype, np.float32)


def antialias_sigma(inverse_map: np.ndarray) -> float:
    """Gaussian sigma (input pixels) that prefilters an output-to-input map shrinking the image.

    Infinite for a projective map whose output origin lies on its horizon (its last entry 0):
    it shrinks without bound there.
    """
    matrix = np.asarray(inverse_map, float)
    if not np.linalg.det(matrix[:2, :2]) != 0:
        return 0.0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        linear = matrix[:2, :2] / float(matrix[2, 2])
        factor = math.sqrt(abs(float(np.linalg.det(linear))))
    if not math.isfinite(factor):  # the last entry 0, or so small that the division overflows
        return math.inf
    return max(0.0, (factor - 1.0) / 2.0)


def source_window(inverse_map: np.ndarray, box: tuple[int, int, int, int],
                  shape: tuple[int, int], margin: int) -> tuple[int, int, int, int] | None:
    """(r0, r1, c0, c1) of the input that output ``box`` (r0, r1, c0, c1) reads, or None.

    Parameters
    ----------
    inverse_map : (3, 3) ndarray
        Maps output (x, y) to input (x, y).
    box : tuple of int
        (r0, r1, c0, c1) of the output.
    shape : tuple of int
        The input's (rows, cols).
    margin : int
        Pixels added on each side.

    Returns
    -------
    tuple of int or None
        None when the box reads no input pixel.
    """
    r0, r1, c0, c1 = box
    corners = np.array([[c0, r0, 1], [c1 - 1, r0, 1], [c0, r1 - 1, 1], [c1 - 1, r1 - 1, 1]],
                       float) @ np.asarray(inverse_map, float).T
    # a corner on or next to a horizon maps to infinity (a subnormal last coordinate
    # overflows): the block then reads the whole input, its no-data set by the warp
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        mapped = corners[:, :2] / corners[:, 2:]
    if not np.all(np.isfinite(mapped)) or np.any(corners[:, 2] <= 0):
        return 0, shape[0], 0, shape[1]  # a projective horizon crosses the block
    s0 = int(np.clip(np.floor(mapped[:, 1].min()) - margin, 0, shape[0]))
    s1 = int(np.clip(np.ceil(mapped[:, 1].max()) + margin + 1, 0, shape[0]))
    t0 = int(np.clip(np.floor(mapped[:, 0].min()) - margin, 0, shape[1]))
    t1 = int(np.clip(np.ceil(mapped[:, 0].max()) + margin + 1, 0, shape[1]))
    if s1 - s0 < 1 or t1 - t0 < 1:
        return None
    return s0, s1, t0, t1


def warp(image: ArrayLike, inverse_map: ArrayLike, shape: tuple[int, int], *, order: int = 1,
         nodata: float | None = None, valid: ArrayLike | None = None, antialias: bool = False,
         block: int = WARP_BLOCK, window: tuple[int, int, int, int] | None = None
         ) -> np.ndarray:
    """Resample ``image`` onto an output grid; NaN outside it and next to its no-data.

    Parameters
    ----------
    image : (H, W) array_like
        Any numeric dtype, complex included (its real and imaginary parts are
        resampled alike); a memory map or masked array is read block by block.
    inverse_map : (3, 3) array_like
        Output (x, y) -> input (x, y), the ``inverse_map`` of
        :func:`skimage.transform.warp` (affine or projective).
        Its entries must be finite and it must be invertible (a singular map would
        read the whole output from one line or point of the input); a ValueError
        says so otherwise.
    shape : (int, int)
        Output (rows, cols), each at least 1.
    order : int
        Spline order (0 nearest, 1 bilinear, 3 cubic: Keys' cubic convolution, which
        may overshoot the input's range; the input's edge pixels repeat beyond it).
    nodata : float, optional
        Input value that marks no-data, besides NaN (see
        :func:`sarfeat.preprocess.valid_mask`).
    valid : (H, W) array_like of bool, optional
        False on further invalid input pixels.
    antialias : bool
        Gaussian prefilter of the input where the map shrinks it (its sigma from the
        map's linear part, at most the input's longer side: a projective map near its
        horizon blurs the input to its mean, no more).
    block : int
        Side of the output blocks resampled at once (the blocks start at multiples of it).
    window : (r0, r1, c0, c1), optional
        Only these output rows and columns of ``shape`` are resampled and returned. A
        window whose edges are multiples of ``block`` (or the output's edges) holds
        exactly what the whole output holds there, to the bit.

    Returns
    -------
    (rows, cols) ndarray of :func:`warp_dtype`
        NaN (NaN in both parts for complex input) where the output falls outside the
        input, or where invalid input pixels carry more than
        ``MASK_THRESHOLD`` of the bilinear weight. The window's shape when one is given.

    Raises
    ------
    ValueError
        Before any work, for an image that is not a 2-D array of numbers or has no
        pixels, an ``inverse_map`` that is not a finite, invertible 3x3 matrix, a
        ``shape`` that is not two integers >= 1, an ``order`` outside 0-5, a ``block``
        under 1, a ``window`` that is not a non-empty part of ``shape``, a ``nodata``
        that is not one real number, or a ``valid`` of another shape than the image or
        not of booleans (or numbers).
    TypeError
        For an ``antialias`` that is not True or False.

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> shift = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1.0]])  # output x reads input x + 1
    >>> warp(image, shift, (4, 4))[0].tolist()
    [1.0, 2.0, 3.0, nan]
    """
    image, _ = _check_warp_arguments(image, shape, order, block)
    inverse_map, shape = check_warp_target(inverse_map, shape)
    if 0 in image.shape:  # every output pixel would be NaN, whatever the map
        raise ValueError(f"image has no pixels to warp: its shape is {tuple(image.shape)}")
    return warp_lenient(image, inverse_map, shape, order=order, nodata=nodata, valid=valid,
                        antialias=antialias, block=block, window=window)


def check_window(window: tuple[int, int, int, int] | None, shape: tuple[int, int]
                 ) -> tuple[int, int, int, int]:
    """A window of an output, checked; a ValueError says what is wrong.

    Parameters
    ----------
    window : (r0, r1, c0, c1) or None
        Rows r0 to r1 and columns c0 to c1 (excluded); None for the whole output.
    shape : (int, int)
        The output's (rows, cols).

    Returns
    -------
    (int, int, int, int)
        ``window`` as ints (the whole of ``shape`` for None).

    Raises
    ------
    ValueError
        For a window that is not four integers or not a non-empty part of ``shape``.
    """
    if window is None:
        return 0, shape[0], 0, shape[1]
    if isinstance(window, (str, bytes)) or not hasattr(window, "__len__") \
            or len(window) != 4 or not all(_is_integer(side) for side in window):
        raise ValueError(f"window must be (r0, r1, c0, c1), four integers, got {window!r}")
    r0, r1, c0, c1 = (int(side) for side in window)
    if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
        raise ValueError(f"window {(r0, r1, c0, c1)} is not a non-empty part of the output "
                         f"of shape {tuple(shape)}")
    return r0, r1, c0, c1


def check_warp_target(inverse_map, shape, *, name: str = "inverse_map"
                      ) -> tuple[np.ndarray, tuple[int, int]]:
    """(matrix, shape) of a warp's output, checked; a ValueError names what is wrong.

    ``inverse_map`` must be a finite, invertible 3x3 matrix (called ``name`` in the
    message) and ``shape`` two integers >= 1: what :func:`warp`,
    :func:`sarfeat.io.warp_raster` and :func:`sarfeat.io.warp_onto` accept.
    """
    shape = _check_shape(shape, minimum=1)
    matrix = _check_matrix(inverse_map, name)
    if _singular(matrix):
        raise ValueError(f"{name} is singular (not invertible): it would read the whole output "
                         f"from one line or point of the input, got {matrix.tolist()}")
    return matrix, shape


def _singular(matrix: np.ndarray) -> bool:
    """True for a 3x3 matrix that is not invertible (to rounding), whatever its scales.

    Its determinant against the product of its column (or row) norms (Hadamard's bound,
    1 for orthogonal columns): a translation of 1e6 pixels or a zoom of 1e-6 is not
    singular, two proportional columns are.
    """
    determinant = abs(float(np.linalg.det(matrix)))
    bounds = [float(np.prod(np.linalg.norm(matrix, axis=axis))) for axis in (0, 1)]
    return not any(bound > 0 and determinant > _SINGULAR * bound for bound in bounds)


def _check_matrix(inverse_map, name: str = "inverse_map") -> np.ndarray:
    try:
        matrix = np.asarray(inverse_map, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 3x3 matrix of numbers, got {inverse_map!r}") \
            from None
    if matrix.shape != (3, 3):
        raise ValueError(f"{name} must be 3x3, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} has NaN or infinite entries: {matrix.tolist()}")
    return matrix


def _check_shape(shape, minimum: int = 0) -> tuple[int, int]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 2 \
            or not all(_is_integer(side) and side >= minimum for side in shape):
        raise ValueError(f"shape must be the output's (rows, cols), two integers >= {minimum}, "
                         f"got {shape!r}")
    return int(shape[0]), int(shape[1])


def warp_lenient(image, inverse_map, shape: tuple[int, int], *, order: int = 1, nodata=None,
                 valid=None, antialias: bool = False, block: int = WARP_BLOCK,
                 window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """:func:`warp` for sarfeat's own callers: an empty ``shape`` or a singular map allowed.

    The matcher resamples through candidate models and crops that may be
    degenerate; it gets what the warp computes (an empty array, or the values
    along the line that a singular map reads) rather than an error. ``window``: as
    :func:`warp` takes it (None, or an empty ``shape``: the whole output).
    """
    image, shape = _check_warp_arguments(image, shape, order, block)
    top, bottom, left, right = (0, shape[0], 0, shape[1]) if window is None or 0 in shape \
        else check_window(window, shape)
    inverse_map = _check_matrix(inverse_map)
    # checked here, not in the first block read: an output outside the input reads none
    check_nodata(nodata)
    if not isinstance(antialias, (bool, np.bool_)):  # antialias="no" would switch it on
        raise TypeError(f"antialias must be True or False, got {antialias!r}")
    if valid is not None and np.shape(valid) != np.shape(image):
        raise ValueError(f"valid shape {np.shape(valid)} differs from image shape "
                         f"{np.shape(image)}")
    if valid is not None and np.asarray(valid).dtype.kind not in "biuf":
        raise ValueError(f"valid dtype {np.asarray(valid).dtype} is not supported: pass "
                         "booleans (False on invalid pixels)")
    source_shape = np.shape(image)
    dtype = warp_dtype(np.asarray(image[:1, :1]).dtype)
    out = np.full((bottom - top, right - left),
                  complex(np.nan, np.nan) if dtype.kind == "c" else np.nan, dtype)
    # a Gaussian wider than the input blurs it to its mean: no wider one is made (a map
    # near its horizon asks for a sigma without bound)
    sigma = min(antialias_sigma(inverse_map), float(max(source_shape))) if antialias else 0.0
    margin = order + 3 + int(math.ceil(4 * sigma))
    for r0, r1, c0, c1 in window_blocks((top, bottom, left, right), block):
        source = source_window(inverse_map, (r0, r1, c0, c1), source_shape, margin)
        if source is None:
            continue
        s0, s1, t0, t1 = source
        into_block = np.array([[1, 0, c0], [0, 1, r0], [0, 0, 1.0]])
        from_window = np.array([[1, 0, -t0], [0, 1, -s0], [0, 0, 1.0]])
        local = ProjectiveTransform(matrix=from_window @ inverse_map @ into_block)
        part = image[s0:s1, t0:t1]
        ok = valid_mask(part, nodata, None if valid is None else valid[s0:s1, t0:t1])
        # a block whose window is cut by the input's edge may read outside it: the
        # input's extent in the window's coordinates
        edge = None
        if min(s0, t0) == 0 or s1 == source_shape[0] or t1 == source_shape[1]:
            edge = (-t0, source_shape[1] - 1 - t0, -s0, source_shape[0] - 1 - s0)
        out[r0 - top:r1 - top, c0 - left:c1 - left] = _warp_window(
            np.ma.getdata(part), ok, local, (r1 - r0, c1 - c0), order, sigma, edge)
    return out


def window_blocks(window: tuple[int, int, int, int], block: int
                  ) -> list[tuple[int, int, int, int]]:
    """The blocks of a grid that meet a window, cut to it, row by row.

    Parameters
    ----------
    window : (r0, r1, c0, c1)
        Rows and columns of the grid.
    block : int
        Side of the grid's square blocks, counted from its first pixel.

    Returns
    -------
    list of (r0, r1, c0, c1)
        The blocks that meet ``window``, cut to it: the grid's own blocks, whole, when
        the window's edges fall on theirs.

    Examples
    --------
    >>> window_blocks((100, 600, 0, 300), 512)
    [(100, 512, 0, 300), (512, 600, 0, 300)]
    """
    top, bottom, left, right = window
    return [(max(row, top), min(bottom, row + block), max(col, left), min(right, col + block))
            for row in range(top - top % block, bottom, block)
            for col in range(left - left % block, right, block)]


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_order(order) -> None:
    """Raise ValueError unless ``order`` is a spline order of :func:`warp`, an integer 0-5."""
    if not _is_integer(order) or not 0 <= order <= 5:
        raise ValueError(f"order must be a spline order 0-5 (0 nearest, 1 bilinear, 3 cubic), "
                         f"got {order!r}")


def _check_warp_arguments(image, shape, order, block) -> tuple[object, tuple[int, int]]:
    """(image, shape) of :func:`warp`, checked before any work; ValueError naming what is wrong.

    An array-like without ``shape`` and ``dtype`` (a nested list) is read as an array; an
    array, memory map, masked array or lazily normalised image is kept as it is.
    """
    if not (hasattr(image, "shape") and hasattr(image, "dtype")):
        try:
            image = np.asarray(image)
        except (TypeError, ValueError) as error:
            raise ValueError(f"image cannot be read as an array: {error}") from None
    dtype = np.dtype(image.dtype)
    if dtype.kind not in "biufc":
        raise ValueError(f"image dtype {dtype} is not supported: pass numbers (integer, float, "
                         "complex, or bool for a mask)")
    if len(image.shape) != 2:
        raise ValueError(f"expected a 2-D image, got shape {tuple(image.shape)}")
    shape = _check_shape(shape)
    check_order(order)
    if not _is_integer(block) or block < 1:
        raise ValueError(f"block must be an integer >= 1 (output pixels per side), got {block!r}")
    return image, shape


def _mapped_grid(matrix: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) where a 3x3 matrix maps every pixel (column, row) of ``shape``.

    Computed term by term, as skimage's transforms map points (a zero
    homogeneous coordinate read as machine epsilon), but without their matrix
    product of every pixel: that product starts the BLAS's threads, which then
    spin on the CPUs beside the caller's work. A pixel next to a horizon (a
    subnormal homogeneous coordinate) maps to infinity, outside the input: the
    warp's edge check makes it no-data.
    """
    cols = np.arange(shape[1], dtype=float)[None, :]
    rows = np.arange(shape[0], dtype=float)[:, None]
    (a, b, c), (d, e, f), (g, h, i) = np.asarray(matrix, dtype=float)
    w = g * cols + h * rows + i
    w = np.where(w == 0, np.finfo(float).eps, w)
    with np.errstate(over="ignore"):
        return (a * cols + b * rows + c) / w, (d * cols + e * rows + f) / w


def _warp_window(values: np.ndarray, ok: np.ndarray, transform, shape, order: int,
                 sigma: float, edge) -> np.ndarray:
    """One block: each real part resampled, then NaN outside the input and near no-data.

    Whatever the spline order, an output pixel is no-data when its source point
    lies outside the input's pixel centres (``edge``: their extent in window
    coordinates, None when the window is inside the input), or when invalid
    pixels carry more than ``MASK_THRESHOLD`` of its bilinear weight: one
    rule for every order (a cubic spline's longer reach costs no ring of pixels
    at the edge or around holes: there it reads the nearest valid pixels).
    """
    invalid = ~ok
    zeroed = bool(invalid.any())  # invalid pixels read as 0 (their bilinear weight is masked)
    if zeroed and ok.any() and (order > 1 or sigma > 0.05):
        # a cubic and the prefilter reach past the bilinear support that the mask checks:
        # invalid pixels read their nearest valid one there (as the input's edge repeats),
        # not a 0 that would bias the valid pixels next to them
        nearest = ndimage.distance_transform_edt(invalid, return_distances=False,
                                                 return_indices=True)
        values, zeroed = values[tuple(nearest)], False
    parts = (values.real, values.imag) if np.iscomplexobj(values) else (values,)
    # a cubic reaches a pixel beyond its source point: not clipped to the range of the window
    # read (which depends on the block), and the input's edge pixels repeated rather than
    # zeros read beyond them (orders 0 and 1 never leave their values' range nor the edge)
    beyond = {"clip": False, "mode": "edge"} if order > 1 else {}
    grid = _mapped_grid(transform.params, shape) if edge is not None or order not in (1, 3) \
        else None
    # skimage resamples orders 1 and 3 from the matrix itself; any other order maps every
    # output pixel through the transform first (a BLAS product, see _mapped_grid): it is
    # given that map, (row, col) of each output pixel, instead
    mapping = transform if order in (1, 3) else np.stack(grid[::-1])
    resampled = []
    for part in parts:
        part = np.where(ok, part, 0.0) if zeroed else part.astype(np.float64)
        if sigma > 0.05:
            part = ndimage.gaussian_filter(part, sigma, mode="nearest")
        resampled.append(_skimage_warp(part, mapping, output_shape=shape, order=order,
                                       cval=0.0, preserve_range=True, **beyond))
    if len(resampled) == 1:
        out = resampled[0]
    else:  # parts set, not summed: 1j * inf (a cubic beyond a horizon, no-data below) is NaN
        out = np.empty(shape, complex)
        out.real, out.imag = resampled
    bad = np.zeros(shape, bool)
    if not ok.all():
        spread = _skimage_warp(invalid.astype(np.float32), transform, output_shape=shape,
                               order=1, cval=0.0, preserve_range=True)
        bad |= spread > MASK_THRESHOLD
    if edge is not None:
        x, y = grid
        x0, x1, y0, y1 = edge
        bad |= ~((x >= x0 - _EDGE_TOLERANCE) & (x <= x1 + _EDGE_TOLERANCE)
                 & (y >= y0 - _EDGE_TOLERANCE) & (y <= y1 + _EDGE_TOLERANCE))
    out[bad] = complex(np.nan, np.nan) if len(parts) == 2 else np.nan
    return out
