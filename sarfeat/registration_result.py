"""What :func:`sarfeat.register` returns: :class:`RegistrationResult`.

Its ``transform`` maps fixed (x, y) to moving (x, y) (see :mod:`sarfeat.registration`);
``warped``, the moving image on the fixed grid, is resampled when first read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.transform import ProjectiveTransform

from .geometry import warp
from .io import warp_band_onto_curved, warp_colour

__all__ = ["RegistrationResult"]


@dataclass
class RegistrationResult:
    """What :func:`register` found.

    Each attribute is documented at its declaration (linkable in the API reference as
    ``sarfeat.RegistrationResult.<name>``): :attr:`transform`,
    :attr:`warped`, :attr:`matches`, :attr:`inliers`, :attr:`keypoints_fixed`,
    :attr:`keypoints_moving`, :attr:`diagnostics`, :attr:`confidence`,
    :attr:`coarse_failed`, :attr:`seconds` and :attr:`votes`; :attr:`moving_to_fixed` and
    :attr:`inlier_matches` are derived from them.
    """

    transform: ProjectiveTransform
    """skimage.transform.ProjectiveTransform: maps fixed-image (x, y) = (col, row) to
    moving-image (x, y) (the subclass given by ``model``: affine, similarity or
    projective). This is the ``inverse_map`` of :func:`skimage.transform.warp`."""
    matches: np.ndarray
    """(Q, 2) ndarray of int: fine-stage matches that reached the vote threshold: indices
    into :attr:`keypoints_fixed` and :attr:`keypoints_moving`."""
    inliers: np.ndarray
    """(Q,) ndarray of bool: which :attr:`matches` agree with :attr:`transform`."""
    keypoints_fixed: np.ndarray
    """(N1, 2) ndarray: fine-stage keypoints (row, col) of the fixed image, in its keypoint
    type (:func:`sarfeat.detector_input.keypoint_dtype`: float32 for a float32 or complex64
    array, else float64; float64 in a file's pixels)."""
    keypoints_moving: np.ndarray
    """(N2, 2) ndarray: fine-stage keypoints (row, col) of the moving image, in its keypoint
    type (as :attr:`keypoints_fixed`)."""
    diagnostics: dict = field(default_factory=dict)
    """dict: ``coarse_candidates``, ``coarse_inliers``, ``fine_candidates``,
    ``fine_inliers`` (matches per stage; the coarse two are None for a pair with an optical
    image, whose coarse stage is a global correlation search, ``coarse_score``, that
    matches no points), ``residual_median`` and ``residual_rms`` (of the inliers: the
    distance from :attr:`transform` of a fixed keypoint to its moving keypoint, in
    moving-image pixels), ``coarse_angle`` (degrees, the turn of the moving image at which
    the coarse stage matched), ``prior`` (``'coarse'`` or ``'identity'``),
    ``coarse_failed`` (as the attribute), ``overlap_fraction`` (of the fixed image),
    ``spread`` (fraction of the overlap covered by the inliers), ``network`` (the runtime,
    precision and device that ran the keypoint network,
    :attr:`~sarfeat.SARR2D2Detector.runtime_used`; None for a pair with an optical image,
    matched without it), ``modality`` (only for a pair with an optical image:
    ``'optical-sar'``, ``'sar-optical'`` or, for two optical images,
    ``'optical-optical'``), and the matcher's other counts and timings."""
    confidence: float = 0.0
    """float: in [0, 1], the product of three terms, each 1 when that evidence is ample: the
    number of inliers n (``1 - exp(-n / 25)``), the inlier ratio among the voted matches
    (saturating at 0.5) and the spatial spread of the inliers (their convex hull over the
    overlap, saturating at a quarter of it), halved when :attr:`coarse_failed`."""
    seconds: float = 0.0
    """float: wall-clock time of the call."""
    coarse_failed: bool = False
    """bool: True when the coarse stage gave no model, or one weaker than the local search
    around the initial transform (the identity: the images taken as aligned, or as their
    georeferencing aligns them): the transform then rests on that local search alone,
    which a periodic texture can fool. Check such a result before trusting it."""
    votes: np.ndarray | None = None
    """(Q,) ndarray of int or None: how many descriptor votes each of :attr:`matches`
    received in the fine stage; for a pair with an optical image (matched densely, without
    votes), each placement's correlation in hundredths (0-100)."""
    #: (moving, order, nodata, shape) of the resampling that ``warped`` computes when read, by
    #: ``transform``; with a fifth, (fixed, moving, correction) of two rasters in two CRSs,
    #: as :func:`sarfeat.io.warp_band_onto_curved` resamples a band across them
    resampling: tuple | None = field(default=None, repr=False, compare=False)
    _warped: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def warped(self) -> np.ndarray | None:
        """The moving image resampled onto the fixed image's grid (H, W), made when first read.

        An (H, W) ndarray of float or complex, in the moving image's own units and dtype
        (float32 or wider, complex kept); NaN where the fixed grid falls outside the moving
        image (or on its no-data). Computed with :func:`sarfeat.geometry.warp` when first
        read, so a caller that resamples otherwise (the command line resamples every band of
        the file) never pays for it. A result in two files' pixels across two CRSs
        (:meth:`sarfeat.registration.PairInputs.in_file_pixels`) is resampled as
        ``register -o`` resamples the file, by the exact map between the CRSs
        (:func:`sarfeat.io.warp_band_onto_curved`), not by :attr:`transform`, an affine fit
        of it. A colour moving image gives (H, W, 3) or (H, W, 4),
        resampled by :func:`sarfeat.io.warp_colour`: an 8-bit RGBA's colour weighted by its
        alpha, as the command line resamples an RGBA file.
        """
        if self._warped is None and self.resampling is not None:
            moving, order, nodata, shape, *onto = self.resampling
            if onto:  # a band of a file in another CRS than the fixed file's
                fixed, raster, correction = onto[0]
                self._warped = warp_band_onto_curved(moving, raster, fixed, correction,
                                                     order=order, nodata=nodata)
            elif np.ndim(moving) == 3:  # a colour optical image: as a picture, alpha-weighted
                self._warped = warp_colour(moving, self.transform.params, shape, order=order,
                                           nodata=nodata)
            else:
                self._warped = warp(moving, self.transform.params, shape, order=order,
                                    nodata=nodata)
            self.resampling = None
        return self._warped

    @warped.setter
    def warped(self, value: np.ndarray | None) -> None:
        self._warped, self.resampling = value, None

    @property
    def moving_to_fixed(self) -> ProjectiveTransform:
        """The inverse transform: moving-image (x, y) to fixed-image (x, y)."""
        return self.transform.inverse

    @property
    def inlier_matches(self) -> np.ndarray:
        """``matches[inliers]``: the matches that agree with ``transform``."""
        return self.matches[self.inliers]
