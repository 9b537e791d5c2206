"""Plots of keypoints, matches and registrations (matplotlib, optional).

Every function draws on a new :class:`matplotlib.figure.Figure` (no pyplot
state) and saves it to a file; matplotlib is imported only when a plot is made.
The registration plot lives in ``sarfeat.viz_registration`` and what every plot
shares in ``sarfeat.viz_display``; import all of them from here.
"""

from __future__ import annotations

import os

import numpy as np

from ._validation import check_integer
from .viz_display import (NODATA_COLOR, OPTICAL_PERCENTILES, PLOT_SIDE, display_image,
                          display_rgb, draw_gray, draw_matches, figure, noted, save_figure,
                          view_factor, view_note)
from .viz_registration import OVERLAY_PERCENTILES, plot_registration, registration_view

# importable from here too, as they were before the registration plot had a module of its own
from .viz_display import NODATA_NOTE  # noqa: F401
from .viz_registration import EXACT_FIT_PX, PLOT_MATCHES  # noqa: F401

__all__ = ["NODATA_COLOR", "OPTICAL_PERCENTILES", "OVERLAY_PERCENTILES", "display_image",
           "display_rgb", "figure", "plot_keypoints",
           "plot_match_errors", "plot_registration", "registration_view"]


def plot_keypoints(path: str | os.PathLike, image: np.ndarray, keypoints: np.ndarray,
                   scales: np.ndarray, responses: np.ndarray, title: str,
                   side: int | None = PLOT_SIDE) -> None:
    """Keypoints (row, col) as circles sized by scale and coloured by response over ``image``.

    Parameters
    ----------
    path : str or os.PathLike
        The image file to write.
    image : (H, W) ndarray
        A display image in [0, 1], NaN on no-data, drawn in :data:`NODATA_COLOR`
        (e.g. ``display_image(x, mark_nodata=True)``).
    keypoints : (N, 2) ndarray
        (row, col), as a detector gives them.
    scales, responses : (N,) ndarray
        Finite numbers (a ValueError says which array is not).
    title : str
        The plot's title.
    side : int or None
        An image longer than ``side`` pixels is drawn downsampled to ``side`` pixels a
        side (its keypoints moved with it; the title says so): None draws it at full
        resolution.
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
    draw_gray(ax, image)
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
    ax.set_title(noted(title, image))
    ax.set_axis_off()
    save_figure(fig, path, 120)


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
    factor = view_factor([np.shape(image)], side)
    view, keypoints = _shrunk(image, keypoints, factor)
    return view, keypoints, _view_title(title, [np.shape(image)], [view.shape])


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
    note = view_note(shapes, views)
    return f"{title}\n{note}" if note else title


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
    factor = view_factor(shapes, side)
    shown0, keypoints0 = _shrunk(shown0, np.asarray(keypoints0, float), factor)
    shown1, keypoints1 = _shrunk(shown1, np.asarray(keypoints1, float), factor)
    rows = max(shown0.shape[0], shown1.shape[0])
    aspect = rows / max(shown0.shape[1], shown1.shape[1], 1) / 2  # side by side
    fig = figure((10, float(np.clip(10 * aspect + 1.0, 2.5, 12))))
    ax = fig.add_subplot()
    good = np.asarray(errors) <= 3
    drawn = draw_matches(ax, shown0, shown1, keypoints0, keypoints1,
                          [(matches[~good], "tab:red"), (matches[good], "lime")])
    ax.set_title(noted(_view_title(title, shapes, [shown0.shape, shown1.shape]), *drawn))
    ax.set_axis_off()
    from matplotlib.lines import Line2D

    ax.legend([Line2D([], [], color=color) for color in ("lime", "tab:red")],
              [f"within 3 px of the truth ({int(good.sum())})",
               f"beyond 3 px ({int((~good).sum())})"],
              loc="upper center", bbox_to_anchor=(0.5, 0), ncols=2, frameon=False)
    save_figure(fig, path, 120)
