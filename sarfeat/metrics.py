"""Accuracy of matches against a reference transform (sarfeat's definitions).

A reference transform maps image-1 (x, y) = (col, row) to image-2 (x, y); it
can be a skimage transform, any callable on (N, 2) arrays, or a 3x3 matrix.
A match's error is the distance between its image-2 keypoint and the
reference image of its image-1 keypoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_integer, check_number

if TYPE_CHECKING:
    from skimage.transform import SimilarityTransform

__all__ = [
    "correct_match_counts", "match_errors", "mean_matching_accuracy", "quarter_turn_repeatability",
    "registration_rmse", "repeatability", "similarity_warps", "turn_about_centre",
    "warped_channel_errors",
]


def _as_callable(transform, name: str = "transform") -> Callable[[np.ndarray], np.ndarray]:
    if callable(transform):
        return transform
    try:
        matrix = np.asarray(transform, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"a reference transform must be callable or a 3x3 matrix of numbers, "
                         f"got {transform!r}") from None
    if matrix.shape != (3, 3):
        raise ValueError(f"a reference transform must be callable or 3x3, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):  # every error would be NaN, every match a miss
        raise ValueError(f"{name} has NaN or infinite entries: {matrix.tolist()}")

    def apply(xy: np.ndarray) -> np.ndarray:
        homogeneous = np.c_[xy, np.ones(len(xy))] @ matrix.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    return apply


def _points(values, name: str) -> np.ndarray:
    """``values`` as (N, 2) float64 (row, col) keypoints; ValueError naming ``name`` otherwise
    (a NaN or infinite keypoint too: its error would be NaN, its match a miss)."""
    array = np.asarray(values)
    if array.size == 0:
        return np.empty((0, 2))
    if array.dtype.kind not in "iuf" or array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (row, col) numbers, got shape "
                         f"{array.shape} of dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has NaN or infinite coordinates: pass the keypoints found")
    return array.astype(np.float64)


def _match_indices(matches, count1: int, count2: int) -> np.ndarray:
    """(Q, 2) indices into two keypoint sets, checked: whole numbers within both sets."""
    array = np.asarray(matches)
    if array.size == 0:
        return np.empty((0, 2), dtype=np.intp)
    whole = array.dtype.kind in "iu" or (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0))
    if not whole or array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"matches must be a (Q, 2) array of integer indices, as "
                         f"skimage.feature.match_descriptors returns, got shape {array.shape} "
                         f"of dtype {array.dtype}")
    for column, count, name in ((0, count1, "keypoints1"), (1, count2, "keypoints2")):
        outside = (array[:, column] < 0) | (array[:, column] >= count)
        if outside.any():
            raise ValueError(f"matches[:, {column}] holds indices outside {name}, which has "
                             f"{count} keypoints: {array[outside, column][:5].tolist()}")
    return array.astype(np.intp)


def _image_shape(value, name: str) -> tuple[int, int]:
    """(rows, cols) of an image, checked: two integers >= 1."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2 \
            or not all(isinstance(side, (int, np.integer)) and not isinstance(side, bool)
                       and side >= 1 for side in value):
        raise ValueError(f"{name} must be an image's (rows, cols), two integers >= 1, "
                         f"got {value!r}")
    return int(value[0]), int(value[1])


def match_errors(keypoints1: ArrayLike, keypoints2: ArrayLike, matches: ArrayLike,
                 transform: Callable[[np.ndarray], np.ndarray] | ArrayLike) -> np.ndarray:
    """Reprojection error in pixels of each match under a reference transform.

    Parameters
    ----------
    keypoints1, keypoints2 : (N1, 2), (N2, 2) array_like
        Keypoints as (row, col), scikit-image's convention.
    matches : (Q, 2) array_like of int
        Index pairs, as :func:`skimage.feature.match_descriptors` returns.
    transform : callable or (3, 3) array_like
        Maps image-1 (x, y) to image-2 (x, y).

    Returns
    -------
    (Q,) ndarray of float

    Raises
    ------
    ValueError
        For keypoints that are not (N, 2) finite numbers, matches that are not (Q, 2) whole
        indices within both keypoint sets, or a transform neither callable nor a
        finite 3x3 matrix.
    """
    keypoints1, keypoints2 = _points(keypoints1, "keypoints1"), _points(keypoints2, "keypoints2")
    matches = _match_indices(matches, len(keypoints1), len(keypoints2))
    apply = _as_callable(transform)
    if len(matches) == 0:
        return np.empty(0)
    projected = apply(keypoints1[matches[:, 0]][:, ::-1])
    return np.linalg.norm(projected - keypoints2[matches[:, 1]][:, ::-1], axis=1)


def similarity_warps(count: int = 4, seed: int = 1) -> list[SimilarityTransform]:
    """Random similarity transforms: scale 0.8-1.0, rotation +-10 degrees, shift +-20 px.

    The warps of sarfeat's reduced-precision tests and of
    ``benchmarks/eval_warped_pairs.py`` (seed 1).

    Parameters
    ----------
    count : int
        How many transforms.
    seed : int
        Seed of the random draw.

    Returns
    -------
    list of skimage.transform.SimilarityTransform
    """
    from skimage.transform import SimilarityTransform

    rng = np.random.default_rng(seed)
    return [
        SimilarityTransform(scale=rng.uniform(0.8, 1.0), rotation=np.deg2rad(rng.uniform(-10, 10)),
                            translation=rng.uniform(-20, 20, 2))
        for _ in range(count)
    ]


def turn_about_centre(shape: tuple[int, int], degrees: float, scale: float = 1.0,
                      shift: tuple[float, float] = (0.0, 0.0)) -> SimilarityTransform:
    """The similarity that turns an image of ``shape`` by ``degrees`` about its centre.

    In (x, y) = (col, row) coordinates, from +x towards +y (clockwise as
    displayed, rows down: the opposite sense to :func:`skimage.transform.rotate`),
    for :func:`warped_channel_errors`.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) of the image.
    degrees : float
        The turn.
    scale : float
        A scaling about the centre, after the turn.
    shift : tuple of float
        A move by (x, y) pixels, last.

    Returns
    -------
    skimage.transform.SimilarityTransform
    """
    from skimage.transform import SimilarityTransform

    centre = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])  # (x, y)
    return (SimilarityTransform(translation=-centre)
            + SimilarityTransform(scale=scale, rotation=np.deg2rad(degrees))
            + SimilarityTransform(translation=centre + np.asarray(shift, dtype=float)))


def quarter_turn_repeatability(detector: Any, image: np.ndarray, tolerance: float = 1.0
                               ) -> float:
    """Fraction of ``image``'s keypoints found again within ``tolerance`` px on its quarter turns.

    Parameters
    ----------
    detector : object
        Anything with ``detect`` and ``keypoints`` ((N, 2) row, col), e.g. a
        :class:`~sarfeat.SARR2D2Detector`.
    image : (H, W) ndarray
    tolerance : float
        Pixels.

    Returns
    -------
    float
        Pooled over the turns by 90, 180 and 270 degrees (:func:`numpy.rot90`);
        a turn without keypoints finds none again. NaN when ``image`` has no
        keypoint.
    """
    from scipy.spatial import cKDTree

    from .orientation import turn_positions

    detector.detect(image)
    keypoints = np.asarray(detector.keypoints, dtype=np.float64).reshape(-1, 2)
    if len(keypoints) == 0:
        return float("nan")
    found = 0
    for turns in (1, 2, 3):
        detector.detect(np.ascontiguousarray(np.rot90(image, turns)))
        turned = np.asarray(detector.keypoints, dtype=np.float64).reshape(-1, 2)
        if len(turned) == 0:
            continue
        expected = np.stack(turn_positions(keypoints[:, 0], keypoints[:, 1], image.shape,
                                           turns), axis=1)
        found += int(np.count_nonzero(cKDTree(turned).query(expected)[0] <= tolerance))
    return found / (3 * len(keypoints))


def warped_channel_errors(detector: Any, cube: np.ndarray, transforms: Sequence
                          ) -> np.ndarray:
    """Errors of a detector's mutual nearest neighbours between two channels of a scene.

    The first channel of ``cube`` is matched against the last one warped by each
    transform, and the last against the first likewise.

    Parameters
    ----------
    detector : object
        Anything with ``detect_and_extract``, ``keypoints`` and ``descriptors``
        (e.g. an upright :class:`~sarfeat.SARR2D2Detector`).
    cube : (H, W, C) ndarray
        The scene's channels.
    transforms : sequence of skimage transforms
        Warps of (x, y), each with an ``inverse``.

    Returns
    -------
    (Q,) ndarray of float
        The :func:`match_errors` of all the matches, pooled.
    """
    from skimage.feature import match_descriptors
    from skimage.transform import warp

    last, errors = cube.shape[-1] - 1, []
    for first, second in ((0, last), (last, 0)):
        detector.detect_and_extract(cube[..., first])
        keypoints1, descriptors1 = detector.keypoints, detector.descriptors
        for transform in transforms:
            moved = warp(cube[..., second], transform.inverse, order=1, cval=np.nan,
                         preserve_range=True).astype(np.float32)
            detector.detect_and_extract(moved)
            matches = match_descriptors(descriptors1, detector.descriptors, cross_check=True)
            errors.append(match_errors(keypoints1, detector.keypoints, matches, transform))
    return np.concatenate(errors)


def mean_matching_accuracy(
    keypoints1: ArrayLike, keypoints2: ArrayLike, matches: ArrayLike,
    transform: Callable[[np.ndarray], np.ndarray] | ArrayLike,
    thresholds: float | Sequence[float] = 3.0,
) -> float | np.ndarray:
    """MMA: the fraction of matches whose error is at most each threshold.

    Parameters
    ----------
    keypoints1, keypoints2, matches, transform : array_like or callable
        As in :func:`match_errors`.
    thresholds : float or sequence of float
        Pixel thresholds (the literature reports t = 1..10).

    Returns
    -------
    float, or ndarray of the thresholds' shape; NaN when there is no match.
    """
    limits = np.asarray(thresholds)
    if limits.dtype.kind not in "iuf" or not np.all(np.isfinite(limits)) or np.any(limits < 0):
        raise ValueError(f"thresholds must be finite numbers of pixels >= 0, got {thresholds!r}")
    limits = limits.astype(np.float64)
    errors = match_errors(keypoints1, keypoints2, matches, transform)
    if len(errors) == 0:
        result = np.full(limits.shape, np.nan)
    else:
        result = (errors[:, None] <= limits.reshape(1, -1)).mean(axis=0).reshape(limits.shape)
    return float(result) if result.ndim == 0 else result


def _grid_inside(reference, shape1: tuple[int, int], shape2: tuple[int, int], size: int):
    rows = np.linspace(0, shape1[0] - 1, size)
    cols = np.linspace(0, shape1[1] - 1, size)
    xy = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    mapped = _as_callable(reference, "reference")(xy)
    inside = (
        (mapped[:, 0] >= 0) & (mapped[:, 0] <= shape2[1] - 1)
        & (mapped[:, 1] >= 0) & (mapped[:, 1] <= shape2[0] - 1)
    )
    return xy[inside], mapped[inside]


def registration_rmse(
    estimate: Callable[[np.ndarray], np.ndarray] | ArrayLike | None,
    reference: Callable[[np.ndarray], np.ndarray] | ArrayLike,
    shape1: tuple[int, int], shape2: tuple[int, int], grid: int = 20,
) -> float:
    """RMSE in pixels between an estimated and the reference mapping of image 1 to image 2.

    Parameters
    ----------
    estimate, reference : callable or (3, 3) array_like
        Transforms of image-1 (x, y) to image-2 (x, y); ``estimate`` None means
        the registration failed (infinite error).
    shape1, shape2 : tuple of int
        (rows, cols) of the two images.
    grid : int
        The error is measured on a ``grid`` x ``grid`` lattice of image-1 points,
        keeping those the reference maps inside image 2.

    Returns
    -------
    float
        ``inf`` when ``estimate`` is None, when no grid point lands in image 2, or
        when ``estimate`` sends a grid point to infinity (a projective map whose
        horizon crosses the grid).

    Raises
    ------
    ValueError
        For shapes that are not two integers >= 1, a ``grid`` under 1, or a transform
        neither callable nor a finite 3x3 matrix.
    """
    shape1, shape2 = _image_shape(shape1, "shape1"), _image_shape(shape2, "shape2")
    check_integer("grid", grid)
    if estimate is None:
        return float("inf")
    xy, expected = _grid_inside(reference, shape1, shape2, grid)
    if len(xy) == 0:
        return float("inf")
    matrix = getattr(estimate, "params", None)  # a skimage transform's matrix: its own call
    if isinstance(matrix, np.ndarray) and matrix.shape == (3, 3) and np.isfinite(matrix).all():
        estimate = matrix  # divides by eps, not 0, on the horizon: a finite error of ~1e17 px
    with np.errstate(divide="ignore", invalid="ignore"):  # a point sent to infinity
        error = _as_callable(estimate, "estimate")(xy) - expected
    if not np.all(np.isfinite(error)):  # was NaN (0 / 0) for a point on the estimate's horizon
        return float("inf")
    return float(np.sqrt(np.mean(np.sum(error ** 2, axis=1))))


def correct_match_counts(
    keypoints1: ArrayLike, keypoints2: ArrayLike, matches: ArrayLike,
    reference: Callable[[np.ndarray], np.ndarray] | ArrayLike, threshold: float = 3.0,
) -> tuple[int, float]:
    """NCM (matches within ``threshold`` px of the reference) and CMR (NCM / matches).

    Parameters
    ----------
    keypoints1, keypoints2, matches, reference : array_like or callable
        As in :func:`match_errors` (``reference`` is its ``transform``).
    threshold : float
        A finite number of pixels >= 0 (ValueError otherwise).

    Returns
    -------
    tuple of (int, float)
        NCM and CMR; CMR is NaN when there is no match (0 / 0: no ratio to give,
        as :func:`mean_matching_accuracy`), NCM then 0.
    """
    check_number("threshold", threshold, 0)
    errors = match_errors(keypoints1, keypoints2, matches, reference)
    correct = int(np.count_nonzero(errors <= threshold))
    return correct, correct / len(errors) if len(errors) else float("nan")


def repeatability(
    keypoints1: ArrayLike, keypoints2: ArrayLike,
    transform: Callable[[np.ndarray], np.ndarray] | ArrayLike,
    shape1: tuple[int, int], shape2: tuple[int, int], threshold: float = 3.0,
) -> float:
    """Repeatability of two keypoint sets under a reference transform.

    The symmetric definition of the R2D2/SuperPoint literature: only keypoints
    that the reference maps into the other image count; a keypoint is repeated
    when the other image has a keypoint within ``threshold`` pixels of its
    image (measured in image 2 for image-1 keypoints, in image 1 for image-2
    keypoints). Repeatability is the number of repeated keypoints of both
    images over the number of keypoints of both images that count.

    Parameters
    ----------
    keypoints1, keypoints2 : (N1, 2), (N2, 2) array_like
        Keypoints as (row, col).
    transform : callable or (3, 3) array_like
        Maps image-1 (x, y) to image-2 (x, y). A callable needs an ``inverse``
        attribute (as skimage transforms have); a matrix is inverted.
    shape1, shape2 : tuple of int
        (rows, cols) of the two images.
    threshold : float
        Distance in pixels within which a keypoint is repeated.

    Returns
    -------
    float
        In [0, 1]; NaN when no keypoint of either image lands in the other.

    Raises
    ------
    ValueError
        For keypoints that are not (N, 2) finite numbers, shapes that are not two
        integers >= 1, a negative ``threshold``, or a singular or non-finite matrix.
    """
    shape1, shape2 = _image_shape(shape1, "shape1"), _image_shape(shape2, "shape2")
    check_number("threshold", threshold, 0)
    xy1, xy2 = _points(keypoints1, "keypoints1"), _points(keypoints2, "keypoints2")
    xy1, xy2 = xy1[:, ::-1], xy2[:, ::-1]
    forward = _as_callable(transform)
    if callable(transform):
        try:  # a skimage transform inverts its matrix when asked: hasattr would raise too
            backward = _as_callable(transform.inverse)
        except AttributeError:
            raise ValueError("a callable transform needs an inverse attribute; pass a 3x3 "
                             "matrix") from None
        except np.linalg.LinAlgError:  # was numpy's "Singular matrix"
            raise ValueError("transform is singular (it has no inverse)") from None
    else:
        try:
            backward = _as_callable(np.linalg.inv(np.asarray(transform, dtype=np.float64)))
        except np.linalg.LinAlgError:
            raise ValueError(f"transform is singular (it has no inverse): "
                             f"{np.asarray(transform).tolist()}") from None

    def inside(xy: np.ndarray, shape) -> np.ndarray:
        return (
            (xy[:, 0] >= -0.5) & (xy[:, 0] <= shape[1] - 0.5)
            & (xy[:, 1] >= -0.5) & (xy[:, 1] <= shape[0] - 0.5)
        )

    mapped1 = forward(xy1) if len(xy1) else xy1  # image-1 keypoints in image 2
    mapped2 = backward(xy2) if len(xy2) else xy2  # image-2 keypoints in image 1
    counted1 = mapped1[inside(mapped1, shape2)]
    counted2 = mapped2[inside(mapped2, shape1)]
    total = len(counted1) + len(counted2)
    if total == 0:
        return float("nan")
    from scipy.spatial import cKDTree

    repeated = 0
    if len(counted1) and len(xy2):
        repeated += int(np.count_nonzero(cKDTree(xy2).query(counted1)[0] <= threshold))
    if len(counted2) and len(xy1):
        repeated += int(np.count_nonzero(cKDTree(xy1).query(counted2)[0] <= threshold))
    return repeated / total
