"""SARR2D2Detector: Fast-R2D2 keypoints and descriptors with scikit-image's API."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ._validation import (alias_property, check_detector_parameters, check_keypoints,
                          resolve_alias, same_keypoints)
from .architecture import NetworkWeights
from .detector_input import NoKeypointsError, no_keypoint_error, prepare_image
from .detector_network import (
    DEFAULT_THRESHOLD, detection_thresholds, detector_network, detector_runner, maps_source,
    runner_key, runner_summary,
)
from .learned_polar import release_polar_weighting, weight_polar_descriptors
from .preprocess import NormalizedImage
from .pyramid import (
    EDGE_MARGIN, PATCH_DIAMETER, PyramidLevel, edge_margin, level_shape, pyramid_levels,
    pyramid_scales,
)
from .runtime import resolve_device
from .runtime.ahead import one_ahead
from .tile_detection import (
    TileDescriber, best_keypoints, core_keypoints, describe_keypoints, level_tiles,
    network_runs_ahead,
)

if TYPE_CHECKING:  # for the annotation only: sarfeat.network needs torch
    from .network import R2D2Net

# re-exported where they moved from (sarfeat.pyramid; DEFAULT_THRESHOLD: detector_network;
# NoKeypointsError: detector_input)
__all__ = ["SARR2D2Detector", "NoKeypointsError", "DEFAULT_THRESHOLD", "EDGE_MARGIN",
           "PATCH_DIAMETER", "RESULTS", "edge_margin", "pyramid_scales"]

#: The detector's result attributes: each ``detect`` and ``detect_and_extract`` sets them all
#: to None before it starts; ``extract`` of the detection's own keypoints its ``descriptors``
#: and ``mask``, ``extract`` of other keypoints all of them.
RESULTS = ("keypoints", "scales", "orientations", "responses", "reliabilities",
           "repeatabilities", "descriptors", "mask")


class SARR2D2Detector:
    """Fast-R2D2 keypoint detector and descriptor for SAR images.

    A drop-in for :class:`skimage.feature.SIFT` and :class:`skimage.feature.ORB`:
    ``detect``, ``extract`` and ``detect_and_extract`` fill the attributes
    below, keypoints are (row, col), and the output goes unchanged to
    :func:`skimage.feature.match_descriptors`, :func:`skimage.measure.ransac`
    and :func:`skimage.feature.plot_matched_features`. Like SIFT and ORB, it
    matches images turned by any angle; ``upright=True`` skips that for speed
    when the images are known to be upright.

    Parameters
    ----------
    weights : str, path-like, R2D2Net or None
        ``'sarfeat-sar-v2'`` (the default: sarfeat's SAR weights, bundled; None
        means the same): sarfeat-sar-v1's network and distilled maps, and
        learned weights of the polar descriptor's features (see the model
        card); ``'sarfeat-sar-v1'``: the same networks, the polar descriptor
        unweighted. Or another weights name of sarfeat's registry, a
        checkpoint file (any format :func:`sarfeat.checkpoint.load_checkpoint`
        reads), or a network. A registry name is never looked up in the
        working directory; see :mod:`sarfeat.weights`.
    max_keypoints : int
        Keep at most this many keypoints, the best by response, over all levels
        (``n_keypoints``, ORB's name, is accepted too).
    scale_factor : float
        Ratio between consecutive pyramid scales (``downscale``, ORB's name, is
        accepted too).
    min_size : int or None
        Longest image side, in pixels, of the smallest level, at most max_size
        (equal: one level). None (the default) is 256, and a max_size below 256
        then gives one level, at max_size.
    max_size : int
        Longest image side, in pixels, of the largest level.
    min_scale, max_scale : float
        Bounds on the pyramid scale (1 = full resolution; the pyramid never upsamples,
        so max_scale lies in (0, 1]).
    reliability_threshold, repeatability_threshold : float or None
        A keypoint needs both maps at or above these values. None takes the
        values recommended in the checkpoint's metadata (``'detector'`` entry),
        else the method's 0.7; without ``upright``, 0.15 less, because the
        average over quarter turns lowers the maps' peaks (this keeps about as
        many keypoints).
    input_kind : {'auto', 'intensity', 'amplitude', 'db', 'display'}
        What the pixel values are; see :func:`sarfeat.preprocess.normalize_sar`.
    nodata : float, optional
        A pixel value that marks no-data (besides NaN), e.g. 0 for the area
        outside a Sentinel-1 swath (NaN, many float files' ``rasterio`` nodata,
        adds nothing; infinities are no-data anyway); compared as NumPy compares
        (:func:`sarfeat.preprocess.valid_mask`; a file read by
        :mod:`sarfeat.io` has its own marked as GDAL reads it).
    device : str or torch.device
        ``'auto'`` (a GPU when torch is installed and sees one), ``'cpu'`` or
        ``'cuda'`` (needs torch: ``pip install 'sarfeat[gpu]'``).
    precision : {'auto', 'fp32', 'bf16', 'int8'}
        Arithmetic of the network. ``'int8'`` (ONNX Runtime only) is static
        quantisation calibrated on open SAR; ``'bf16'`` is torch's autocast.
        ``'auto'``: on the CPU, int8 for weights whose int8 model passed
        sarfeat's stored accuracy check (its bundled weights), fp32 for
        others; on a GPU, bf16 where it is native, else fp32. The choice is
        a fixed rule (no timing), so every process gives the same keypoints.
    runtime : {'auto', 'torch', 'onnxruntime'}
        What runs the network. ``'auto'``: ONNX Runtime on the CPU (a plain
        dependency), torch for bf16, full R2D2 and GPUs (torch is the
        optional ``sarfeat[train]``/``sarfeat[gpu]``). See the user guide's
        "Precision and runtime" and :mod:`sarfeat.runtime.choice`.
    tile_size : int or None
        Levels larger than this (plus a halo) run tile by tile, which bounds
        memory; None runs every level whole.
    upright : bool
        False (the default): rotation invariant. Keypoints are found on the
        network's maps averaged over the image's four quarter turns (or on
        a distilled network's one-run version of that average, see
        ``turned_maps``); each keypoint gets an orientation (the direction of
        the Gaussian-smoothed log-intensity gradient; with the polar
        descriptor, read from its ring samples) and is described by a
        log-intensity descriptor that is rotation invariant by construction
        (see ``descriptor``). True (OpenCV's name for
        the same choice): the network's maps and its 128-D R2D2 descriptor as
        the image stands (a quarter of the network work of
        ``turned_maps='average'``, but several times that of the distilled
        maps), more discriminative for images known to
        be upright (or turned by less than about 10 degrees). See
        :mod:`sarfeat.orientation` for the method and its measured accuracy.
    orientation : 'gradient', path or callable
        How keypoints get their orientation (ignored with ``upright``).
        ``'gradient'`` (the default): as above. A path: an ``.npz`` file of a
        learned orientation (:mod:`sarfeat.learned_orientation`, experimental).
        A callable ``(level_image, rows, cols) -> radians`` with a ``reach()``
        method, such as :class:`sarfeat.learned_orientation.LearnedOrientation`.
    descriptor : {'polar', 'patch'}
        The descriptor of the rotation-invariant detector (ignored with
        ``upright``). ``'polar'`` (the default): 378 rotation invariants of
        the log-intensity image on rings around the keypoint
        (:mod:`sarfeat.polar_descriptor`), weighted per feature group as
        the weights release says (sarfeat-sar-v2's learned weights, see
        :mod:`sarfeat.learned_polar`); it needs no orientation, so an
        unreliable orientation (cross-polarised pairs) costs nothing.
        ``'patch'``: the 121-D log-intensity patch turned to the keypoint's
        orientation (the default before issue 18; MMA@3 0.42 against 0.70
        on Sentinel-1 VV/VH turned by 10 degrees, ``benchmarks/eval_rotation.py``).
    turned_maps : {'auto', 'distilled', 'average'}
        Where the rotation-invariant keypoint maps come from (ignored with
        ``upright``). ``'average'``: the network of ``weights`` run on the
        four quarter turns, as described above (exactly equivariant under
        quarter turns). ``'distilled'``: one run of a small network distilled
        to give that average (``'sarfeat-sar-v1-turned-maps'`` for the default
        weights, about 85 times fewer multiply-adds; see the model card for what it
        keeps). ``'auto'``: ``'distilled'`` where ``weights`` has such a
        network, else ``'average'``.
    trust : bool
        Allow a legacy pickled checkpoint that the registry does not know.
    progress : bool
        Show a progress bar over levels and tiles.
    n_keypoints, downscale : optional
        scikit-image's names for ``max_keypoints`` and ``scale_factor``.

    Every parameter is checked here: a wrong value raises ValueError (TypeError
    for weights of a wrong type or a non-bool upright, trust or progress,
    FileNotFoundError for missing weights) naming the valid choices.

    Attributes
    ----------
    keypoints : (N, 2) ndarray
        Keypoint coordinates as (row, col), with sub-pixel refinement. None lies
        within ``EDGE_MARGIN`` (12) pixels of its pyramid level of the image
        edge (fewer on levels under 96 pixels, see :func:`~sarfeat.pyramid.edge_margin`), where the
        network's maps answer the padding rather than the image. Every per-keypoint
        array (``keypoints``, ``scales``, ``orientations``, ``responses``,
        ``reliabilities``, ``repeatabilities``) is float32 for a float32, float16
        or complex64 image and float64 for any other
        (:func:`sarfeat.detector_input.keypoint_dtype`, DESIGN.md section 8).
        ``extract`` of other keypoints than the detection's replaces them (see
        :meth:`extract`): ``keypoints``, ``mask`` and ``descriptors`` always
        describe the same keypoints, row by row.
    scales : (N,) ndarray
        Patch diameter in pixels in the input image: 32 / s for a keypoint
        found at pyramid scale s (32 at full resolution, 64 at half).
    orientations : (N,) ndarray
        Keypoint orientations in radians, in [-pi, pi], measured as skimage's
        ORB does: ``atan2(d_row, d_col)`` of the direction the log intensity
        grows, 0 along +col, pi/2 along +row. Turning an image
        counter-clockwise by ``phi`` subtracts ``phi``. Zeros with ``upright``.
    responses : (N,) ndarray or None
        Reliability times repeatability; None after ``extract`` of other keypoints.
    reliabilities, repeatabilities : (N,) ndarray or None
        The two network maps at the keypoints; None after ``extract`` of other
        keypoints.
    descriptors : (M, D) ndarray of float32
        L2-normalised descriptors of the keypoints for which ``mask`` is True:
        D = 378, the polar descriptor (a flat patch gives a zero row), D = 121
        with ``descriptor='patch'`` (the turned 11 x 11 log-intensity patch),
        or D = 128, the network's R2D2 descriptor, with ``upright``.
    mask : (N,) ndarray of bool
        Which keypoints could be described (all, after ``detect_and_extract``),
        in the order of ``keypoints``: ``descriptors`` are the rows of
        ``keypoints[mask]``.

    A call that raises leaves None in every attribute it would have filled
    (``extract`` of the detection's own keypoints: ``descriptors`` and
    ``mask``; of others: all), never the previous image's results, which
    skimage's SIFT and ORB keep.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat import SARR2D2Detector
    >>> rng = np.random.default_rng(0)
    >>> image = rng.gamma(1.0, 1.0, (128, 128)).astype(np.float32)  # pure speckle
    >>> detector = SARR2D2Detector()  # sarfeat's bundled SAR weights
    >>> detector.detect_and_extract(image)
    >>> detector.keypoints.shape[1], detector.descriptors.shape[1]
    (2, 378)
    >>> upright = SARR2D2Detector(upright=True)  # faster, for images known to be upright
    >>> upright.detect_and_extract(image)
    >>> upright.descriptors.shape[1], bool(upright.orientations.any())
    (128, False)
    """

    def __init__(
        self,
        weights: str | os.PathLike | R2D2Net | None = "sarfeat-sar-v2",
        *,
        max_keypoints: int = 5000,
        scale_factor: float = 2 ** 0.25,
        min_size: int | None = None,
        max_size: int = 1024,
        min_scale: float = 0.0,
        max_scale: float = 1.0,
        reliability_threshold: float | None = None,
        repeatability_threshold: float | None = None,
        input_kind: str = "auto",
        nodata: float | None = None,
        device: str = "auto",
        precision: str = "auto",
        runtime: str = "auto",
        tile_size: int | None = 1024,
        upright: bool = False,
        turned_maps: str = "auto",
        orientation="gradient",
        descriptor: str = "polar",
        trust: bool = False,
        progress: bool = False,
        n_keypoints: int | None = None,
        downscale: float | None = None,
    ) -> None:
        self.weights = weights
        self.max_keypoints = resolve_alias(
            "max_keypoints", max_keypoints, "n_keypoints", n_keypoints, 5000
        )
        self.scale_factor = resolve_alias(
            "scale_factor", scale_factor, "downscale", downscale, 2 ** 0.25
        )
        self.min_size = min_size
        self.max_size = max_size
        self.min_scale = min_scale
        self.max_scale = max_scale
        self.reliability_threshold = reliability_threshold
        self.repeatability_threshold = repeatability_threshold
        self.input_kind = input_kind
        self.nodata = nodata
        self.device = device
        self.precision = precision
        self.runtime = runtime
        self.tile_size = tile_size
        self.upright = upright
        self.turned_maps = turned_maps
        self.orientation = orientation
        self.descriptor = descriptor
        self._orienter = self._orienter_key = None
        self._polar_weights = self._polar_weights_key = None
        self.trust = trust
        self.progress = progress
        self._runner = None
        self._runner_key = None
        self._clear_results(RESULTS)
        check_detector_parameters(self)

    n_keypoints = alias_property("max_keypoints")
    downscale = alias_property("scale_factor")

    def _clear_results(self, names: tuple[str, ...]) -> None:
        """Set the result attributes ``names`` to None.

        Each call clears first what it fills, so that a call that fails leaves
        None, never the results of the previous image (skimage's SIFT and ORB keep
        those, which a loop that catches the error then reads as the new image's).
        """
        for name in names:
            setattr(self, name, None)

    def __getstate__(self) -> dict:
        """Parameters and results, not the loaded runtimes (for pickle and deepcopy)."""
        return {**self.__dict__, **dict.fromkeys(("_runner", "_runner_key", "_orienter",
                                                   "_orienter_key"))}

    def __copy__(self) -> "SARR2D2Detector":
        """A shallow copy that shares the loaded runtimes (see :meth:`thread_copy`)."""
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        return copied

    # -- setup ---------------------------------------------------------------------------------

    def _load_net(self) -> NetworkWeights:
        """The network of the keypoint maps (:func:`sarfeat.detector_network.detector_network`)."""
        return detector_network(self.weights, self.upright, self.turned_maps, self.trust)

    def thread_copy(self) -> "SARR2D2Detector":
        """A copy for another thread: its own parameters and results, this network runtime.

        The network is loaded first, so the copy shares it (and its working
        memory) instead of loading its own; the runtime may be called from
        several threads at once.
        """
        self._get_runner()
        return copy.copy(self)

    def _get_orienter(self):
        """None for the gradient orientation, else the learned one (loaded once)."""
        if isinstance(self.orientation, str) and self.orientation == "gradient":
            return None
        if callable(self.orientation):
            return self.orientation
        from .learned_orientation import LearnedOrientation

        key = str(self.orientation)
        if self._orienter is None or self._orienter_key != key:
            self._orienter, self._orienter_key = LearnedOrientation.load(key), key
        return self._orienter

    def _released_descriptors(self, descriptors: np.ndarray) -> np.ndarray:
        """Polar descriptors weighted as the weights release says (sarfeat-sar-v2), else as
        given."""
        if self.descriptor != "polar":
            return descriptors
        # only a name (or None) can be a release: files and networks share one key
        key = (self.weights if isinstance(self.weights, str) or self.weights is None
               else "not a release name",)
        if self._polar_weights_key != key:
            self._polar_weights = release_polar_weighting(self.weights)
            self._polar_weights_key = key
        if self._polar_weights is None:
            return descriptors
        return weight_polar_descriptors(descriptors, self._polar_weights)

    def _describer(self) -> TileDescriber:
        """How keypoints are oriented and described (a learned orientation is loaded once)."""
        if self.upright:
            return TileDescriber(upright=True)
        return TileDescriber(False, self.descriptor, self._get_orienter(),
                             self._released_descriptors)

    def _get_runner(self):
        """The network runtime, loaded again when a parameter that names it has changed."""
        device = resolve_device(self.device)
        key = runner_key(self.weights, device, self.runtime, self.precision,
                         maps_source(self.weights, self.upright, self.turned_maps))
        if self._runner is None or self._runner_key is None or self._runner_key[:5] != key[:5]:
            self._runner = detector_runner(self._load_net(), device, self.runtime, self.precision)
            self._runner_key = key
        return self._runner

    def check_parameters(self) -> None:
        """Check every parameter (as ``__init__`` does): ValueError or TypeError if one is wrong."""
        check_detector_parameters(self)

    def load(self) -> "SARR2D2Detector":
        """Load the network runtime now, as the first detection would; returns the detector.

        The thresholds the weights recommend are known from then on.
        """
        self._get_runner()
        return self

    @property
    def halo(self) -> int:
        """The network's reach, in pixels of the level it runs on (loads the runtime).

        A tile given to :meth:`detect_tile` needs this many pixels of context
        around its core for the core's maps to be those of the whole image.
        """
        return self._get_runner().halo

    def detect_tile(self, image: np.ndarray, core: tuple[int, int, int, int],
                    invalid_distance: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
        """Keypoints of the core of one tile of a normalised image, at full resolution.

        The per-tile step of :meth:`detect`, for callers that tile a scene
        themselves (:mod:`sarfeat.parallel`).

        Parameters
        ----------
        image : (h, w) ndarray of float32
            The tile with its :attr:`halo`, normalised as
            :func:`~sarfeat.normalize_sar` does (values in [0, 1], no NaN).
        core : tuple of int
            (row0, row1, col0, col1), half-open, in tile pixels: where keypoints are kept.
        invalid_distance : (h, w) ndarray, optional
            Distance of each pixel to the nearest no-data pixel; keypoints within
            :attr:`halo` of no-data are dropped.

        Returns
        -------
        dict or None
            ``keypoints`` ((N, 2) (row, col) in tile pixels), ``scales``,
            ``reliabilities``, ``repeatabilities``, ``orientations`` and
            ``descriptors``, in the tile's own order; None when the core has no peak.
        """
        return core_keypoints(self._get_runner(), image, core, invalid_distance,
                              self._thresholds(), self._describer())

    def _thresholds(self) -> tuple[float, float]:
        """(reliability, repeatability) thresholds: given, recommended by the weights, or 0.7."""
        recommended = getattr(self._runner, "recommended", {}) if self._runner else {}
        return detection_thresholds(self.reliability_threshold, self.repeatability_threshold,
                                    recommended, self.upright)

    def _prepare(self, image, mask):
        self.check_parameters()
        return prepare_image(image, self.input_kind, mask, self.nodata)

    def _levels(self, normalized: NormalizedImage) -> Iterator[PyramidLevel]:
        """The pyramid's levels (:func:`sarfeat.pyramid.pyramid_levels`), made as they are read."""
        return pyramid_levels(normalized, self.scale_factor, self.min_size, self.max_size,
                              self.min_scale, self.max_scale)

    # -- detection ----------------------------------------------------------------------------

    def _run_detection(self, image, mask):
        self._clear_results(RESULTS)
        normalized, float_dtype = self._prepare(image, mask)
        runner = self._get_runner()
        thresholds, describer = self._thresholds(), self._describer()
        tiles = level_tiles(self._levels(normalized), runner, self.tile_size, self.upright,
                            self.progress)
        if self._network_runs_ahead(runner):
            tiles = one_ahead(tiles)
        best = best_keypoints(tiles, normalized, thresholds, describer, runner.halo,
                              self.max_keypoints)
        if best is None or len(best["keypoints"]) == 0:
            shape = normalized.image.shape
            scale = pyramid_scales(shape, self.scale_factor, self.min_size, self.max_size,
                                   self.min_scale, self.max_scale)[0]
            raise no_keypoint_error(shape, level_shape(shape, scale), scale)
        for name in ("keypoints", "scales", "orientations", "reliabilities", "repeatabilities"):
            setattr(self, name, best[name].astype(float_dtype))
        self.responses = (best["reliabilities"] * best["repeatabilities"]).astype(float_dtype)
        return best["descriptors"].astype(np.float32)

    # patched by tests: the class's own name for network_runs_ahead
    _network_runs_ahead = staticmethod(network_runs_ahead)

    def detect(self, image, mask=None) -> None:
        """Detect keypoints; fills ``keypoints``, ``scales``, ``responses`` and friends.

        Parameters
        ----------
        image : (H, W) array_like
            SAR image: uint8, uint16, float or complex; NaN marks no-data.
        mask : (H, W) array_like of bool, optional
            True where keypoints may be found.

        Raises
        ------
        ValueError
            For a non-2-D, empty or non-numeric image or one without valid pixels.
        RuntimeError
            When no keypoint is found (for example in a flat image).
        """
        self._run_detection(image, mask)
        self.descriptors = None
        self.mask = None

    def detect_and_extract(self, image, mask=None) -> None:
        """Detect keypoints and describe them in one pass (faster than the two calls).

        Parameters and errors are those of :meth:`detect`; afterwards
        ``descriptors`` holds one row per keypoint and ``mask`` is all True.
        """
        self.descriptors = self._run_detection(image, mask)
        self.mask = np.ones(len(self.keypoints), dtype=bool)

    # -- extraction at given keypoints ----------------------------------------------------------

    def extract(self, image, keypoints=None, scales=None, orientations=None, *, mask=None) -> None:
        """Describe given keypoints; fills ``descriptors`` and ``mask``.

        The call shapes of :meth:`skimage.feature.ORB.extract` and
        :meth:`skimage.feature.SIFT.extract` work: ``extract(image)``,
        ``extract(image, keypoints)`` and ``extract(image, keypoints, scales,
        orientations)``.

        Keypoints omitted, or the detection's own ``keypoints`` given with its
        own ``scales`` (ORB's ``extract(image, orb.keypoints, orb.scales,
        orb.orientations)``): every other attribute is kept, as SIFT's and
        ORB's ``extract`` keep theirs. Other keypoints replace the detection's
        results (ORB keeps them, describing other keypoints than ``mask_`` and
        ``descriptors``, whose rows follow its octaves): ``keypoints`` and ``scales``
        become those given (scales omitted: the patch diameter of the
        full-resolution level, or of the largest level for an image above
        ``max_size``), ``orientations`` those the descriptors were read at
        (zeros with ``upright``; NaN where ``mask`` is False), and
        ``responses``, ``reliabilities`` and ``repeatabilities``, which
        ``extract`` does not compute, None.

        Parameters
        ----------
        image : (H, W) array_like
            The image the keypoints belong to.
        keypoints : (N, 2) array_like, optional
            (row, col) positions; by default the keypoints of the last ``detect``.
        scales : (N,) array_like, optional
            Patch diameters in pixels, as in ``self.scales``: 32 / s for the
            pyramid level of scale s (32 at full resolution). Each keypoint is
            described at the pyramid level closest to its scale. Without scales
            (and without a previous ``detect``), the full-resolution level is
            used. Foreign scales are refused rather than misread: ORB's pyramid
            factors (1, 1.2, ...) must be multiplied by 32; SIFT's sigmas have no
            equivalent here (pass None).
        orientations : (N,) array_like, optional
            Accepted for scikit-image's call shape, and not used: descriptors
            are read upright with ``upright``, else at the orientation
            estimated at each keypoint (see Notes). Non-zero orientations other
            than this detector's own ``orientations`` are ignored with a warning.
        mask : (H, W) array_like of bool, optional
            True where pixels are valid (keyword only: ORB's fourth positional
            argument is ``orientations``).

        Raises
        ------
        ValueError
            For an unusable image, keypoints not of shape (N, 2), or scales not
            of shape (N,), not finite, or below 16 (half the smallest patch).
        RuntimeError
            For a flat image (all valid pixels have one value): nothing to describe.

        Notes
        -----
        A keypoint outside the image, within :func:`~sarfeat.pyramid.edge_margin`
        pixels of its level of the image edge, on a no-data pixel or within the network's reach of a
        large no-data region cannot be described: ``mask`` is False for it and
        ``descriptors`` has rows only for the others, as in
        ``skimage.feature.ORB``. With ``upright``, a descriptor is read at the
        pixel of its pyramid level nearest to the keypoint, as
        ``detect_and_extract`` does at the (unrefined) peak. Without, each
        keypoint's orientation is estimated at its position on its pyramid
        level, as ``detect`` does, and its turned patch is described there; the
        network is not run.
        """
        if keypoints is None:
            if self.keypoints is None:
                raise ValueError("no keypoints: pass keypoints= or call detect() first")
            keypoints = self.keypoints
            scales = self.scales if scales is None else scales
        own = same_keypoints(keypoints, scales, self.keypoints, self.scales)
        own_orientations = self.orientations
        # other keypoints replace the detection's: none of its results may pair with them
        self._clear_results(("descriptors", "mask") if own else RESULTS)
        keypoints, scales = check_keypoints(keypoints, scales, orientations, "SARR2D2Detector",
                                            upright=self.upright,
                                            own_orientations=own_orientations)
        normalized, float_dtype = self._prepare(image, mask)
        runner = self._get_runner()
        levels = list(self._levels(normalized))
        described, descriptors, estimated = describe_keypoints(
            levels, normalized, runner, self.tile_size, self._describer(), keypoints, scales)
        if not own:
            if scales is None:  # all were described on the first (largest) level
                scales = np.full(len(keypoints), PATCH_DIAMETER / levels[0].scale)
            self.keypoints, self.scales = keypoints.astype(float_dtype), scales.astype(float_dtype)
            self.orientations = estimated.astype(float_dtype)
        self.mask, self.descriptors = described, descriptors

    @property
    def runtime_used(self) -> dict[str, str] | None:
        """The runtime, precision and device the loaded network runs on (never 'auto'), as
        :func:`~sarfeat.detector_network.runner_summary` gives them; None before it is loaded."""
        return None if self._runner is None else runner_summary(self._runner)

    @property
    def runtime_device(self) -> str | None:
        """Where the loaded network runs (``'cpu'``, ``'cuda'``), None before it is loaded."""
        used = self.runtime_used
        return None if used is None else used["device"].split(":")[0]

    @property
    def mask_(self) -> np.ndarray | None:
        """Alias of ``mask`` under the name :class:`skimage.feature.ORB` uses."""
        return self.mask
