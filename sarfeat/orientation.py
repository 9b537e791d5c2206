"""Rotation invariance for :class:`~sarfeat.SARR2D2Detector`.

The R2D2 network is not rotation invariant: its repeatability and reliability
maps, and hence its keypoints, move when the image turns, and its descriptor
is lost beyond about 15 degrees. The detector's default (``upright=False``)
makes all three invariant without retraining:

**Keypoints: quarter-turn averaged maps.** The network is run on the image and
on its three exact quarter turns (:func:`numpy.rot90` moves pixels without
interpolating them), each map is turned back, and the four reliability and
repeatability maps are averaged (:func:`quarter_turn_maps`). The averaged maps
are exactly equivariant under quarter turns, so the keypoints of an image
turned by 90, 180 or 270 degrees are those of the image, turned; at other
angles the average keeps only the 90-degree-periodic part of the network's
dependence on direction. On the AIRSAR pair (HH against VV turned; keypoints
of HH more than 40 px from its border found again within 3 px), 0.78 of the
keypoints repeat at 0, 90 and 180 degrees and 0.72 at 45, against 0.77, 0.44,
0.23 and 0.66 with the network's own maps. Two turns (0 and 180 degrees)
would halve the cost, but MMA@3 then falls to 0.51 at 45 degrees and 0.71 at
90. The average lowers the maps' peaks, so the default thresholds are
``TURNED_THRESHOLD_SHIFT`` below those recommended for the upright maps
(0.5 instead of 0.65 for the bundled weights: about as many keypoints, and the
best MMA@3 of 0.4 to 0.65). The detector's default takes this average from a
small network distilled to give it in one run, where the weights have one
(``SARR2D2Detector(turned_maps=...)``; measured in
``benchmarks/eval_turned_maps.py`` and the model card).

**Orientation: intensity centroid.** Each keypoint's orientation is the
direction of the gradient of the log-intensity image smoothed by a Gaussian of
``ORIENTATION_SIGMA`` times the keypoint's patch diameter
(:func:`dominant_orientations`): ORB's intensity centroid with a Gaussian
window, which averages the speckle over the whole patch. It is continuous in
the angle, needs no histogram, and costs two filtered copies of each pyramid
level. Between HH and VV it agrees within 10 degrees for 55 to 65 % of the
keypoints, as SAR-SIFT's ROEWA orientation histogram does, at a fraction of
its cost; of the windows measured (0.125 to 0.5 diameters), 0.25 was the best
compromise over the three bundled scenes and the angles.

**Descriptor: polar invariants (the default) or the turned patch.** The
detector's default descriptor, ``descriptor='polar'``, needs no orientation:
rotation invariants of the prefiltered log-intensity image on rings around the
keypoint (:mod:`sarfeat.polar_descriptor`). The same 11 x 11 patch turned by
the exact orientation (known from the warp) matched far better than turned by
the gradient orientation (Sentinel-1 VV/VH: MMA@3 0.72 against 0.42), so the
orientation, not the patch, was what failed; the polar descriptor matches as
well as that exact-orientation patch on the training scenes. The turned patch
stays available as ``descriptor='patch'``. It is the
normalised log-intensity patch of :mod:`sarfeat.descriptors` (``'log_patch'``)
sampled on a grid turned by the keypoint's orientation
(:func:`oriented_log_patches`): a ``PATCH_SIZE`` x ``PATCH_SIZE`` grid over a
square of side ``PATCH_SCALE`` times the patch diameter, after a Gaussian
anti-aliasing prefilter of ``PATCH_SIGMA`` grid spacings; the samples minus
their mean, divided by their norm, so that the dot product of two descriptors
is the normalised cross-correlation of the two patches. A gain on the
intensity is an offset in dB, which the mean removes. Steering the network's
R2D2 descriptor instead (the network run on each keypoint's patch turned to
its orientation, many times the cost) matched less well, MMA@3 0.79 at 0 and
0.66 at 45 degrees on AIRSAR against 0.86 and 0.71: the R2D2 descriptor
tolerates little orientation error (upright, 0.83 at 10 degrees, 0.40 at 20).

Orientations are angles in radians, ``atan2(d_row, d_col)``, i.e. measured in
(x = col, y = row) image coordinates as :class:`skimage.feature.ORB` measures
them: 0 points along +col, pi/2 along +row. Turning an image
counter-clockwise (as displayed, row 0 at the top) by ``phi`` subtracts
``phi`` from the orientations of its keypoints.

Everything here except :func:`quarter_turn_maps` is plain NumPy/SciPy, and
:func:`quarter_turn_maps` takes the network as a function: none of it needs
the network to be tested.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from .polar_descriptor import POLAR_LENGTH, POLAR_RADII, polar_descriptors, polar_features
from .runtime import steering_arithmetic
from .runtime.kernels import steering as _fused_steering
from .runtime.kernels import worth_compiling

if TYPE_CHECKING:
    from .runtime import DenseMaps

__all__ = [
    "turn_positions", "quarter_turn_maps", "dominant_orientations", "oriented_log_patches",
    "LevelSteering", "ORIENTATION_SIGMA", "PATCH_SIZE", "PATCH_SCALE", "PATCH_SIGMA",
    "TURNED_THRESHOLD_SHIFT", "DESCRIPTORS", "descriptor_length",
]

#: Standard deviation of the Gaussian window of the orientation, as a fraction
#: of the keypoint's patch diameter (8 px at the full-resolution diameter 32).
ORIENTATION_SIGMA = 0.25
#: Samples per side of the turned log-intensity patch (descriptor length is its square).
PATCH_SIZE = 11
#: Side of the turned patch as a multiple of the keypoint's patch diameter.
PATCH_SCALE = 1.25
#: Gaussian anti-aliasing prefilter of the patch, in grid spacings.
PATCH_SIGMA = 0.5
#: How much lower the default thresholds are on the quarter-turn averaged maps
#: than the thresholds recommended for the upright maps.
TURNED_THRESHOLD_SHIFT = 0.15
#: Descriptors of the rotation-invariant detector: the patch turned by the
#: keypoint's orientation, or the polar descriptor that needs no orientation
#: (:mod:`sarfeat.polar_descriptor`).
DESCRIPTORS = ("patch", "polar")


def descriptor_length(descriptor: str) -> int:
    """Length of a ``DESCRIPTORS`` descriptor (ValueError for an unknown name).

    Parameters
    ----------
    descriptor : {'patch', 'polar'}
        The descriptor's name.

    Returns
    -------
    int
    """
    if descriptor == "patch":
        return PATCH_SIZE * PATCH_SIZE
    if descriptor == "polar":
        return POLAR_LENGTH
    raise ValueError(f"unknown descriptor {descriptor!r}; choose one of {DESCRIPTORS}")


def turn_positions(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], turns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where (row, col) positions of an image of ``shape`` lie in ``np.rot90(image, turns)``.

    Parameters
    ----------
    rows, cols : ndarray
        Positions, fractional allowed (pixel centres at integers).
    shape : tuple of int
        The image's (rows, cols).
    turns : int
        Counter-clockwise quarter turns, as :func:`numpy.rot90` counts them; negative
        values turn clockwise.

    Returns
    -------
    rows, cols : ndarray
        The positions in the turned image.
    """
    height, width = shape
    for _ in range(turns % 4):
        # np.rot90(a)[i, j] == a[j, width - 1 - i]
        rows, cols = (width - 1) - cols, rows
        height, width = width, height
    return rows, cols


def quarter_turn_maps(run: Callable, gray: np.ndarray) -> DenseMaps:
    """Reliability and repeatability of ``gray`` averaged over its four quarter turns.

    Parameters
    ----------
    run : callable
        Takes an (H, W) float tensor and returns maps with ``reliability`` and
        ``repeatability`` (H, W) tensors, like
        ``sarfeat.runtime.torch.DenseRunner.run``.
    gray : Tensor, shape (H, W)
        The image, values in [0, 1].

    Returns
    -------
    maps
        What ``run(gray)`` returns, with ``reliability`` and ``repeatability``
        replaced by the mean, over ``k`` in 0..3, of ``run(rot90(gray, k))``
        turned back by ``-k``. Its other fields (the descriptor features) are
        those of the unturned image.

    Notes
    -----
    An odd side is first made even by repeating the last row or column, as
    the runner does for the unturned image, so that the network's 2 x 2
    pooling pairs the same pixels in every turn. This keeps the maps of a
    tile equal to those of the whole image (tiles start on even pixels); the
    price is that on odd-sized images the quarter-turn equivariance is exact
    only up to that repeated line.
    """
    gray = np.asarray(gray, np.float32)
    height, width = gray.shape
    upright = run(gray)
    reliability = upright.reliability.copy()
    repeatability = upright.repeatability.copy()
    if height % 2 or width % 2:
        gray = np.pad(gray, ((0, height % 2), (0, width % 2)), mode="edge")
    for turns in (1, 2, 3):
        maps = run(np.ascontiguousarray(np.rot90(gray, turns)))
        reliability += np.rot90(maps.reliability, -turns)[:height, :width]
        repeatability += np.rot90(maps.repeatability, -turns)[:height, :width]
        del maps
    upright.reliability = reliability * np.float32(0.25)
    upright.repeatability = repeatability * np.float32(0.25)
    return upright


def dominant_orientations(
    image: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: float
) -> np.ndarray:
    """Orientation of the Gaussian-smoothed gradient of ``image`` at (row, col) positions.

    Parameters
    ----------
    image : (H, W) ndarray
        A log-intensity image (for example the normalised image of
        :func:`sarfeat.normalize_sar`).
    rows, cols : (N,) ndarray
        Positions, fractional allowed.
    sigma : float
        Standard deviation of the Gaussian, in pixels.

    Returns
    -------
    (N,) ndarray
        ``atan2(d_row, d_col)`` in radians, in [-pi, pi]; 0 where the smoothed
        gradient vanishes.
    """
    return LevelSteering(image, sigma).orientations(rows, cols)


def oriented_log_patches(
    image: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    orientations: np.ndarray,
    side: float,
    size: int = PATCH_SIZE,
    prefilter: float = PATCH_SIGMA,
) -> np.ndarray:
    """Normalised log-intensity patches on grids turned by ``orientations``.

    Parameters
    ----------
    image : (H, W) ndarray
        A log-intensity image.
    rows, cols, orientations : (N,) ndarray
        Keypoint positions and orientations (radians, ``atan2(d_row, d_col)``).
    side : float
        Side of the square patch, in pixels.
    size : int
        Samples per side of the grid.
    prefilter : float
        Gaussian anti-aliasing prefilter, in grid spacings (``side / size`` px).

    Returns
    -------
    (N, size * size) ndarray of float32
        Zero-mean, unit-norm rows (zero rows for flat patches). Samples
        outside the image repeat its edge.
    """
    steering = LevelSteering(image, 1.0, side=side, size=size, prefilter=prefilter)
    return steering.describe(rows, cols, orientations)


def _steering(work: int):
    """The steering kernels for ``work`` pixels: numba's when it is installed and worth
    loading (:func:`~sarfeat.runtime.kernels.worth_compiling`), else their numpy twins
    (same bits)."""
    if _fused_steering.available() and worth_compiling(work):
        return _fused_steering
    return steering_arithmetic


class LevelSteering:
    """Orientation and turned-patch descriptor on one image (a pyramid level or a window of it).

    The filtered images are computed once, on first use, and reused for every
    keypoint. :meth:`around` makes one for a window of a level, with the margin
    that its filters and samples need, so that memory stays that of a tile
    and the results equal those on the whole level.

    Parameters
    ----------
    image : (H, W) ndarray
        Log-intensity image of the level, or of a window of it.
    sigma : float
        Gaussian window of the orientation, in level pixels.
    side : float
        Side of the descriptor patch, in level pixels.
    size : int
        Samples per side of the descriptor grid.
    prefilter : float
        Anti-aliasing prefilter of the patch, in grid spacings.
    origin : (int, int)
        Level position of ``image[0, 0]``: the methods take level positions.
    orienter : callable, optional
        ``orienter(image, rows, cols)`` -> orientations, in place of the
        gradient (e.g. :class:`sarfeat.learned_orientation.LearnedOrientation`);
        it must read no further than its ``reach()`` pixels from a position.
    descriptor : {'patch', 'polar'}
        What :meth:`describe` computes: the patch turned by the given
        orientations, or the rotation-invariant polar descriptor of
        :mod:`sarfeat.polar_descriptor` (same prefilter, orientations unused).
    """

    def __init__(
        self,
        image,
        sigma: float,
        side: float = 32.0 * PATCH_SCALE,
        size: int = PATCH_SIZE,
        prefilter: float = PATCH_SIGMA,
        origin: tuple[int, int] = (0, 0),
        orienter: Callable | None = None,
        descriptor: str = "patch",
    ) -> None:
        descriptor_length(descriptor)  # checks the name
        self.descriptor = descriptor
        self.image = np.asarray(image, dtype=np.float32)
        self.orienter = orienter
        self.sigma = float(sigma)
        self.side = float(side)
        self.size = int(size)
        self.prefilter = float(prefilter)
        self.origin = (int(origin[0]), int(origin[1]))
        self._gradient = None
        self._smooth = None

    @staticmethod
    def reach(sigma: float, side: float, size: int = PATCH_SIZE,
              prefilter: float = PATCH_SIGMA) -> int:
        """Pixels around a position that its orientation and descriptor depend on."""
        # scipy's Gaussian filters stop at 4 standard deviations (truncate=4.0)
        orientation = int(4.0 * sigma + 0.5)
        corner = (0.5 - 0.5 / size) * side * math.sqrt(2)
        corner = max(corner, 0.5 * side * max(POLAR_RADII))  # the polar descriptor's rings
        patch = corner + int(4.0 * prefilter * side / size + 0.5)
        return math.ceil(max(orientation, patch)) + 2  # bilinear sampling, sub-pixel positions

    @classmethod
    def around(cls, image, box: tuple[int, int, int, int], sigma: float, side: float,
               **options) -> LevelSteering:
        """A steering for positions in ``box`` = (row0, row1, col0, col1) of ``image``.

        It holds the window of ``image`` around ``box`` that the positions'
        orientations and descriptors read (:meth:`reach` pixels more, within
        the image), so the results equal those on the whole image.
        """
        reach = cls.reach(sigma, side, options.get("size", PATCH_SIZE),
                          options.get("prefilter", PATCH_SIGMA))
        if options.get("orienter") is not None:
            reach = max(reach, options["orienter"].reach())
        height, width = image.shape
        row0, row1 = max(0, box[0] - reach), min(height, box[1] + reach)
        col0, col1 = max(0, box[2] - reach), min(width, box[3] + reach)
        return cls(image[row0:row1, col0:col1], sigma, side, origin=(row0, col0), **options)

    def orientations(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Orientations (radians, [-pi, pi]) at level positions."""
        local_rows = np.asarray(rows, np.float64) - self.origin[0]
        local_cols = np.asarray(cols, np.float64) - self.origin[1]
        if self.orienter is not None:
            return np.asarray(self.orienter(self.image, local_rows, local_cols), np.float64)
        if self._gradient is None and _fused_steering.cheaper_than_filtering(
                len(local_rows), self.image.shape, self.sigma):
            # few positions: filter only around them (the same values, see
            # sarfeat.runtime.kernels.steering), compiled or in numpy (the same bits)
            kernels = _steering(self.image.size)
            d_row, d_col = kernels.smoothed_gradients(self.image, local_rows, local_cols,
                                                      self.sigma)
            return np.arctan2(d_row, d_col).astype(np.float64)
        if self._gradient is None:
            self._gradient = (
                ndimage.gaussian_filter(self.image, self.sigma, order=(1, 0), mode="nearest"),
                ndimage.gaussian_filter(self.image, self.sigma, order=(0, 1), mode="nearest"),
            )
        coords = np.stack([local_rows, local_cols])
        d_row = ndimage.map_coordinates(self._gradient[0], coords, order=1, mode="nearest")
        d_col = ndimage.map_coordinates(self._gradient[1], coords, order=1, mode="nearest")
        return np.arctan2(d_row, d_col).astype(np.float64)

    def orient_and_describe(self, rows: np.ndarray, cols: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
        """Orientations and descriptors at level positions.

        With the polar descriptor and the gradient orientation, both come from
        one sampling of the rings (:func:`sarfeat.polar_descriptor.polar_features`:
        the orientation is the rings' Gaussian-weighted gradient, ``sigma`` as
        :meth:`orientations`, on the prefiltered image); otherwise
        :meth:`orientations`, then :meth:`describe` turned by them.
        """
        if self.descriptor != "polar" or self.orienter is not None:
            orientations = self.orientations(rows, cols)
            return orientations, self.describe(rows, cols, orientations)
        rows = np.asarray(rows, np.float64) - self.origin[0]
        cols = np.asarray(cols, np.float64) - self.origin[1]
        return polar_features(self._prefiltered(), rows, cols, 0.5 * self.side, self.sigma)

    def _prefiltered(self) -> np.ndarray:
        """The image after the patch's Gaussian prefilter (computed once)."""
        if self._smooth is None:
            sigma = self.prefilter * self.side / self.size
            if sigma <= 0:
                self._smooth = self.image
            else:  # scipy's filter in float32, compiled or in numpy (the same bits)
                self._smooth = _steering(self.image.size).gaussian_smooth(self.image, sigma)
        return self._smooth

    def describe(self, rows: np.ndarray, cols: np.ndarray, orientations: np.ndarray) -> np.ndarray:
        """(N, D) float32 descriptors at level positions: turned log patches (D = size**2),
        or polar descriptors (D = POLAR_LENGTH, ``orientations`` unused)."""
        self._prefiltered()
        p = self.size
        grid = ((np.arange(p) + 0.5) / p - 0.5) * self.side
        rows = np.asarray(rows, np.float64) - self.origin[0]
        cols = np.asarray(cols, np.float64) - self.origin[1]
        if self.descriptor == "polar":
            return polar_descriptors(self._smooth, rows, cols, 0.5 * self.side)
        kernels = _steering(self.image.size)
        return kernels.turned_patches(self._smooth, rows, cols, orientations, grid)
