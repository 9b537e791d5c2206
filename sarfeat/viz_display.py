"""What every sarfeat plot shares: how an image is displayed, the no-data colour, a figure.

The display of an image (:func:`display_image`, :func:`display_rgb`), the constants the
plots draw by, and the drawing helpers of :mod:`sarfeat.viz` and
:mod:`sarfeat.viz_registration`. The public names are those of :mod:`sarfeat.viz`, which
gives them to users; matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .preprocess import normalize_sar, valid_mask

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["NODATA_COLOR", "NODATA_NOTE", "OPTICAL_PERCENTILES", "PLOT_SIDE", "display_image",
           "display_rgb", "draw_gray", "draw_matches", "figure", "noted", "optical_limits",
           "percentile_limits", "save_figure", "stretch", "view_factor", "view_note"]

#: Longest side of the images a plot draws: a plot is a view, and a larger image (a scene)
#: is shown downsampled to it, in bounded time and memory (``sarfeat detect --plot``, with
#: or without ``--example``, and ``sarfeat register --plot``).
PLOT_SIDE = 1024
#: Percentiles of an optical image's gray values that a plot stretches linearly to black and
#: white (a uint8 picture is drawn as it is).
OPTICAL_PERCENTILES = (2.0, 98.0)
#: RGB colour of no-data pixels (NaN, masked, outside a warped image) in every plot, and of
#: the padding beside the smaller of two images drawn side by side: no gray value, nor any
#: mix of the overlay's magenta and green, is drawn in it.
NODATA_COLOR = (0.27, 0.51, 0.71)  # matplotlib's 'steelblue'
#: What a plot's title adds when it draws no-data pixels.
NODATA_NOTE = "(steel blue: no data)"


def figure(size: tuple[float, float]) -> Figure:
    """A new Agg figure with a constrained layout; RuntimeError without matplotlib.

    Parameters
    ----------
    size : tuple of float
        (width, height) in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise RuntimeError("plots need matplotlib: pip install matplotlib") from None
    return Figure(figsize=size, layout="constrained")


def draw_gray(ax, shown: np.ndarray) -> None:
    """A display image in [0, 1] drawn in gray on ``ax``, its NaN (no-data) in NODATA_COLOR."""
    from matplotlib import colormaps

    gray = colormaps["gray"].with_extremes(bad=NODATA_COLOR)
    ax.imshow(np.ma.masked_invalid(shown), cmap=gray, vmin=0, vmax=1, interpolation="nearest")


def display_rgb(shown: ArrayLike) -> np.ndarray:
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


def draw_matches(ax, shown0: np.ndarray, shown1: np.ndarray, keypoints0, keypoints1,
                  groups) -> list[np.ndarray]:
    """Two display images side by side on ``ax``, and each (matches, colour) of ``groups``
    over them; the images are drawn even with no matches. Images of different sizes are
    padded at the bottom and right to the larger height and width with no-data, drawn in
    NODATA_COLOR (:func:`skimage.feature.plot_matched_features` pads them with black, which
    reads as image content). Returns the two display images as drawn (padded), for the
    title's note (:func:`noted`)."""
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


def noted(title: str, *shown: np.ndarray) -> str:
    """``title``, and the colour no-data is drawn in when any of ``shown`` has NaN."""
    return f"{title}\n{NODATA_NOTE}" if any(np.isnan(s).any() for s in shown) else title


def view_factor(shapes, side: int | None) -> float:
    """The scale that brings the longest side of ``shapes`` to ``side`` pixels (1: none)."""
    longest = max(max(shape) for shape in shapes)
    return 1.0 if side is None else min(1.0, side / max(longest, 1))


def view_note(shapes, views) -> str:
    """What was drawn downsampled when ``views`` are smaller than ``shapes`` ('' if none)."""
    if [tuple(shape[:2]) for shape in shapes] == [tuple(view[:2]) for view in views]:
        return ""
    sizes = [" and ".join(f"{s[0]} x {s[1]}" for s in group) for group in (shapes, views)]
    images = "image" if len(shapes) == 1 else "images"
    return f"(drawn downsampled: {sizes[0]} {images} shown at {sizes[1]})"


def save_figure(fig, path, dpi: int) -> None:
    """Write ``fig`` to ``path`` cropped to what it draws (no white margins)."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.05)


def display_image(image: ArrayLike, role: str = "sar", input_kind: str = "auto",
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
        shown = stretch(image, optical_limits(image))
        valid = valid_mask(image)
    if mark_nodata and valid is not None and not valid.all():
        shown = np.where(valid, shown, np.float32(np.nan))
    return shown


def optical_limits(gray) -> tuple[float, float]:
    """The gray values an optical image is drawn black and white at: 0 and 255 for a uint8
    picture, else the :data:`OPTICAL_PERCENTILES` of its finite values."""
    values = np.asarray(gray)
    if values.dtype == np.uint8:
        return 0.0, 255.0
    if np.iscomplexobj(values) or values.dtype.kind not in "iuf":
        raise ValueError(f"an optical image has real gray values, got dtype {values.dtype}")
    return percentile_limits(values, OPTICAL_PERCENTILES)


def percentile_limits(values: np.ndarray, percentiles) -> tuple[float, float]:
    """The ``percentiles`` of the finite ``values`` ((0, 1) for none), the upper one above
    the lower one (by 1 for constant values)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, percentiles))
    return low, high if high > low else low + 1.0


def stretch(values, limits: tuple[float, float]) -> np.ndarray:
    """``values`` mapped linearly from ``limits`` to [0, 1], clipped; NaN (no-data) 0."""
    low, high = limits
    shown = (np.asarray(values, np.float32) - np.float32(low)) / np.float32(high - low)
    return np.nan_to_num(np.clip(shown, 0, 1), nan=0.0).astype(np.float32, copy=False)
