"""Structure maps that survive the change from optical to SAR: :func:`structure_maps`.

Optical and SAR images of one place share their structure (edges, lines,
field and building outlines) but little else: SAR backscatter and optical
reflectance differ in sign and level, and SAR carries speckle. sarfeat
describes each pixel by how much local *energy* the image has in each of a
few orientations, read from a bank of log-Gabor filters (Field 1987; the
filters on which phase congruency is computed: Kovesi 1999, and the RIFT
descriptor of Li, Hu and Ai 2020 builds on them):

1. SAR is taken to its log (speckle becomes additive; bright scatterers stop
   dominating); optical gray values are used as they are.
2. Each image is filtered in the Fourier domain by log-Gabor filters at
   ``len(wavelengths)`` scales and ``orientations`` directions (one lobe, so
   the response is complex: even and odd parts). The modulus of a response is
   its local energy: the same for a dark line on a bright field and for a
   bright one on a dark field, which is what the change of modality does.
3. Per orientation the energies of all scales (each scale divided by its own
   mean, so that no scale dominates) are summed, smoothed by a Gaussian and
   compressed by a square root; the channels are then divided by the local
   mean energy over all orientations (a wide Gaussian), which removes the
   difference of contrast between the modalities while keeping where structure
   is and which way it runs.

The result is a (orientations, H, W) stack compared by normalised cross
correlation in :mod:`sarfeat.matching.dense`. :func:`gradient_maps` is the
second kind of map, and the matcher's default: per pixel, a soft-binned
histogram of gradient orientation modulo 180 degrees (HOG-like cells and block
normalisation), the gradient taken on the same prepared images. The maps turn with the image only
when the image itself is turned: the dense matcher resamples an image before it
computes them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft as sfft
from scipy import ndimage

from .io import rgb_to_gray
from .nodata_regions import unfilled_nodata
from .preprocess import as_float32, fill_invalid, normalize_sar, valid_mask

__all__ = ["MODALITIES", "FEATURES", "LEAST_SIDE", "structure_maps", "gradient_maps",
           "optical_gray", "masked_like_gray", "modality_image", "prepare_modality"]

#: Modalities an image may have.
MODALITIES = ("sar", "optical")
#: Dense feature maps the optical-SAR matcher may compare: log-Gabor orientation energy
#: (:func:`structure_maps`) or soft-binned gradient orientation (:func:`gradient_maps`).
FEATURES = ("log-gabor", "gradient")
#: Least side, in pixels, of an image whose maps can be made.
LEAST_SIDE = 8

#: Bandwidth of the log-Gabor filters (ratio of the radial Gaussian's sigma to the centre
#: frequency, on a log scale; 0.55 is about two octaves) and the angular spread (sigma of the
#: angular Gaussian over the angle between two orientations).
_SIGMA_ON_F = 0.55
_ANGULAR_SIGMA = 0.6


def optical_gray(image: ArrayLike) -> ArrayLike:
    """An (H, W, 3) RGB or (H, W, 4) RGBA optical image as the gray image the matchers read.

    Rec. 709 luma (:func:`sarfeat.io.rgb_to_gray`, as the command line reads a
    colour file); a zero alpha, or a masked channel, is no-data (NaN). Any other
    input is returned as it is (a 2-D image, or something the input checks refuse).

    Parameters
    ----------
    image : array_like
        The optical image: (H, W, 3) RGB or (H, W, 4) RGBA of real numbers, a
        masked array included; anything else is returned unchanged.

    Returns
    -------
    gray : (H, W) ndarray or array_like
        The gray values (an integer image's dtype kept, float32 for a float
        image), float32 with NaN on no-data when it has some; ``image`` itself
        when it is not a colour image.

    Examples
    --------
    >>> import numpy as np
    >>> gray = optical_gray(np.full((2, 2, 3), 200, np.uint8))
    >>> gray.shape, gray.dtype, int(gray[0, 0])  # NumPy 1 and 2 print these alike
    ((2, 2), dtype('uint8'), 200)
    """
    if np.ndim(image) != 3 or np.shape(image)[-1] not in (3, 4):
        return image
    data = np.asarray(np.ma.getdata(image))
    if np.iscomplexobj(data) or not np.issubdtype(data.dtype, np.number):
        return image
    gray = rgb_to_gray(data[..., :3])
    hidden = np.ma.getmaskarray(image).any(axis=-1) if np.ma.isMaskedArray(image) else None
    if data.shape[-1] == 4:
        hidden = (data[..., 3] == 0) if hidden is None else hidden | (data[..., 3] == 0)
    if hidden is not None and hidden.any():
        gray = np.where(hidden, np.nan, gray).astype(np.float32)
    return gray


def masked_like_gray(colour: ArrayLike, gray: np.ndarray) -> np.ma.MaskedArray:
    """A colour image masked, in every channel, where its gray values are no-data.

    The pixels that :func:`optical_gray` leaves out (a zero alpha, a masked or
    NaN channel) are masked. :func:`sarfeat.register` resamples a colour moving
    image as this masked array, so that ``warped`` leaves those pixels out too.

    Parameters
    ----------
    colour : (H, W, C) array_like
        The colour image.
    gray : (H, W) ndarray
        Its gray values (:func:`optical_gray`), NaN on no-data.

    Returns
    -------
    numpy.ma.MaskedArray
        ``colour`` with every channel masked where ``gray`` is not valid.
    """
    hidden = ~valid_mask(gray)
    return np.ma.masked_array(colour, np.repeat(hidden[..., None], np.shape(colour)[-1], -1))


def modality_image(image: ArrayLike, role: str, which: str, modality: str = "sar"
                   ) -> ArrayLike:
    """An input as the matchers read it for its role.

    An optical image gives its gray values (:func:`optical_gray`), anything
    else is returned as it is; a 3-D array that neither role takes is refused
    saying what to pass.

    Parameters
    ----------
    image : array_like
        The input.
    role : {'sar', 'optical'}
        What it is.
    which : str
        How messages name it (``'fixed image'``, ``'image1'``).
    modality : str
        The pair's modality as given, for the messages.

    Returns
    -------
    array_like
        The gray values of an optical colour image, otherwise ``image`` itself.

    Raises
    ------
    ValueError
        For a complex optical image, or a 3-D array: an optical one that is not (H, W, 3)
        RGB or (H, W, 4) RGBA (a (bands, H, W) array as rasterio reads it, say), or a
        colour one given as SAR.
    """
    try:
        shape = np.shape(image)
    except ValueError:  # a ragged sequence: for the input checks to refuse
        return image
    if role == "optical":
        image = optical_gray(image)
        if np.iscomplexobj(image):
            raise ValueError(f"{which}: an optical image cannot be complex; pass its gray "
                             "values (or modality 'sar' for a complex SAR image)")
        shape = np.shape(image)
    if len(shape) != 3:
        return image  # 2-D, or for the input checks to refuse
    if role == "optical":
        raise ValueError(
            f"{which}: an optical image must be (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got "
            f"an array of shape {shape}; a (bands, H, W) array, as rasterio's read() gives "
            "it, is one band, image[i], or its RGB bands as np.moveaxis(image[[r, g, b]], 0, "
            "-1)")
    if shape[-1] not in (3, 4):
        return image
    if MODALITIES[1] in str(modality).lower():  # an optical pair, the roles swapped?
        raise ValueError(
            f"{which}: a SAR image is a single-channel (H, W) array, got shape {shape}; with "
            f"modality={modality!r} {which} is the SAR image: if it is the optical one, "
            "swap the modality ('optical-sar': the fixed image optical, 'sar-optical': the "
            "moving one)")
    raise ValueError(
        f"{which}: a SAR image is a single-channel (H, W) array, got shape {shape}; an optical "
        "image against a SAR one takes modality='optical-sar' (the fixed image optical) or "
        "'sar-optical', two optical images modality='optical', and an RGB(A) quick-look of "
        "a SAR image its gray values, e.g. skimage.color.rgb2gray(image[..., :3])")


def prepare_modality(image: np.ndarray, modality: str, input_kind: str = "auto") -> np.ndarray:
    """The image as float32 on which structure is measured; NaN where invalid.

    SAR goes through :func:`sarfeat.normalize_sar` (log of intensity or
    amplitude, robust stretch); optical images (a colour one read by
    :func:`optical_gray`, a zero alpha no-data) are scaled to [0, 1] by their
    1st and 99th percentiles. Small no-data regions (isolated pixels, lines,
    blobs that a 5 x 5 square does not fit in, touching neither a larger one
    nor the image's border) are filled from their valid neighbours, as
    :func:`sarfeat.preprocess.fill_invalid` fills them for the SAR-SAR
    detector; larger ones stay NaN, their ragged edges included. Marked NaN,
    every scattered invalid pixel would take the maps' reach around it out of
    the comparison: half a percent of them left no template to place.

    Parameters
    ----------
    image : ndarray
        The image: (H, W) SAR or optical, or (H, W, 3) RGB / (H, W, 4) RGBA optical.
    modality : {'sar', 'optical'}
        What the image is.
    input_kind : str
        What a SAR image's values are, as :func:`sarfeat.normalize_sar` takes it
        (``'auto'`` decides from the values); unused for an optical image.

    Returns
    -------
    (H, W) ndarray of float32
        The prepared image, NaN on the no-data that is not filled.

    Raises
    ------
    ValueError
        For an unknown ``modality``, a complex or wrongly shaped optical image,
        an optical image with no finite pixel, or values that float32 cannot hold
        (:func:`sarfeat.preprocess.as_float32`).
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    image = np.asarray(image)
    if np.iscomplexobj(image) and modality == "optical":
        raise ValueError("an optical image cannot be complex; pass its gray values (or "
                         "modality 'sar' for a complex SAR image)")
    if image.ndim == 3 and modality == "optical":  # colour: as register reads it
        image = np.asarray(optical_gray(image))
        if image.ndim != 2:
            raise ValueError(f"an optical image must be (H, W), (H, W, 3) RGB or (H, W, 4) "
                             f"RGBA, got shape {image.shape}")
    if modality == "sar":
        normalized = normalize_sar(image, input_kind)
        # its no-data filled; a copy of the input already (float32: no second copy)
        values = normalized.image.astype(np.float32, copy=False)
        if normalized.valid is not None:
            values[unfilled_nodata(normalized.valid, normalized.large_invalid)] = np.nan
        return values
    values = as_float32(image)  # values beyond float32 refused, not made inf or 0
    valid = np.isfinite(values)
    if not valid.any():
        raise ValueError("the optical image has no finite pixel")
    # the valid values' copy is partitioned in place (no second copy; the same bounds)
    low, high = np.percentile(values[valid], [1, 99], overwrite_input=True)
    # in place, in float32: float64 bounds would make float64 copies of a large image
    values = np.array(values, dtype=np.float32, copy=np.may_share_memory(values, image))
    values -= np.float32(low)
    values /= np.float32(max(high - low, 1e-6))
    values[~valid] = 0
    if not valid.all():
        large = fill_invalid(values, valid)
        values[unfilled_nodata(valid, large)] = np.nan
    return values


@lru_cache(maxsize=8)
def _log_gabor_bank(shape, wavelengths, orientations: int) -> np.ndarray:
    """(S, O, H, W) log-Gabor transfer functions, one lobe each (complex responses)."""
    rows, cols = shape
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.fftfreq(cols)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0  # the DC term is zeroed below
    theta = np.arctan2(-fy, fx)
    bank = np.empty((len(wavelengths), orientations, rows, cols), np.float32)
    spread = _ANGULAR_SIGMA * np.pi / orientations
    for o in range(orientations):
        angle = o * np.pi / orientations
        difference = np.abs(np.angle(np.exp(1j * (theta - angle))))
        angular = np.exp(-difference ** 2 / (2 * spread ** 2))
        for s, wavelength in enumerate(wavelengths):
            radial = np.exp(-np.log(radius * wavelength) ** 2 / (2 * np.log(_SIGMA_ON_F) ** 2))
            radial[0, 0] = 0.0
            bank[s, o] = radial * angular
    bank.flags.writeable = False  # shared by the cache
    return bank


def structure_maps(
    image: np.ndarray,
    *,
    orientations: int = 6,
    wavelengths: tuple[float, ...] = (4.0, 8.0, 16.0),
    sigma: float = 1.5,
    context: float = 12.0,
) -> np.ndarray:
    """Orientation-energy maps of a prepared image (see the module documentation).

    Parameters
    ----------
    image : (H, W) ndarray
        An image from :func:`prepare_modality`; NaN marks invalid pixels.
    orientations : int
        Directions of the filter bank, ``180 / orientations`` degrees apart.
    wavelengths : tuple of float
        Centre wavelengths of the scales, in pixels.
    sigma : float
        Gaussian smoothing of each channel, in pixels.
    context : float
        Sigma, in pixels, of the local mean energy that normalises the maps.

    Returns
    -------
    maps : (orientations, H, W) ndarray of float32
        NaN where the image is invalid (or within half the largest wavelength of it).
    """
    valid, filled = _valid_and_filled(image)
    # pad by reflection so that the circular FFT does not wrap edges into each other
    pad = int(max(wavelengths))
    padded = np.pad(filled, pad, mode="reflect")
    bank = _log_gabor_bank(padded.shape, tuple(wavelengths), orientations)
    energy = np.zeros((orientations,) + image.shape, np.float32)
    full = sfft.fft2(padded.astype(np.complex64))
    for s in range(len(wavelengths)):
        responses = sfft.ifft2(full[None] * bank[s], axes=(1, 2))[:, pad:-pad, pad:-pad]
        scale = np.abs(responses)
        energy += scale / max(float(scale[:, valid].mean()), 1e-12)
    # every orientation smoothed on its own (no smoothing across channels)
    maps = np.sqrt(ndimage.gaussian_filter(energy, (0.0, sigma, sigma)))
    local = ndimage.gaussian_filter(maps.mean(axis=0), context)
    maps /= local + 0.1 * float(local.mean()) + 1e-12
    if not valid.all():
        near = ndimage.binary_dilation(~valid, iterations=max(1, int(max(wavelengths) / 2)))
        maps[:, near] = np.nan
    return maps


def _valid_and_filled(image: np.ndarray):
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2 or min(image.shape) < LEAST_SIDE:
        raise ValueError(f"expected a 2-D image of at least {LEAST_SIDE} x {LEAST_SIDE} pixels, "
                         f"got {image.shape}")
    valid = np.isfinite(image)
    if not valid.any():
        raise ValueError("the image has no valid pixel")
    return valid, np.where(valid, image, np.float32(np.mean(image[valid])))


def _modulo_half_turn(angle: np.ndarray) -> np.ndarray:
    """``np.mod(angle, np.pi)`` of float32 angles in [-pi, pi] (arctan2's), four times
    faster: a negative angle plus pi, pi itself 0 (the same values, but a -0 kept)."""
    half = np.float32(np.pi)
    return np.where(angle < 0, angle + half, np.where(angle >= half, np.float32(0), angle))


def gradient_maps(
    image: np.ndarray,
    *,
    orientations: int = 8,
    scales: tuple[float, ...] = (1.0, 2.0),
    cell: float = 2.0,
    context: float = 8.0,
) -> np.ndarray:
    """Soft-binned histograms of gradient orientation, per pixel, of a prepared image.

    A HOG-like structure feature (Dalal and Triggs 2005; used across modalities
    by HOPC, Ye et al. 2017, with phase congruency in place of the gradient):

    1. The gradient is measured by Gaussian derivatives at each of ``scales``.
       On the log of a SAR image (:func:`prepare_modality`) a derivative is a
       log-ratio of local means, the edge measure that speckle does not bias
       (the OS-SIFT and ROEWA idea); each scale's magnitude is divided by its
       mean so that no scale dominates.
    2. The orientation, taken modulo 180 degrees (a dark-to-bright edge and a
       bright-to-dark one are the same structure, which the change of modality
       needs), casts the magnitude into the two nearest of ``orientations``
       bins, linearly.
    3. Each bin is summed over a Gaussian cell of sigma ``cell`` and compressed
       by a square root; the histogram is divided by the root mean square
       histogram of a Gaussian block of sigma ``context`` around the pixel
       (HOG's block normalisation), which removes the difference of contrast
       between the modalities.

    Parameters
    ----------
    image : (H, W) ndarray
        An image from :func:`prepare_modality`; NaN marks invalid pixels.
    orientations : int
        Orientation bins over 180 degrees.
    scales : tuple of float
        Sigmas, in pixels, of the Gaussian derivatives.
    cell, context : float
        Sigmas, in pixels, of the cell that sums a histogram and of the block that
        normalises it.

    Returns
    -------
    maps : (orientations, H, W) ndarray of float32
        NaN where the image is invalid (or within two of the largest sigmas of it).

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.structural import gradient_maps
    >>> gradient_maps(np.random.default_rng(0).random((32, 32))).shape
    (8, 32, 32)
    """
    valid, filled = _valid_and_filled(image)
    histogram = np.zeros((orientations,) + filled.shape, np.float32)
    for sigma in scales:
        gy = ndimage.gaussian_filter(filled, sigma, order=(1, 0))
        gx = ndimage.gaussian_filter(filled, sigma, order=(0, 1))
        magnitude = np.hypot(gx, gy)
        magnitude /= max(float(magnitude[valid].mean()), 1e-12)
        position = _modulo_half_turn(np.arctan2(gy, gx)) * (orientations / np.pi)
        low = np.floor(position)
        upper = magnitude * (position - low)
        lower = magnitude - upper
        low = low.astype(np.int8) % orientations
        # each pixel's magnitude shared between its two nearest bins (the lower bin's
        # share first, then the upper one's, for every bin)
        for index in range(orientations):
            histogram[index] += lower * (low == index)
        for index in range(orientations):
            histogram[index] += upper * (low == (index - 1) % orientations)
    # every bin over the cell (no smoothing across bins)
    maps = np.sqrt(ndimage.gaussian_filter(histogram, (0.0, cell, cell)))
    block = np.sqrt(ndimage.gaussian_filter((maps ** 2).mean(axis=0), context))
    maps /= block + 0.1 * float(block.mean()) + 1e-12
    if not valid.all():
        near = ndimage.binary_dilation(~valid, iterations=max(1, int(2 * max(scales))))
        maps[:, near] = np.nan
    return maps
