"""Plots of keypoints, matches and registrations (matplotlib, optional).

Every function draws on a new :class:`matplotlib.figure.Figure` (no pyplot
state) and saves it to a file; matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

import os

import numpy as np

from ._validation import check_integer
from .preprocess import normalize_sar, valid_mask

__all__ = ["NODATA_COLOR", "OPTICAL_PERCENTILES", "OVERLAY_PERCENTILES", "display_image",
           "display_rgb", "figure", "plot_keypoints",
           "plot_match_errors", "plot_registration", "registration_view"]

#: Most matches drawn in a registration plot (an even sample of the inliers beyond).
PLOT_MATCHES = 150
#: Longest side of the images a plot draws: a plot is a view, and a larger image (a scene)
#: is shown downsampled to it, in bounded time and memory (``sarfeat detect --plot``, with
#: or without ``--example``, and ``sarfeat register --plot``).
PLOT_SIDE = 1024
#: Percentiles of an optical image's gray values that a plot stretches linearly to black and
#: white (a uint8 picture is drawn as it is).
OPTICAL_PERCENTILES = (2.0, 98.0)
#: Percentiles that each image of a registration overlay is stretched linearly between (to
#: black and white), over the pixels where both have data, then its median there brought to
#: mid-gray: the two channels span one range and balance (an 8-bit picture, SAR in dB).
OVERLAY_PERCENTILES = (2.0, 98.0)
#: RGB colour of no-data pixels (NaN, masked, outside a warped image) in every plot, and of
#: the padding beside the smaller of two images drawn side by side: no gray value, nor any
#: mix of the overlay's magenta and green, is drawn in it.
NODATA_COLOR = (0.27, 0.51, 0.71)  # matplotlib's 'steelblue'
#: Longest residual (pixels) below which a registration plot's tie points are taken as fitted
#: exactly (no arrow to magnify): a model fitted to as few tie points as it needs.
EXACT_FIT_PX = 1e-3
#: What a plot's title adds when it draws no-data pixels.
NODATA_NOTE = "(steel blue: no data)"


def figure(size: tuple[float, float]):
    """A new Agg figure with a constrained layout; RuntimeError without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install matplotlib") from None
    return Figure(figsize=size, layout="constrained")


def plot_keypoints(path: str | os.PathLike, image: np.ndarray, keypoints: np.ndarray,
                   scales: np.ndarray, responses: np.ndarray, title: str,
                   side: int | None = PLOT_SIDE) -> None:
    """Keypoints (row, col) as circles sized by scale and coloured by response over ``image``.

    ``image`` is a 2-D display image in [0, 1], NaN on no-data, drawn in
    :data:`NODATA_COLOR` (e.g. ``display_image(x, mark_nodata=True)``);
    ``keypoints`` (N, 2), ``scales`` and ``responses`` (N,) finite numbers, as a
    detector gives them (a ValueError says which is not). An image longer than
    ``side`` pixels is drawn downsampled to ``side`` pixels a side (its keypoints moved
    with it; the title says so): None draws it at full resolution.
    """
    check_integer("side", side, optional=True)
    if np.ndim(image) != 2:
        raise ValueError(f"image must be a 2-D display image, got shape {np.shape(image)}")
    keypoints, scales, responses = _keypoint_arrays(keypoints, scales, responses)
    image, keypoints, title = _keypoint_view(image, keypoints, title, side)
    fig = figure((8, 8 * image.shape[0] / max(image.shape[1], 1) + 0.4))  # or RuntimeError
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ax = fig.add_subplot()
    _draw_gray(ax, image)
    order = np.argsort(responses)  # best keypoints drawn last, on top
    if len(responses):
        low, high = float(responses.min()), float(responses.max())
        if high <= low:  # one response (one keypoint, ties): at the middle of the colour bar
            pad = 0.1 * abs(low) or 0.1  # (Normalize(v, v) colours v as the bar's bottom end)
            low, high = low - pad, high + pad
        colors = ScalarMappable(Normalize(low, high), "viridis")
        ax.scatter(keypoints[order, 1], keypoints[order, 0], s=np.clip(scales[order], 16, 256),
                   marker="o", facecolors="none", edgecolors=colors.to_rgba(responses[order]),
                   linewidths=0.8)
        fig.colorbar(colors, ax=ax, shrink=0.7, label="response (reliability x repeatability)")
    ax.set_title(_noted(title, image))
    ax.set_axis_off()
    _save(fig, path, 120)


def _draw_gray(ax, shown: np.ndarray) -> None:
    """A display image in [0, 1] drawn in gray on ``ax``, its NaN (no-data) in NODATA_COLOR."""
    from matplotlib import colormaps

    gray = colormaps["gray"].with_extremes(bad=NODATA_COLOR)
    ax.imshow(np.ma.masked_invalid(shown), cmap=gray, vmin=0, vmax=1, interpolation="nearest")


def display_rgb(shown) -> np.ndarray:
    """A display image as sarfeat's plots draw it: gray RGB, no-data in :data:`NODATA_COLOR`.

    Parameters
    ----------
    shown : array_like
        A 2-D display image in [0, 1], NaN on no-data, as
        ``display_image(image, mark_nodata=True)`` gives it.

    Returns
    -------
    ndarray
        (H, W, 3) float32 RGB, for :meth:`matplotlib.axes.Axes.imshow` or
        :func:`skimage.feature.plot_matched_features`.

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.viz import NODATA_COLOR, display_rgb
    >>> rgb = display_rgb(np.array([[0.5, np.nan]]))
    >>> rgb[0, 0].tolist(), bool(np.allclose(rgb[0, 1], NODATA_COLOR))
    ([0.5, 0.5, 0.5], True)
    """
    shown = np.asarray(shown, np.float32)
    if shown.ndim != 2:
        raise ValueError(f"shown must be a 2-D display image, got shape {shown.shape}")
    nodata = np.isnan(shown)
    rgb = np.repeat(np.where(nodata, 0, shown)[..., None], 3, axis=-1)
    rgb[nodata] = NODATA_COLOR
    return rgb


def _draw_matches(ax, shown0: np.ndarray, shown1: np.ndarray, keypoints0, keypoints1,
                  groups) -> list[np.ndarray]:
    """Two display images side by side on ``ax``, and each (matches, colour) of ``groups``
    over them; the images are drawn even with no matches. Images of different sizes are
    padded at the bottom and right to the larger height and width with no-data, drawn in
    NODATA_COLOR (:func:`skimage.feature.plot_matched_features` pads them with black, which
    reads as image content). Returns the two display images as drawn (padded), for the
    title's note (:func:`_noted`)."""
    from skimage.feature import plot_matched_features

    rows, cols = max(shown0.shape[0], shown1.shape[0]), max(shown0.shape[1], shown1.shape[1])
    padded = [np.pad(np.asarray(s, np.float32), ((0, rows - s.shape[0]), (0, cols - s.shape[1])),
                     constant_values=np.nan) for s in (shown0, shown1)]
    images = [display_rgb(s) for s in padded]
    groups = [(matches, color) for matches, color in groups if len(matches)] \
        or [(np.empty((0, 2), int), "lime")]
    for matches, color in groups:
        plot_matched_features(*images, keypoints0=keypoints0, keypoints1=keypoints1,
                              matches=matches, ax=ax, keypoints_color="yellow",
                              matches_color=color, only_matches=True)
    return padded


def _noted(title: str, *shown: np.ndarray) -> str:
    """``title``, and the colour no-data is drawn in when any of ``shown`` has NaN."""
    return f"{title}\n{NODATA_NOTE}" if any(np.isnan(s).any() for s in shown) else title


def _keypoint_arrays(keypoints, scales, responses):
    """(N, 2), (N,), (N,) float arrays of finite numbers; ValueError naming the one that is not."""
    arrays = {}
    for name, values, shape in (("keypoints", keypoints, (2,)), ("scales", scales, ()),
                                ("responses", responses, ())):
        array = np.asarray(values)
        if array.size == 0:  # none found ([] as well as an empty (0, 2) array)
            array = np.empty((0,) + shape)
        if array.dtype.kind not in "iuf" or array.ndim != 1 + len(shape) \
                or array.shape[1:] != shape or not np.isfinite(array).all():
            wanted = "(N, 2) (row, col)" if shape else "(N,)"
            raise ValueError(f"{name} must be {wanted} finite numbers, got shape {array.shape} "
                             f"of dtype {array.dtype}")
        arrays[name] = array.astype(float)
    counts = {name: len(array) for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"keypoints, scales and responses must be as many, got {counts}")
    return arrays["keypoints"], arrays["scales"], arrays["responses"]


def _keypoint_view(image, keypoints: np.ndarray, title: str, side: int | None):
    """``image`` downsampled to at most ``side`` pixels a side, its keypoints (row, col) on
    that view, and the title saying so; all as given for a smaller image or no ``side``."""
    factor = _view_factor([np.shape(image)], side)
    view, keypoints = _shrunk(image, keypoints, factor)
    return view, keypoints, _view_title(title, [np.shape(image)], [view.shape])


def _view_factor(shapes, side: int | None) -> float:
    """The scale that brings the longest side of ``shapes`` to ``side`` pixels (1: none)."""
    longest = max(max(shape) for shape in shapes)
    return 1.0 if side is None else min(1.0, side / max(longest, 1))


def _shrunk(image, keypoints: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` downsampled by ``factor`` and its keypoints (row, col) moved onto that view."""
    if factor >= 1:
        return image, keypoints
    from .matching.geometry import apply_matrix, downsample

    view, to_original = downsample(np.asarray(image, np.float32), factor)
    if len(keypoints):
        keypoints = apply_matrix(np.linalg.inv(to_original), keypoints[:, ::-1])[:, ::-1]
    return view, keypoints


def _view_title(title: str, shapes, views) -> str:
    """``title``, and what was drawn downsampled when ``views`` are smaller than ``shapes``."""
    note = _view_note(shapes, views)
    return f"{title}\n{note}" if note else title


def _view_note(shapes, views) -> str:
    """What was drawn downsampled when ``views`` are smaller than ``shapes`` ('' if none)."""
    if [tuple(shape[:2]) for shape in shapes] == [tuple(view[:2]) for view in views]:
        return ""
    sizes = [" and ".join(f"{s[0]} x {s[1]}" for s in group) for group in (shapes, views)]
    images = "image" if len(shapes) == 1 else "images"
    return f"(drawn downsampled: {sizes[0]} {images} shown at {sizes[1]})"


def plot_match_errors(path: str | os.PathLike, image0: np.ndarray, image1: np.ndarray,
                      keypoints0: np.ndarray, keypoints1: np.ndarray, matches: np.ndarray,
                      errors: np.ndarray, title: str, side: int | None = PLOT_SIDE,
                      modality: str | tuple[str, str] = "sar",
                      input_kind: str = "auto") -> None:
    """Matches side by side: green within 3 px of the truth, red beyond.

    A pair whose longer image is longer than ``side`` pixels is drawn downsampled,
    both images by one factor, to ``side`` pixels a side (the keypoints moved with
    them; the title says so): None draws it at full resolution.

    Parameters
    ----------
    path : str or os.PathLike
        The image file to write.
    image0, image1 : ndarray
        The matched images (NaN = no-data, drawn in :data:`NODATA_COLOR`); an optical
        one may be (H, W, 3) RGB or (H, W, 4) RGBA, drawn by its gray values.
    keypoints0, keypoints1 : ndarray
        (N, 2) keypoints (row, col) of each image.
    matches : ndarray
        (M, 2) indices into ``keypoints0`` and ``keypoints1``.
    errors : ndarray
        (M,) distance of each match from the truth, in pixels of ``image1``.
    title : str
        The plot's title.
    side : int or None
        Longest side of the images drawn.
    modality : str or (str, str)
        What ``image0`` and ``image1`` are, as :func:`sarfeat.register` takes it: each
        image is drawn by its role (:func:`display_image`). Default: two SAR images.
    input_kind : str
        How to display a SAR image (:func:`sarfeat.normalize_sar`).
    """
    from .matching import parse_modality

    check_integer("side", side, optional=True)
    roles = parse_modality(modality)
    shown0 = display_image(image0, roles[0], input_kind, mark_nodata=True)
    shown1 = display_image(image1, roles[1], input_kind, mark_nodata=True)
    shapes = [np.shape(shown0), np.shape(shown1)]
    factor = _view_factor(shapes, side)
    shown0, keypoints0 = _shrunk(shown0, np.asarray(keypoints0, float), factor)
    shown1, keypoints1 = _shrunk(shown1, np.asarray(keypoints1, float), factor)
    rows = max(shown0.shape[0], shown1.shape[0])
    aspect = rows / max(shown0.shape[1], shown1.shape[1], 1) / 2  # side by side
    fig = figure((10, float(np.clip(10 * aspect + 1.0, 2.5, 12))))
    ax = fig.add_subplot()
    good = np.asarray(errors) <= 3
    drawn = _draw_matches(ax, shown0, shown1, keypoints0, keypoints1,
                          [(matches[~good], "tab:red"), (matches[good], "lime")])
    ax.set_title(_noted(_view_title(title, shapes, [shown0.shape, shown1.shape]), *drawn))
    ax.set_axis_off()
    from matplotlib.lines import Line2D

    ax.legend([Line2D([], [], color=color) for color in ("lime", "tab:red")],
              [f"within 3 px of the truth ({int(good.sum())})",
               f"beyond 3 px ({int((~good).sum())})"],
              loc="upper center", bbox_to_anchor=(0.5, 0), ncols=2, frameon=False)
    _save(fig, path, 120)


def _save(fig, path, dpi: int) -> None:
    """Write ``fig`` to ``path`` cropped to what it draws (no white margins)."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.05)


def display_image(image, role: str = "sar", input_kind: str = "auto",
                  mark_nodata: bool = False) -> np.ndarray:
    """An image as the registration plots draw it: 2-D float32 values in [0, 1].

    Parameters
    ----------
    image : array_like
        A 2-D image (NaN = no-data), or an optical (H, W, 3) RGB or (H, W, 4) RGBA one,
        drawn by its gray values (:func:`sarfeat.structural.optical_gray`).
    role : {'sar', 'optical'}
        What the image is. A SAR image is shown as :func:`sarfeat.normalize_sar` brings
        it to [0, 1] (intensity and amplitude in dB), its no-data filled. An optical image
        is shown by its gray values: a uint8 picture as it is (``v / 255``), any other
        linearly between the :data:`OPTICAL_PERCENTILES` of its valid values, clipped
        beyond; its no-data black.
    input_kind : str
        What a SAR image's values are (:func:`sarfeat.normalize_sar`); an optical
        image's are gray values, whatever it says.
    mark_nodata : bool
        True: no-data pixels (:func:`sarfeat.preprocess.valid_mask`) are NaN, as
        sarfeat's plots take them (drawn in :data:`NODATA_COLOR`), instead of filled.

    Returns
    -------
    ndarray
        (H, W) float32 in [0, 1] (NaN on no-data with ``mark_nodata``).

    Examples
    --------
    >>> import numpy as np
    >>> from sarfeat.viz import display_image
    >>> reflectance = np.linspace(0, 10000, 101, dtype=np.float32).reshape(1, 101)
    >>> shown = display_image(reflectance, "optical")  # 2 % -> 0, 98 % -> 1, linear between
    >>> float(shown[0, 2]), float(shown[0, 50]), float(shown[0, 98])
    (0.0, 0.5, 1.0)
    """
    from .structural import optical_gray

    if role not in ("sar", "optical"):
        raise ValueError(f"role must be 'sar' or 'optical', got {role!r}")
    image = optical_gray(image)
    if role == "sar":
        normalized = normalize_sar(image, input_kind)
        shown, valid = normalized.image, normalized.valid
    else:
        shown = _stretched(image, _optical_limits(image))
        valid = valid_mask(image)
    if mark_nodata and valid is not None and not valid.all():
        shown = np.where(valid, shown, np.float32(np.nan))
    return shown


def _optical_limits(gray) -> tuple[float, float]:
    """The gray values an optical image is drawn black and white at: 0 and 255 for a uint8
    picture, else the :data:`OPTICAL_PERCENTILES` of its finite values."""
    values = np.asarray(gray)
    if values.dtype == np.uint8:
        return 0.0, 255.0
    if np.iscomplexobj(values) or values.dtype.kind not in "iuf":
        raise ValueError(f"an optical image has real gray values, got dtype {values.dtype}")
    return _percentile_limits(values, OPTICAL_PERCENTILES)


def _percentile_limits(values: np.ndarray, percentiles) -> tuple[float, float]:
    """The ``percentiles`` of the finite ``values`` ((0, 1) for none), the upper one above
    the lower one (by 1 for constant values)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, percentiles))
    return low, high if high > low else low + 1.0


def _stretched(values, limits: tuple[float, float]) -> np.ndarray:
    """``values`` mapped linearly from ``limits`` to [0, 1], clipped; NaN (no-data) 0."""
    low, high = limits
    shown = (np.asarray(values, np.float32) - np.float32(low)) / np.float32(high - low)
    return np.nan_to_num(np.clip(shown, 0, 1), nan=0.0).astype(np.float32, copy=False)


def _shown_warped(warped, moving, role: str, input_kind: str) -> np.ndarray:
    """The registered moving image as the overlay draws it, NaN where it has no data: an
    optical one stretched as the moving image is drawn, a SAR one normalised."""
    from .structural import optical_gray

    warped = optical_gray(warped)
    warped = np.abs(warped) if np.iscomplexobj(warped) else np.asarray(warped)
    finite = np.isfinite(warped)
    if not finite.any():
        return np.full(warped.shape, np.nan, np.float32)
    if role == "optical":
        shown = _stretched(warped, _optical_limits(optical_gray(moving)))
    else:
        shown = normalize_sar(warped, input_kind).image
    return np.where(finite, shown, np.nan).astype(np.float32)


def _overlay(fixed_shown: np.ndarray, warped_shown: np.ndarray) -> np.ndarray:
    """Fixed magenta, registered green, each stretched between its OVERLAY_PERCENTILES where
    both have data, then raised to the power that brings its median there to mid-gray (so
    that a well-registered pair looks balanced: an optical and a SAR image of one scene have
    medians apart, a colour cast); NODATA_COLOR where either has no data (NaN)."""
    nodata = np.isnan(fixed_shown) | np.isnan(warped_shown)
    overlay = np.zeros(fixed_shown.shape + (3,), np.float32)
    for channels, shown in (([0, 2], fixed_shown), ([1], warped_shown)):
        stretched = _stretched(shown, _percentile_limits(shown[~nodata], OVERLAY_PERCENTILES))
        median = float(np.median(stretched[~nodata])) if (~nodata).any() else 0.5
        if 0 < median < 1:  # (else constant over half the area: left linear)
            stretched = stretched ** np.float32(np.log(0.5) / np.log(median))
        overlay[..., channels] = stretched[..., None]
    overlay[nodata] = NODATA_COLOR
    return overlay


def _roles(modality, result) -> tuple[str, str]:
    """The (fixed, moving) roles: ``modality``'s, or else the result's own
    (``diagnostics['modality']``, set for a pair with an optical image), or two SAR images."""
    from .matching import parse_modality

    if modality is None:
        modality = (getattr(result, "diagnostics", None) or {}).get("modality") or "sar"
    return parse_modality(modality)


def plot_registration(path: str | os.PathLike, fixed: np.ndarray, moving: np.ndarray, result,
                      input_kind: str = "auto", residual_scale: float | None = None,
                      residual_unit: float = 1.0,
                      modality: str | tuple[str, str] | None = None,
                      side: int | None = PLOT_SIDE) -> None:
    """Inlier matches, a two-colour overlay, and the residual vectors of the tie points.

    The residuals are drawn in fixed pixels (fixed keypoint minus the inverse transform of
    its moving one); the report's (``diagnostics['residual_rms']``) are in moving pixels.

    A pair whose longer image is longer than ``side`` pixels is drawn downsampled to
    ``side`` pixels a side (:func:`registration_view`; the title says so), as
    ``sarfeat register --plot`` draws it: None draws it at full resolution. The
    constant fill around an image that the registration matched as no-data
    (``result.diagnostics['border_fill']``) is drawn as no-data too.

    The overlay draws each image as its panel does, then stretched linearly between its
    :data:`OVERLAY_PERCENTILES` over the pixels where both images have data and raised to
    the power that brings its median there to mid-gray, so that the two colours span one
    range and balance (an 8-bit picture drawn as it is beside a SAR image in dB, or an
    optical image beside a darker SAR one, would tint it).

    Parameters
    ----------
    path : str or os.PathLike
        The image file to write.
    fixed, moving : ndarray
        The matched images (NaN = no-data, drawn in :data:`NODATA_COLOR`, as is the
        overlay where either image has none), as :func:`sarfeat.register` took them: an
        optical image may be (H, W, 3) RGB or (H, W, 4) RGBA, drawn by its gray values
        (:func:`sarfeat.structural.optical_gray`), as is a colour ``result.warped``.
    result : RegistrationResult
        What :func:`sarfeat.register` returned.
    input_kind : str
        How to display a SAR image (:func:`sarfeat.normalize_sar`).
    residual_scale : float, optional
        Arrows are drawn ``residual_scale`` times their length (default: the
        longest is a twentieth of the image).
    residual_unit : float
        Pixels of the matched fixed image per pixel of ``fixed`` as given (more than 1 when
        drawn downsampled): the residuals' colours and RMS are in the matched image's pixels.
    modality : str or (str, str), optional
        What ``fixed`` and ``moving`` are, as :func:`sarfeat.register` takes it: each
        image is drawn by its role (:func:`display_image`: an optical one linearly
        stretched, a SAR one in dB). None: the result's ``diagnostics['modality']``,
        set for a pair with an optical image, else two SAR images.
    side : int or None
        Longest side of the images drawn.
    """
    check_integer("side", side, optional=True)
    roles = _roles(modality, result)
    shapes = [np.shape(fixed)[:2], np.shape(moving)[:2]]
    if side is not None:
        fixed, moving, result, unit = registration_view(fixed, moving, result, side)
        residual_unit *= unit
    shown_fixed = display_image(fixed, roles[0], input_kind, mark_nodata=True)
    shown_moving = display_image(moving, roles[1], input_kind, mark_nodata=True)
    warped = _shown_warped(result.warped, moving, roles[1], input_kind)
    shown_fixed, shown_moving, warped = _fill_marked(result, fixed, moving, shown_fixed,
                                                     shown_moving, warped)
    rows = max(shown_fixed.shape[0], shown_moving.shape[0])
    aspect = max(rows / max(shown_fixed.shape[1], shown_moving.shape[1]),
                 shown_fixed.shape[0] / shown_fixed.shape[1])
    fig = figure((16, float(np.clip(3.7 * aspect + 1.2, 3, 12))))  # the images' height
    ax_matches, ax_overlay, ax_residuals = fig.subplots(1, 3, width_ratios=(2, 1, 1))
    inliers = result.inlier_matches
    shown = inliers
    if len(shown) > PLOT_MATCHES:  # a readable plot: an even sample of the inliers
        shown = inliers[np.linspace(0, len(inliers) - 1, PLOT_MATCHES).round().astype(int)]
    drawn = _draw_matches(ax_matches, shown_fixed, shown_moving, result.keypoints_fixed,
                          result.keypoints_moving, [(shown, "lime")])
    sampled = f", {len(shown)} shown" if len(shown) < len(inliers) else ""
    matched = f"{len(inliers)} inlier matches{sampled}" if len(inliers) else "no inlier matches"
    ax_matches.set_title(_noted(f"fixed | moving: {matched} (confidence {result.confidence:.2f})",
                                *drawn))
    note = _view_note(shapes, [shown_fixed.shape, shown_moving.shape])
    if note:  # above the three panels: too long for one
        fig.suptitle(note)
    ax_overlay.imshow(_overlay(shown_fixed, warped), interpolation="nearest")
    ax_overlay.set_title(_noted("overlay: fixed magenta, registered green", shown_fixed,
                                warped))
    _residuals(ax_residuals, shown_fixed, result, residual_scale, residual_unit)
    for ax in (ax_matches, ax_overlay, ax_residuals):
        ax.set_axis_off()
    _save(fig, path, 110)


def _fill_marked(result, fixed, moving, shown_fixed, shown_moving, warped):
    """The display images NaN (no-data) on the constant fill around an image that the
    registration matched as no-data (``diagnostics['border_fill']``, each image's share;
    :func:`sarfeat.preprocess.border_fill`), the registered image where it falls on it."""
    from .preprocess import border_fill

    shares = (getattr(result, "diagnostics", None) or {}).get("border_fill") or (0, 0)
    shown = [shown_fixed, shown_moving]
    for i, (image, share) in enumerate(zip((fixed, moving), shares)):
        fill = border_fill(np.asarray(image), ~np.isnan(shown[i])) if share else None
        if fill is None:
            continue
        shown[i] = np.where(fill, np.float32(np.nan), shown[i])
        if i == 1:  # the fixed pixels whose place in the moving image is on its fill
            rows, cols = np.indices(warped.shape)
            xy = result.transform(np.column_stack([cols.ravel(), rows.ravel()]).astype(float))
            xy = np.nan_to_num(np.round(xy), nan=-1, posinf=-1, neginf=-1)
            inside = ((xy >= 0) & (xy < fill.shape[::-1])).all(axis=1)
            on_fill = np.zeros(len(xy), bool)
            col, row = xy[inside].astype(int).T
            on_fill[inside] = fill[row, col]
            warped = np.where(on_fill.reshape(warped.shape), np.float32(np.nan), warped)
    return shown[0], shown[1], warped


def registration_view(fixed, moving, result, side: int = PLOT_SIDE):
    """The pair and the result downsampled to at most ``side`` pixels a side, for a plot,
    and the fixed image's pixels per pixel of its view (1 when not downsampled), the unit
    of the residuals the plot draws on the fixed image.

    What :func:`plot_registration` draws for its ``side`` (and ``sarfeat register
    --plot``); a view drawn with ``side=None`` takes the last value returned as its
    ``residual_unit``. A colour optical image comes back as
    its gray values (:func:`sarfeat.structural.optical_gray`); the view of a uint8 image
    is uint8 too (its values rounded), so that a plot draws an 8-bit picture as it is at
    any size (:func:`display_image`).
    """
    from dataclasses import replace

    from skimage.transform import ProjectiveTransform

    from .matching.geometry import apply_matrix, downsample
    from .structural import optical_gray  # a colour optical image: its gray values

    fixed, moving = optical_gray(fixed), optical_gray(moving)
    factor = _view_factor([np.shape(fixed), np.shape(moving)], side)
    if factor >= 1:
        return fixed, moving, result, 1.0
    views, maps, shown_views = [], [], []
    for image in (fixed, moving):
        small, to_original = downsample(np.asarray(image, np.float32), factor)
        views.append(small)
        maps.append(to_original)
        eight_bit = np.asarray(image).dtype == np.uint8 and np.isfinite(small).all()
        shown_views.append(np.clip(small.round(), 0, 255).astype(np.uint8) if eight_bit
                           else small)
    to_fixed, to_moving = maps
    matrix = np.linalg.inv(to_moving) @ result.transform.params @ to_fixed
    shown = replace(
        result, transform=ProjectiveTransform(matrix=matrix),
        keypoints_fixed=apply_matrix(np.linalg.inv(to_fixed), result.keypoints_fixed[:, ::-1])
        [:, ::-1],
        keypoints_moving=apply_matrix(np.linalg.inv(to_moving),
                                      result.keypoints_moving[:, ::-1])[:, ::-1],
        resampling=(views[1], 1, None, views[0].shape), _warped=None)
    unit = float(np.sqrt(abs(np.linalg.det(to_fixed[:2, :2]))))
    return shown_views[0], shown_views[1], shown, unit


def _residuals(ax, shown_fixed: np.ndarray, result, scale: float | None,
               unit: float = 1.0) -> None:
    """Residual vectors of the tie points at their fixed keypoints, in fixed pixels: each
    fixed keypoint minus the inverse transform of its moving one (model minus match).

    Drawn in the pixels of ``result``'s fixed image; lengths reported in ``unit`` times those.
    """
    _draw_gray(ax, shown_fixed)
    inliers = result.inlier_matches
    if not len(inliers):
        ax.set_title("no tie points")
        return
    fixed_xy = result.keypoints_fixed[inliers[:, 0], ::-1]
    moving_xy = result.keypoints_moving[inliers[:, 1], ::-1]
    # in the frame they are drawn in (moving pixels were off by the transform's linear part)
    residuals = fixed_xy - result.transform.inverse(moving_xy)
    drawn = np.hypot(*residuals.T)
    lengths = unit * drawn
    longest = float(lengths.max())
    exact = longest < EXACT_FIT_PX  # e.g. a similarity fitted to two tie points
    if scale is None:
        scale = 1.0 if exact else max(shown_fixed.shape) / 20 / float(drawn.max())
    arrows = ax.quiver(fixed_xy[:, 0], fixed_xy[:, 1], scale * residuals[:, 0],
                       scale * residuals[:, 1], lengths, cmap="plasma", angles="xy",
                       scale_units="xy", scale=1, width=0.004)
    arrows.set_clim(0, 1.0 if exact else longest)  # lengths: from 0 up
    ax.figure.colorbar(arrows, ax=ax, shrink=0.7, label="residual (fixed-image px)")
    if exact:
        ax.set_title(f"no residual: {len(inliers)} tie points fitted exactly")
    else:
        ax.set_title(f"tie-point residuals x{scale:.2g} "
                     f"(RMS {np.sqrt(np.mean(lengths ** 2)):.2f} px of the fixed image)")
