"""Several descriptors at the same keypoints: :class:`MultiDescriptorExtractor`.

sarfeat's registration lets every descriptor vote for a match (DESIGN.md
section 6), so each keypoint is described several ways, all computed at the
same (row, col) positions and patch diameters (``scales``):

``'r2d2'``
    The network's 128-D descriptor, read by :class:`~sarfeat.SARR2D2Detector`
    at the pyramid level nearest to the keypoint's scale. Learned; not
    rotation invariant.

``'ratio_hog'``
    A SAR-SIFT-style histogram of gradient orientations (Dellinger et al.,
    "SAR-SIFT: a SIFT-like algorithm for SAR images", IEEE TGRS 2015). The
    gradient is the ROEWA ratio gradient
    (:func:`~sarfeat.hand_descriptors.roewa_gradient`): along each axis, the log of the
    ratio of the exponentially weighted means of the
    *linear intensity* on the two sides of the pixel. A ratio of local means is
    unbiased under multiplicative speckle, where a difference of pixel values
    is not, and is exactly invariant to a gain on the intensity. The
    histogram uses SAR-SIFT's GLOH-like log-polar grid over the keypoint's
    disc (radius ``patch_scale * scales / 2``): a central disc of 0.25 of the
    radius, and two rings (to 0.73 and 1.0 of the radius) of 8 angular
    sectors each, so 17 cells, times 8 gradient orientations: 136 values,
    with linear interpolation between neighbouring sectors and orientations.
    It is L2-normalised, clipped at 0.2 and renormalised, as SIFT does.
    The gradient is sampled on a 20 x 20 lattice over the disc (bilinear),
    with decay length ``roewa_alpha * scales / 32`` (4/3 px at scale 32:
    SAR-SIFT's descriptor radius of 12 alpha for a 16-px radius).

    Which intensity: ROEWA runs on the linear intensity recovered from the
    raw input, not from the stretched dB image (whose clipping at the 1st and
    99th percentiles would distort the ratios): intensity as is, amplitude
    squared, complex ``|z|**2``, dB as ``10 ** (x / 10)``; values <= 0 are
    raised to the smallest positive one, as :func:`sarfeat.normalize_sar`
    does. Only a ``'display'`` quick-look, whose dB scale is unknown, is
    mapped back as ``10 ** (x * DISPLAY_DB_RANGE / 10)`` from the normalised
    image ``x`` in [0, 1].

``'log_patch'``
    The normalised log-intensity patch: a ``log_patch_size`` x
    ``log_patch_size`` grid of samples over the keypoint's square support
    (side ``patch_scale * scales``), read from the dB image of
    :func:`sarfeat.normalize_sar` after a Gaussian anti-aliasing prefilter of
    ``log_patch_sigma`` sample spacings; the samples minus their mean, divided
    by their norm (a zero-mean, unit-norm vector). A gain on the intensity is
    an offset in dB, which the mean removes, so the descriptor is brightness
    invariant; its dot product is the normalised cross-correlation of the two
    log patches. Default: 11 x 11 = 121 values, prefilter of half a spacing.

Rotation: with ``rotation_invariant=True``, each keypoint gets a dominant
orientation, as in SAR-SIFT: the peak of a 36-bin histogram of ROEWA gradient
orientations in the keypoint's disc, weighted by the gradient magnitude (and a
Gaussian of 1.5 disc radii), with parabolic interpolation of the peak. For
speckle robustness the gradient for the orientation uses a decay length three
times the descriptor's, and the histogram is smoothed by a circular binomial
kernel (about 28 degrees wide); both were measured to halve the orientation
errors between independent speckle realisations. The orientation is stored in
``orientations``; ``'ratio_hog'`` measures positions and gradient orientations
relative to it and ``'log_patch'`` turns its sampling grid with it, so both
are rotation invariant (a keypoint without an orientation, i.e. without any
gradient, is then not described by either). ``'r2d2'`` never is. The default,
False, keeps every descriptor upright (orientations are 0), which is what
matching with the R2D2 descriptor expects and what is most discriminative
when the images are not rotated.

Every descriptor is computed for all keypoints at once with array operations:
the images are filtered once per distinct keypoint scale (a handful of
pyramid levels, never once per keypoint), the samples of all keypoints are
gathered in one :func:`scipy.ndimage.map_coordinates` call and histograms are
accumulated with :func:`numpy.bincount`. There is no Python loop over
keypoints. With numba installed (``pip install sarfeat[fast]``) the ROEWA
gradient, the sampling and the histograms run as compiled loops instead
(``sarfeat.runtime.kernels.descriptors``), with the same arithmetic. The ROEWA
means are exact recursive (IIR) filters, so their cost does not grow with the
decay length; each scale level costs a few passes over the whole image (for
1024 x 1024 on one CPU core, about 0.2 s with scipy, 0.02 s with numba), and
memory is a few float32 copies of the image.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from ._validation import (check_bool, check_choice, check_keypoints, check_number, check_options,
                          same_keypoints)
from .detector import PATCH_DIAMETER, SARR2D2Detector
from .detector_input import keypoint_dtype
from .hand_descriptors import (
    DISPLAY_DB_RANGE, log_patch_descriptors, ratio_hog_descriptors, roewa_gradient,
    valid_at_keypoints,
)
from .preprocess import INPUT_KINDS, check_nodata, normalize_sar
from .tensor_input import tensor_values

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from .network import R2D2Net

# roewa_gradient and DISPLAY_DB_RANGE moved to sarfeat.hand_descriptors (re-exported here)
__all__ = ["MultiDescriptorExtractor", "roewa_gradient", "DESCRIPTOR_NAMES", "DISPLAY_DB_RANGE"]

#: The descriptors :class:`MultiDescriptorExtractor` knows.
DESCRIPTOR_NAMES = ("r2d2", "ratio_hog", "log_patch")


# -- the extractor --------------------------------------------------------------------------------


class MultiDescriptorExtractor:
    """Several descriptors at the same keypoints, with scikit-image's API.

    Detection (``detect``, ``detect_and_extract``) and the ``'r2d2'``
    descriptor use a :class:`~sarfeat.SARR2D2Detector`; ``'ratio_hog'`` and
    ``'log_patch'`` are computed from the image alone, so ``extract`` with only
    those needs no weights and describes keypoints of any detector (give their
    patch diameters as ``scales``). The descriptors are defined in the module
    documentation of :mod:`sarfeat.descriptors`.

    Parameters
    ----------
    weights : str, path-like or R2D2Net, optional
        The network, as for :class:`~sarfeat.SARR2D2Detector`, for detection
        and for ``'r2d2'``; None: the detector's default (sarfeat-sar-v2, whose
        network is sarfeat-sar-v1's).
    descriptors : sequence of str or str
        Which descriptors to compute, among ``'r2d2'``, ``'ratio_hog'`` and
        ``'log_patch'``.
    detector : SARR2D2Detector, optional
        A configured detector to use instead of building one from ``weights``
        and ``detector_options`` (then give neither). The extractor always
        runs it upright (``upright=True``, on a copy if needed): ``'r2d2'`` is
        the network's upright descriptor.
    rotation_invariant : bool
        Rotate ``'ratio_hog'`` and ``'log_patch'`` to each keypoint's dominant
        ROEWA gradient orientation (see the module documentation). The R2D2
        descriptor is never rotation invariant.
    patch_scale : float
        Support of the patch descriptors, as a multiple of the keypoint's patch
        diameter ``scales``: the ``'ratio_hog'`` disc has diameter
        ``patch_scale * scales`` and the ``'log_patch'`` square that side.
    roewa_alpha : float
        Decay length, in pixels, of the ROEWA weights for a keypoint of scale
        32 (the detector's full-resolution level), proportional to the scale
        for others. The default 4/3 keeps SAR-SIFT's ratio of 12 between the
        descriptor radius and alpha; larger values resist speckle better but
        blur the structure (measured on AIRSAR channel pairs: 1.33 > 2 > 3).
    orientation_bins : int
        Gradient-orientation bins of ``'ratio_hog'``, per spatial cell.
    log_patch_size : int
        Samples per side of the ``'log_patch'`` grid (descriptor length is its
        square).
    log_patch_sigma : float
        Standard deviation of the Gaussian anti-aliasing prefilter of
        ``'log_patch'``, in grid spacings (``patch_scale * scales /
        log_patch_size`` pixels).
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}, optional
        What the pixel values are (see :func:`sarfeat.normalize_sar`). None
        uses the detector's setting (``'auto'`` by default); a value given
        here is also passed to the detector built from ``weights``.
    nodata : float, optional
        A pixel value marking no-data besides NaN; None uses the detector's.
    **detector_options
        Other :class:`~sarfeat.SARR2D2Detector` parameters (``max_keypoints``,
        ``min_size``, ``device``, ...).

    Attributes
    ----------
    keypoints : (N, 2) ndarray
        (row, col) of the described keypoints. Every per-keypoint array
        (``keypoints``, ``scales``, ``orientations``, ``responses``) is float32
        for a float32, float16 or complex64 image and float64 for any other
        (:func:`sarfeat.detector_input.keypoint_dtype`, DESIGN.md section 8):
        the dtype of the image of the last call decides, not that of keypoints
        given to ``extract`` (float32, float64 or integer ones are all stored so).
    scales : (N,) ndarray
        Their patch diameters in pixels.
    orientations : (N,) ndarray
        Dominant orientations in radians, the angle ``atan2(d/drow, d/dcol)``
        of the ROEWA gradient direction in (x = col, y = row) coordinates;
        zeros unless ``rotation_invariant``.
    responses : (N,) ndarray or None
        The detector's responses after ``detect`` or ``detect_and_extract``,
        kept by an ``extract`` of those keypoints (``keypoints`` omitted, or
        given with their own ``scales``, as with ``skimage.feature.ORB``);
        None after ``extract`` of other keypoints (ORB keeps its detection's,
        which then describe other keypoints than ``descriptors``).
    descriptors : dict of str to (N, D) ndarray of float32
        One row per keypoint for every descriptor; rows of keypoints the
        descriptor could not describe are zero.
    masks : dict of str to (N,) ndarray of bool
        Which keypoints each descriptor described. A patch descriptor cannot
        describe a keypoint whose support leaves the image or comes within a
        pixel of no-data; ``'r2d2'`` follows the detector's ``mask``.
        Keypoints are never dropped: use ``descriptors[name][masks[name]]``
        and ``keypoints[masks[name]]`` to match one descriptor.

    Every call first sets all of these to None (``extract`` replaces the keypoints
    too, with the same values for its own): a call that raises leaves None, never
    the previous image's results (which skimage's SIFT and ORB keep). After any
    call, ``keypoints``, ``descriptors`` and ``masks`` describe the same keypoints
    row by row, as :class:`~sarfeat.SARR2D2Detector`'s do.

    Examples
    --------
    >>> import numpy as np
    >>> from skimage.feature import match_descriptors
    >>> from sarfeat import MultiDescriptorExtractor
    >>> from sarfeat.data import load_sar_scene
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> extractor = MultiDescriptorExtractor()  # sarfeat's bundled SAR weights
    >>> extractor.detect_and_extract(scene[..., 0])
    >>> k1, d1, m1 = extractor.keypoints, extractor.descriptors, extractor.masks
    >>> extractor.detect_and_extract(scene[..., 1])
    >>> k2, d2, m2 = extractor.keypoints, extractor.descriptors, extractor.masks
    >>> sorted(d1), d1["ratio_hog"].shape[1], d1["log_patch"].shape[1]
    (['log_patch', 'r2d2', 'ratio_hog'], 136, 121)
    >>> name = "ratio_hog"  # match one descriptor, on the keypoints it described
    >>> matches = match_descriptors(d1[name][m1[name]], d2[name][m2[name]], max_ratio=0.9)
    >>> rows1, rows2 = k1[m1[name]][matches[:, 0]], k2[m2[name]][matches[:, 1]]
    >>> bool(np.median(np.hypot(*(rows1 - rows2).T)) < 3)  # the channels are co-registered
    True
    """

    def __init__(
        self,
        weights: str | os.PathLike | R2D2Net | None = None,
        *,
        descriptors: Iterable[str] | str = DESCRIPTOR_NAMES,
        detector: SARR2D2Detector | None = None,
        rotation_invariant: bool = False,
        patch_scale: float = 1.0,
        roewa_alpha: float = 4 / 3,
        orientation_bins: int = 8,
        log_patch_size: int = 11,
        log_patch_sigma: float = 0.5,
        input_kind: str | None = None,
        nodata: float | None = None,
        **detector_options,
    ) -> None:
        self.weights = weights
        self.descriptor_names = _check_names(descriptors)
        self.detector = detector
        self.rotation_invariant = rotation_invariant
        self.patch_scale = patch_scale
        self.roewa_alpha = roewa_alpha
        self.orientation_bins = orientation_bins
        self.log_patch_size = log_patch_size
        self.log_patch_sigma = log_patch_sigma
        self.input_kind = input_kind
        self.nodata = nodata
        self.detector_options = detector_options
        self._own_detector: SARR2D2Detector | None = None
        self._own_key = None
        self.descriptors: dict[str, np.ndarray] | None = None
        self.masks: dict[str, np.ndarray] | None = None
        self._clear_results()
        self._check_parameters()
        if detector is None:
            self._get_detector()  # checks weights and detector options; loads nothing

    # -- setup ------------------------------------------------------------------------------------

    def _clear_results(self) -> None:
        """Set every result attribute to None: each call starts so, and a call that fails
        leaves None rather than the results of the previous image."""
        self.keypoints = self.scales = self.orientations = self.responses = None
        self.descriptors = self.masks = None

    def _check_parameters(self) -> None:
        self.descriptor_names = _check_names(self.descriptor_names)
        if self.detector is not None:
            if not isinstance(self.detector, SARR2D2Detector):
                raise TypeError(
                    f"detector must be a SARR2D2Detector, got {type(self.detector).__name__}"
                )
            if self.weights is not None or self.detector_options:
                raise ValueError(
                    "give either detector= or weights= and detector options, not both"
                )
        check_bool("rotation_invariant", self.rotation_invariant)
        if self.input_kind is not None:
            check_choice("input_kind", self.input_kind, INPUT_KINDS)
        check_nodata(self.nodata)  # NaN too, as rasterio gives a float file's nodata
        check_number("patch_scale", self.patch_scale, 0, low_open=True)
        check_number("roewa_alpha", self.roewa_alpha, 0, low_open=True)
        for name, low in (("orientation_bins", 2), ("log_patch_size", 2)):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        check_number("log_patch_sigma", self.log_patch_sigma, 0)

    def _get_detector(self) -> SARR2D2Detector:
        if self.detector is not None:
            if getattr(self.detector, "upright", True):
                return self.detector
            # 'r2d2' is the network's upright descriptor: a copy runs upright (same network)
            upright = copy.copy(self.detector)
            upright.upright = True
            return upright
        if not self.detector_options.get("upright", True):
            raise ValueError(
                "upright=False: the extractor runs its detector upright ('r2d2' is the "
                "network's upright descriptor); use rotation_invariant=True for rotation-"
                "invariant 'ratio_hog' and 'log_patch', or SARR2D2Detector() alone"
            )
        options = {**self.detector_options, "upright": True}
        if self.input_kind is not None:
            options["input_kind"] = self.input_kind
        if self.nodata is not None:
            options["nodata"] = self.nodata
        key = (id(self.weights), str(self.weights), sorted(options.items(), key=str))
        if self._own_detector is None or self._own_key != repr(key):
            # None: the detector's default weights (sarfeat-sar-v2, bundled)
            accepted = inspect.signature(SARR2D2Detector).parameters
            check_options(options, [name for name in accepted if name != "weights"],
                          "MultiDescriptorExtractor")
            self._own_detector = SARR2D2Detector(self.weights, **options)
            self._own_key = repr(key)
        return self._own_detector

    def _input_settings(self) -> tuple[str, float | None]:
        """(input_kind, nodata) for the patch descriptors: ours, else the detector's."""
        detector = self.detector
        kind = self.input_kind
        nodata = self.nodata
        if kind is None:
            kind = getattr(detector, "input_kind", "auto") if detector is not None else "auto"
        if nodata is None and detector is not None:
            nodata = detector.nodata
        return kind, nodata

    # -- public API -------------------------------------------------------------------------------

    def detect(self, image, mask=None) -> None:
        """Detect keypoints with the SAR R2D2 detector; fills ``keypoints``, ``scales``, ...

        Parameters
        ----------
        image : (H, W) array_like
            SAR image (see :meth:`sarfeat.SARR2D2Detector.detect`).
        mask : (H, W) array_like of bool, optional
            True where keypoints may be found.

        Raises
        ------
        ValueError
            For an unusable image or missing weights.
        RuntimeError
            When no keypoint is found.
        """
        self._clear_results()
        self._check_parameters()
        detector = self._get_detector()
        detector.detect(image, mask)
        self._take_keypoints(detector)
        self.descriptors = None
        self.masks = None

    def detect_and_extract(self, image, mask=None) -> None:
        """Detect keypoints and compute every descriptor at them.

        Parameters and errors are those of :meth:`detect`. The R2D2
        descriptors come from the detection pass itself.
        """
        self._clear_results()
        self._check_parameters()
        image = tensor_values(image)  # read once: the detector and the descriptors share it
        detector = self._get_detector()
        if "r2d2" in self.descriptor_names:
            detector.detect_and_extract(image, mask)
            r2d2 = (np.asarray(detector.descriptors, np.float32), np.asarray(detector.mask))
        else:
            detector.detect(image, mask)
            r2d2 = None
        self._describe(image, mask, r2d2, detector.keypoints, detector.scales,
                       detector.responses)

    def extract(self, image, keypoints=None, scales=None, orientations=None, *, mask=None) -> None:
        """Compute every descriptor at given keypoints.

        The call shapes of scikit-image's ``ORB.extract`` and ``SIFT.extract``
        work: ``extract(image, keypoints, scales, orientations)``.

        Parameters
        ----------
        image : (H, W) array_like
            The image the keypoints belong to (any input :func:`sarfeat.normalize_sar`
            accepts).
        keypoints : (N, 2) array_like, optional
            (row, col) positions; by default those of the last :meth:`detect`.
            Stored in ``keypoints`` as floats of ``image``'s keypoint dtype (see
            Attributes), whatever their own dtype; ``scales`` and
            ``orientations`` become theirs too, and ``responses`` None unless
            they are the detection's own keypoints at its own scales.
        scales : (N,) array_like, optional
            Patch diameters in pixels (the detector's ``scales``: 32 at full
            resolution), at least 16. Default: those of the last :meth:`detect`
            when ``keypoints`` is omitted, else 32 for every keypoint. ORB's
            pyramid factors must be multiplied by 32 first.
        orientations : (N,) array_like, optional
            Accepted for scikit-image's call shape, and not used: descriptors
            are upright (or turned to their own dominant orientation with
            ``rotation_invariant=True``). Non-zero values other than this
            extractor's own ``orientations`` are ignored with a warning.
        mask : (H, W) array_like of bool, optional
            True where pixels are valid (keyword only).

        Raises
        ------
        ValueError
            For an unusable image, keypoints or scales of the wrong shape,
            scales not finite or below 16, or ``'r2d2'`` without weights.
        RuntimeError
            With ``'r2d2'``, for a flat image (all valid pixels have one value).
        """
        self._check_parameters()
        image = tensor_values(image)
        if keypoints is None:
            if self.keypoints is None:
                raise ValueError("no keypoints: pass keypoints= or call detect() first")
            scales = self.scales if scales is None else scales
            keypoints = self.keypoints
        # the detection's responses describe its own keypoints at its own scales only
        own = same_keypoints(keypoints, scales, self.keypoints, self.scales)
        responses = self.responses if own else None
        given = keypoints
        own_orientations = self.orientations
        self._clear_results()  # extract replaces every result, keypoints included
        keypoints, scales = check_keypoints(given, scales, orientations,
                                            "MultiDescriptorExtractor",
                                            upright=not self.rotation_invariant,
                                            own_orientations=own_orientations)
        if scales is None:
            scales = np.full(len(keypoints), float(PATCH_DIAMETER))
        r2d2 = None
        if "r2d2" in self.descriptor_names:
            detector = self._get_detector()
            detector.extract(image, keypoints, scales, mask=mask)
            r2d2 = (np.asarray(detector.descriptors, np.float32), np.asarray(detector.mask))
        self._describe(image, mask, r2d2, keypoints, scales, responses)

    # -- computation ------------------------------------------------------------------------------

    def _take_keypoints(self, detector: SARR2D2Detector) -> None:
        self.keypoints = detector.keypoints
        self.scales = detector.scales
        self.responses = detector.responses
        self.orientations = np.zeros(len(detector.keypoints), dtype=detector.keypoints.dtype)

    def _describe(self, image, mask, r2d2, given_keypoints, given_scales, responses) -> None:
        """Describe ``given_keypoints``; fill every result attribute, and only once all
        succeeded (a failure leaves them None, as the call cleared them).

        The descriptors are computed in float64; the per-keypoint attributes are
        stored in :func:`~sarfeat.detector_input.keypoint_dtype` of ``image``'s
        dtype, whatever the dtype of the keypoints given."""
        keypoints = np.asarray(given_keypoints, dtype=np.float64)
        scales = np.asarray(given_scales, dtype=np.float64)
        count = len(keypoints)
        descriptors: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray] = {}
        if r2d2 is not None:
            values, described = r2d2
            full = np.zeros((count, values.shape[1] if values.ndim == 2 else 128), np.float32)
            full[described] = values
            descriptors["r2d2"], masks["r2d2"] = full, described.astype(bool)

        patch_names = [n for n in self.descriptor_names if n != "r2d2"]
        orientations = np.zeros(count)
        if patch_names or self.rotation_invariant:
            kind, nodata = self._input_settings()
            normalized = normalize_sar(image, kind, mask, nodata)
            invalid_distance = None
            if normalized.large_invalid is not None:  # small no-data regions are filled
                invalid_distance = ndimage.distance_transform_edt(~normalized.large_invalid)
            needs_hog = "ratio_hog" in patch_names or self.rotation_invariant
            if needs_hog:
                hog, hog_ok, orientations = ratio_hog_descriptors(
                    image, normalized, keypoints, scales, invalid_distance,
                    patch_scale=self.patch_scale, roewa_alpha=self.roewa_alpha,
                    orientation_bins=self.orientation_bins,
                    rotation_invariant=self.rotation_invariant,
                )
                if "ratio_hog" in patch_names:
                    descriptors["ratio_hog"], masks["ratio_hog"] = hog, hog_ok
            if "log_patch" in patch_names:
                values, described = log_patch_descriptors(
                    normalized, keypoints, scales, orientations, invalid_distance,
                    patch_scale=self.patch_scale, size=self.log_patch_size,
                    sigma=self.log_patch_sigma, rotation_invariant=self.rotation_invariant,
                )
                if self.rotation_invariant:  # no orientation, no rotation-invariant patch
                    values[~hog_ok] = 0
                    described &= hog_ok
                descriptors["log_patch"], masks["log_patch"] = values, described
            if normalized.valid is not None:  # a no-data pixel is not described itself
                on_invalid = ~valid_at_keypoints(normalized.valid, keypoints)
                for name in patch_names:
                    descriptors[name][on_invalid] = 0
                    masks[name] &= ~on_invalid
        dtype = keypoint_dtype(np.asarray(image).dtype)
        self.keypoints, self.scales = keypoints.astype(dtype), scales.astype(dtype)
        self.orientations = orientations.astype(dtype)
        self.responses = None if responses is None else np.asarray(responses).astype(dtype)
        self.descriptors = {name: descriptors[name] for name in self.descriptor_names}
        self.masks = {name: masks[name] for name in self.descriptor_names}


def _check_names(names: Iterable[str] | str) -> tuple[str, ...]:
    """Validate descriptor names; a single string is one name."""
    if isinstance(names, str):
        names = (names,)
    if not isinstance(names, Iterable):
        raise ValueError(f"descriptors must be a name or a sequence of names among "
                         f"{DESCRIPTOR_NAMES}, got {names!r}")
    names = tuple(names)
    if not names:
        raise ValueError(f"descriptors is empty; choose among {DESCRIPTOR_NAMES}")
    unknown = [n for n in names if n not in DESCRIPTOR_NAMES]
    if unknown:
        raise ValueError(
            f"unknown descriptor name(s) {unknown}; "
            f"known descriptors: {', '.join(DESCRIPTOR_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"descriptor names repeat: {names}")
    return names
