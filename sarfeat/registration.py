"""Register two SAR images in one call: :func:`register`.

:func:`register` checks both images, matches them with
:class:`~sarfeat.matching.CoarseFineMatcher`, resamples the moving image onto
the fixed image's grid and reports how far the result can be trusted. When the
images cannot be registered it raises :class:`RegistrationError` with a
sentence that says why, rather than returning a wrong transform.

Direction of the transform
--------------------------
``RegistrationResult.transform`` maps **fixed** (x, y) = (col, row) to
**moving** (x, y): it is the map :func:`skimage.transform.warp` needs to
resample the moving image onto the fixed grid, so ::

    warp(moving, result.transform, output_shape=fixed.shape)

reproduces ``result.warped``. ``result.moving_to_fixed`` is its inverse, which
carries moving-image coordinates into the fixed image.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_register_options
from .confidence import inlier_spread, overlap_fraction, registration_confidence
from .detector import NoKeypointsError
from .handover import Handover, handed_on, looked_at
from .image_checks import MIN_VALID_FRACTION, unusable_reason
from .input_kinds import pair_input_kind
from .matching import CoarseFineMatcher, parse_modality
from .nodata_steps import mark_nodata
from .pair_inputs import PairInputs
from .preprocess import check_image
from .registration_result import RegistrationResult
from .structural import masked_like_gray, modality_image
from .zero_edges import ZeroEdgeWarning, zero_edge_note

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an R2D2Net needs torch; only its name is used here
    from collections.abc import Callable

    from .io import Raster
    from .network import R2D2Net

# check_register_options, pair_input_kind and PairInputs are re-exported where they moved
# from (sarfeat._validation, sarfeat.input_kinds, sarfeat.pair_inputs)
__all__ = ["RegistrationError", "RegistrationResult", "register", "check_register_options",
           "PairInputs", "prepare_pair", "pair_input_kind", "no_overlap_error",
           "FOOTPRINT_MARGIN"]

#: Fixed pixels kept around the moving image's footprint when the fixed image is cropped to it
#: (room for a georeferencing error).
FOOTPRINT_MARGIN = 64


class RegistrationError(RuntimeError):
    """Two images could not be registered; the message says why.

    Raised by :func:`register` when an input is constant, mostly no-data or
    featureless, when the images do not overlap, or when no consistent,
    plausible model is supported by enough matches.

    Attributes
    ----------
    image : {'fixed', 'moving'} or None
        The input at fault, when one is.
    diagnostics : dict or None
        The matcher's diagnostics when it ran and found no usable model, or no
        usable keypoint in a coarse image (its ``'network'``: what ran the
        keypoint network); None when it failed earlier.
    """

    def __init__(self, message: str, image: str | None = None,
                 diagnostics: dict | None = None) -> None:
        super().__init__(message)
        self.image, self.diagnostics = image, diagnostics


def _check_input(image, which: str, nodata: float | None, min_valid_fraction: float):
    """Reject inputs that cannot be registered, with a message that says why.

    Returns the image as an array, or the masked array itself (its mask is kept).
    """
    try:
        checked = check_image(image)
    except ValueError as error:
        raise ValueError(f"{which} image: {error}") from None
    image = image if np.ma.isMaskedArray(image) else checked
    reason = unusable_reason(image, nodata, min_valid_fraction)  # the matcher says it too
    if reason is not None:
        raise RegistrationError(f"{which} image {reason}", which)
    return image


def register(
    fixed: ArrayLike | Handover,
    moving: ArrayLike | Handover,
    *,
    weights: str | os.PathLike | R2D2Net | None = None,
    model: str = "affine",
    order: int = 1,
    min_valid_fraction: float = MIN_VALID_FRACTION,
    matcher: CoarseFineMatcher | None = None,
    progress: bool | None = None,
    **matcher_options: Any,
) -> RegistrationResult:
    """Register ``moving`` onto ``fixed``.

    Parameters
    ----------
    fixed, moving : (H, W) array_like
        SAR images: uint8/uint16 quick-looks, float intensity, amplitude or
        dB, or complex; NaN (and ``nodata`` when given) marks no-data. Both
        are read with the same ``input_kind`` (default ``'auto'``). With
        ``modality`` (a matcher option) one image or both may be optical:
        ``'optical-sar'``, ``'sar-optical'``, or ``'optical'`` for two optical
        images. An optical image may also be
        (H, W, 3) RGB or (H, W, 4) RGBA: it is matched on its gray values
        (Rec. 709 luma, as the command line reads a colour file; a zero alpha
        is no-data), and ``warped`` of a colour moving image has its channels (an
        8-bit RGBA's colour weighted by its alpha: :func:`sarfeat.io.warp_colour`).
        ``fixed`` may come in a :class:`sarfeat.handover.Handover`: with an optical image
        it is let go once the matcher has made its working copy (``sarfeat register``
        holds a 9465 x 8483 uint16 band no longer while it matches it). So may
        ``moving`` (a 9465 x 8483 float32 SAR scene on the fixed grid, 306 MiB): it is
        let go the same way, and the result has no ``warped`` (None), which would
        resample it.
    weights : str, path-like or R2D2Net, optional
        The network, as for :class:`~sarfeat.SARR2D2Detector`.
    model : {'affine', 'similarity', 'projective'}
        The transform model.
    order : int
        Spline order of the resampling of ``moving`` (0 nearest, 1 bilinear, 3
        cubic).
    min_valid_fraction : float
        An input with a smaller fraction of valid pixels is refused.
    matcher : CoarseFineMatcher, optional
        A configured matcher to use (then ``weights``, ``model`` and
        ``matcher_options`` must not be given); reusing one across calls
        keeps the network loaded. Threads may share one: ``register`` reads
        its result from :meth:`~sarfeat.matching.CoarseFineMatcher.match_result`
        and leaves the matcher as it is.
    progress : bool, optional
        Show a progress bar over the fine stage's patches (tqdm, on standard
        error; with an optical image, over the dense matcher's steps). None: only when
        standard error is a terminal; False: quiet. Given with ``matcher``, it applies to
        this call only.
    **matcher_options : dict, optional
        Parameters of :class:`~sarfeat.matching.CoarseFineMatcher`
        (``rng``, ``patch_size``, ``radius``, ``rotations``, ``input_kind``,
        ``nodata``, detector options, ...).

    Returns
    -------
    RegistrationResult
        ``transform`` maps fixed (x, y) to moving (x, y) (the map
        :func:`skimage.transform.warp` needs); ``warped`` is the moving image
        on the fixed grid.

    Raises
    ------
    ValueError, TypeError
        For an input that is not a non-empty 2-D numeric array (nor an optical
        image's RGB(A); the message says what to pass), or bad parameters
        (TypeError: a ``matcher`` that is not a CoarseFineMatcher).
    RegistrationError
        When an input is constant, mostly no-data or featureless, when the
        images do not overlap, or when no consistent model is found; the
        message says which.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat import register
    >>> from sarfeat.data import load_sar_scene
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> fixed = scene[:224, :224, 0]
    >>> moving = scene[8:232, 5:229, 1]  # fixed pixel (row, col) is moving (row - 8, col - 5)
    >>> result = register(fixed, moving)  # sarfeat's bundled SAR weights
    >>> result.warped.shape == fixed.shape
    True
    >>> shift = result.transform.translation  # fixed (x, y) -> moving (x, y)
    >>> bool(np.allclose(shift, (-5, -8), atol=1))  # VH against VV: within a pixel
    True
    >>> bool(0.5 < result.confidence <= 1), bool(result.diagnostics["fine_inliers"] >= 20)
    (True, True)
    """
    started = time.perf_counter()
    matcher = _matcher_for(matcher, weights, model, progress, matcher_options)
    chosen = matcher.progress if progress is None else progress
    check_register_options(order, min_valid_fraction)  # warped is made when first read
    fixed, moving, colour_moving = _checked_images(matcher, fixed, moving, min_valid_fraction)
    _warn_of_zero_edges(matcher, fixed, moving)
    found = _match(matcher, fixed, moving, chosen)  # a Handover's image is let go there
    diagnostics, overlap = _checked_model(found, fixed.shape, moving.shape)
    points = found.keypoints1[found.verified[:, 0], ::-1]
    spread = inlier_spread(points, overlap * fixed.shape[0] * fixed.shape[1])
    coarse_failed = diagnostics.get("prior") != "coarse"
    confidence = registration_confidence(int(found.inliers.sum()), len(found.matches), spread,
                                         coarse_failed)
    diagnostics.update(
        model=matcher.model_type, coarse_angle=found.coarse_angle,
        overlap_fraction=overlap, spread=spread, coarse_failed=coarse_failed,
    )
    return RegistrationResult(
        transform=found.model,
        matches=found.matches,
        inliers=found.inliers,
        keypoints_fixed=found.keypoints1,
        keypoints_moving=found.keypoints2,
        diagnostics=diagnostics,
        confidence=float(confidence),
        seconds=time.perf_counter() - started,
        coarse_failed=coarse_failed,
        votes=found.votes,
        resampling=None if isinstance(moving, Handover) else  # let go: nothing to resample
        (moving if colour_moving is None else masked_like_gray(colour_moving, moving),
         order, matcher.nodata, fixed.shape),
    )


def _matcher_for(matcher, weights, model: str, progress: bool | None,
                 matcher_options: dict) -> CoarseFineMatcher:
    """``matcher``, or a new one of ``weights``, ``model`` and ``matcher_options``; both
    given is refused."""
    if matcher is None:
        return CoarseFineMatcher(weights, model=model, progress=progress, **matcher_options)
    if not isinstance(matcher, CoarseFineMatcher):
        raise TypeError(f"matcher must be a CoarseFineMatcher, got {type(matcher).__name__}")
    if weights is not None or matcher_options:
        raise ValueError("give either matcher= or weights= and matcher options, not both")
    return matcher


def _checked_images(matcher: CoarseFineMatcher, fixed, moving, min_valid_fraction: float):
    """(fixed, moving, colour moving): the images as matched (an optical one as gray), once
    checked (:func:`_check_input`), and a colour optical moving image as given (else None:
    also for one handed over, which is let go); an image in a
    :class:`~sarfeat.handover.Handover` comes back in one."""
    roles = parse_modality(matcher.modality)
    colour_moving = moving if (roles[1] == "optical" and not isinstance(moving, Handover)
                               and np.ndim(moving) == 3) else None
    fixed = handed_on(fixed, lambda image: modality_image(image, roles[0], "fixed image",
                                                          matcher.modality))
    moving = handed_on(moving, lambda image: modality_image(image, roles[1], "moving image",
                                                            matcher.modality))
    fixed = handed_on(fixed, lambda image: _check_input(image, "fixed", matcher.nodata,
                                                        min_valid_fraction))
    moving = handed_on(moving, lambda image: _check_input(image, "moving", matcher.nodata,
                                                          min_valid_fraction))
    return fixed, moving, colour_moving


def _warn_of_zero_edges(matcher: CoarseFineMatcher, fixed, moving) -> None:
    """A :class:`~sarfeat.zero_edges.ZeroEdgeWarning` for each SAR image whose exact zeros
    along its border look like a fill and are matched as data
    (:func:`~sarfeat.zero_edges.zero_edge_note`); none when ``nodata`` is given."""
    if matcher.nodata is not None:
        return
    roles = parse_modality(matcher.modality)
    for image, role, which in zip((looked_at(fixed), looked_at(moving)), roles,
                                  ("fixed", "moving")):
        note = None if role != "sar" else zero_edge_note(
            image, which, "optical" in roles, matcher.input_kind, matcher.border_fill)
        if note is not None:
            warnings.warn(note, ZeroEdgeWarning, stacklevel=3)


def _match(matcher: CoarseFineMatcher, fixed, moving, progress: bool | None):
    """The matcher's result; its errors say 'fixed' and 'moving' for 'image1' and 'image2'."""
    try:
        # match_result leaves the matcher as it is: threads may share it
        return matcher.match_result(fixed, moving, progress=progress)
    except NoKeypointsError as error:  # the detector found nothing in a coarse image
        which = "fixed" if str(error).startswith("image1") else "moving"
        raise RegistrationError(f"{which} image: {str(error).split(': ', 1)[-1]}", which,
                                getattr(error, "diagnostics", None)) from None
    except ValueError as error:  # the matcher's (an optical pair's image too small) names
        text = str(error)       # image1 and image2: here they are the fixed and moving
        for name, which in (("image1", "fixed image"), ("image2", "moving image")):
            if text.startswith(name):
                raise ValueError(which + text[len(name):]) from None
        raise


def _checked_model(found, fixed_shape: tuple, moving_shape: tuple) -> tuple[dict, float]:
    """(diagnostics, overlap fraction) of a match that found a model with some overlap;
    a :class:`RegistrationError` otherwise."""
    diagnostics = dict(found.diagnostics)
    if found.model is None:
        raise RegistrationError(f"cannot register the images: {diagnostics.get('failure')}",
                                diagnostics=diagnostics)
    overlap = overlap_fraction(found.model, fixed_shape, moving_shape)
    if overlap == 0:
        raise RegistrationError("the estimated transform leaves no overlap between the images",
                                diagnostics=diagnostics)
    return diagnostics, overlap


# -- two rasters, with their georeferencing ---------------------------------------------------


def _magnitude(values: np.ndarray) -> np.ndarray:
    """What is matched of a band: its amplitude when complex (an SLC's phase is not)."""
    return np.abs(values) if np.iscomplexobj(values) else values


def prepare_pair(fixed: Raster, moving: Raster, fixed_band: int | None = None,
                 moving_band: int | None = None, *, margin: int = FOOTPRINT_MARGIN,
                 nodata: float | None = None,
                 names: tuple[str, str] = ("the fixed image", "the moving image"),
                 read_fixed: Callable[[tuple[int, int, int, int]], np.ndarray] | None = None
                 ) -> PairInputs:
    """What to match of two rasters, as ``sarfeat register`` matches them.

    When both are georeferenced, the fixed band is cropped to the moving
    image's footprint (widened by ``margin`` fixed pixels) and a moving image
    on another grid or in another CRS is brought onto that crop
    (:func:`sarfeat.georeferencing.reproject_band`); otherwise both bands are matched as
    they are. A transform found between ``fixed_image`` and ``moving_image``
    becomes one between the files' pixels with :meth:`PairInputs.total`.

    Parameters
    ----------
    fixed, moving : sarfeat.io.Raster
        The two files, read by :func:`sarfeat.io.read_raster`.
    fixed_band, moving_band : int, optional
        The band of each that is matched, as for :meth:`sarfeat.io.Raster.band`.
    margin : int
        Fixed pixels kept around the moving footprint.
    nodata : float, optional
        A pixel value that marks no-data in both files too, read as a file's own
        nodata value is (:func:`sarfeat.nodata_steps.mark_nodata`).
    names : (str, str)
        How an error names the fixed and the moving raster, as the caller knows them
        (``sarfeat register``: ``('FIXED', 'MOVING')``).
    read_fixed : callable, optional
        ``read_fixed(window)``: the fixed band (as ``fixed.band(fixed_band, window)``) in
        ``window`` (r0, r1, c0, c1) of the file, read from it; then ``fixed`` may be a
        raster of no band (:func:`sarfeat.io.read_raster_header`), and only the window of
        the fixed file that is matched is read (``sarfeat register``).

    Returns
    -------
    PairInputs

    Raises
    ------
    RegistrationError
        When two georeferenced footprints do not overlap (:func:`no_overlap_error`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sarfeat.data import load_sar_scene
    >>> from sarfeat.io import read_raster
    >>> from sarfeat.registration import prepare_pair, register
    >>> scene = load_sar_scene("labrador")  # bundled Sentinel-1: VV and VH, co-registered
    >>> temporary = tempfile.TemporaryDirectory()
    >>> folder = Path(temporary.name)
    >>> np.save(folder / "a.npy", scene[:224, :224, 0])  # files without georeferencing:
    >>> np.save(folder / "b.npy", scene[8:232, 5:229, 0])  # matched as they are
    >>> pair = prepare_pair(read_raster(folder / "a.npy"), read_raster(folder / "b.npy"))
    >>> pair.window  # (r0, r1, c0, c1) of the fixed file that is matched
    (0, 224, 0, 224)
    >>> found = register(pair.fixed_image, pair.moving_image)
    >>> total = pair.total(found.transform.params)  # fixed file -> moving file pixels
    >>> bool(np.allclose(total, [[1, 0, -5], [0, 1, -8], [0, 0, 1]], atol=0.1))
    True
    >>> temporary.cleanup()
    """
    from .io import reproject_band

    fixed, moving = mark_nodata(fixed, nodata), mark_nodata(moving, nodata)
    window = (0, fixed.shape[0], 0, fixed.shape[1])
    georeferencing, prior, resampled = np.eye(3), np.eye(3), False
    if fixed.georeferenced and moving.georeferenced:
        georeferencing, window, matched, prior, resampled = _footprint_crop(fixed, moving,
                                                                            margin, names)
    r0, r1, c0, c1 = window
    fixed_image = _magnitude(fixed.band(fixed_band, window=window) if read_fixed is None
                             else read_fixed(window))  # the crop alone
    if resampled:
        moving_image = reproject_band(moving, moving_band, matched)
    else:
        prior = np.eye(3)
        moving_image = _magnitude(moving.band(moving_band))
    crop = np.array([[1, 0, -c0], [0, 1, -r0], [0, 0, 1.0]])
    return PairInputs(fixed, moving, fixed_image, moving_image, prior, resampled, crop,
                      georeferencing)


def _footprint_crop(fixed: Raster, moving: Raster, margin: int, names: tuple[str, str]):
    """(georeferencing, window, matched, prior, resampled) of two georeferenced rasters: the
    fixed file's pixels -> the moving file's, the fixed window over the moving footprint
    (widened by ``margin``), the fixed raster cropped to it, its pixels -> the moving file's,
    and whether the moving band must be brought onto that crop; refused when the footprints
    do not overlap (:func:`no_overlap_error`)."""
    from affine import Affine  # rasterio's: only georeferenced rasters need it

    from .io import footprint_window, pixel_map

    georeferencing = pixel_map(fixed, moving)
    window = footprint_window(fixed, moving, margin)
    # footprints apart by less than the margin do not overlap either: the moving band,
    # brought onto the fixed crop, would be all no-data ("no valid pixel", said of MOVING)
    if window is None or footprint_window(fixed, moving) is None:
        raise no_overlap_error(fixed, moving, names)
    r0, r1, c0, c1 = window
    matched = replace(fixed, data=fixed.data[:, r0:r1, c0:c1],
                      valid=fixed.valid[:, r0:r1, c0:c1],
                      transform=fixed.transform @ Affine.translation(c0, r0))
    prior = pixel_map(matched, moving)
    resampled = fixed.crs != moving.crs or matched.shape != moving.shape \
        or not np.allclose(prior, np.eye(3), atol=1e-6)
    return georeferencing, window, matched, prior, resampled


def no_overlap_error(fixed: Raster, moving: Raster,
                     names: tuple[str, str] = ("the fixed image", "the moving image")
                     ) -> RegistrationError:
    """The error of two georeferenced footprints that do not overlap, with their distance.

    Parameters
    ----------
    fixed, moving : sarfeat.io.Raster
        Two georeferenced rasters.
    names : (str, str)
        What the message calls them.

    Returns
    -------
    RegistrationError
        Saying how far apart (in the fixed CRS's units) their centres are.
    """
    from .georeferencing import centre_distance

    distance, units = centre_distance(fixed, moving)
    return RegistrationError(
        f"the footprints of {names[0]} and {names[1]} do not overlap: by their georeferencing "
        f"their centres are {distance:.6g} {units} apart; check that they show the same place "
        "(or register them from pixels alone, without georeferencing)")
