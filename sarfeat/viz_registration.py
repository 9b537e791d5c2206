"""The registration plot: inlier matches, a two-colour overlay, the tie points' residuals.

:func:`plot_registration` and :func:`registration_view`, given to users by
:mod:`sarfeat.viz` (import them from there); matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_integer
from .preprocess import normalize_sar
from .viz_display import (NODATA_COLOR, PLOT_SIDE, display_image, draw_gray, draw_matches,
                          figure, noted, optical_limits, percentile_limits, save_figure,
                          stretch, view_factor, view_note)

if TYPE_CHECKING:
    from .registration_result import RegistrationResult

__all__ = ["EXACT_FIT_PX", "OVERLAY_PERCENTILES", "PLOT_MATCHES", "plot_registration",
           "registration_view"]

#: Most matches drawn in a registration plot (an even sample of the inliers beyond).
PLOT_MATCHES = 150
#: Percentiles that each image of a registration overlay is stretched linearly between (to
#: black and white), over the pixels where both have data, then its median there brought to
#: mid-gray: the two channels span one range and balance (an 8-bit picture, SAR in dB).
OVERLAY_PERCENTILES = (2.0, 98.0)
#: Longest residual (pixels) below which a registration plot's tie points are taken as fitted
#: exactly (no arrow to magnify): a model fitted to as few tie points as it needs.
EXACT_FIT_PX = 1e-3


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
        shown = stretch(warped, optical_limits(optical_gray(moving)))
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
        stretched = stretch(shown, percentile_limits(shown[~nodata], OVERLAY_PERCENTILES))
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


def plot_registration(path: str | os.PathLike, fixed: np.ndarray, moving: np.ndarray,
                      result: RegistrationResult,
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
    drawn = draw_matches(ax_matches, shown_fixed, shown_moving, result.keypoints_fixed,
                          result.keypoints_moving, [(shown, "lime")])
    sampled = f", {len(shown)} shown" if len(shown) < len(inliers) else ""
    matched = f"{len(inliers)} inlier matches{sampled}" if len(inliers) else "no inlier matches"
    ax_matches.set_title(noted(f"fixed | moving: {matched} (confidence {result.confidence:.2f})",
                                *drawn))
    note = view_note(shapes, [shown_fixed.shape, shown_moving.shape])
    if note:  # above the three panels: too long for one
        fig.suptitle(note)
    ax_overlay.imshow(_overlay(shown_fixed, warped), interpolation="nearest")
    ax_overlay.set_title(noted("overlay: fixed magenta, registered green", shown_fixed,
                                warped))
    _residuals(ax_residuals, shown_fixed, result, residual_scale, residual_unit)
    for ax in (ax_matches, ax_overlay, ax_residuals):
        ax.set_axis_off()
    save_figure(fig, path, 110)


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


def registration_view(fixed: ArrayLike, moving: ArrayLike, result: RegistrationResult,
                      side: int = PLOT_SIDE
                      ) -> tuple[np.ndarray, np.ndarray, RegistrationResult, float]:
    """The pair and the result downsampled to at most ``side`` pixels a side, for a plot.

    What :func:`plot_registration` draws for its ``side`` (and ``sarfeat register
    --plot``).

    Parameters
    ----------
    fixed, moving : array_like
        The matched images, as for :func:`plot_registration`.
    result : RegistrationResult
        What :func:`sarfeat.register` returned for them.
    side : int
        The longest side of a view.

    Returns
    -------
    fixed, moving : ndarray
        The views. A colour optical image comes back as its gray values
        (:func:`sarfeat.structural.optical_gray`); the view of a uint8 image is uint8 too
        (its values rounded), so that a plot draws an 8-bit picture as it is at any size
        (:func:`display_image`).
    result : RegistrationResult
        The result on the views' pixels.
    unit : float
        The fixed image's pixels per pixel of its view (1 when not downsampled), the unit
        of the residuals the plot draws on the fixed image: a view drawn with
        ``side=None`` takes it as its ``residual_unit``.
    """
    from dataclasses import replace

    from skimage.transform import ProjectiveTransform

    from .matching.geometry import apply_matrix, downsample
    from .structural import optical_gray  # a colour optical image: its gray values

    fixed, moving = optical_gray(fixed), optical_gray(moving)
    factor = view_factor([np.shape(fixed), np.shape(moving)], side)
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
    draw_gray(ax, shown_fixed)
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
