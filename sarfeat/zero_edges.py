"""Exact zeros along a SAR image's border that are matched as data: :func:`zero_edge_note`.

A GRD product's slice edges hold exact zeros, and its files often give no nodata
value. Where the matcher takes zeros connected to the border for fill, they are
no-data: the SAR-SAR matcher does so for an image read as linear intensity or
amplitude (:func:`sarfeat.matching.inputs.without_border_fill`), the optical-SAR
one for a canvas's fill around one convex block whose four corners hold them
(:func:`sarfeat.preprocess.border_fill`). Elsewhere they are data: in a pair with
an optical image (taken for fill there, they cost right answers on tiles of 8-bit
levels, whose darkest level is calm water), in dB (0 dB is a value), in an 8-bit
display image, in a complex or masked array. Matched as data, a fill's straight
edge is structure that the other image lacks: :func:`sarfeat.register` then warns
(:class:`ZeroEdgeWarning`) that ``nodata=0`` (``--nodata 0``) makes them no-data.

Zeros along the border are a fill, not dark ground, when (:func:`zero_edge`):

- the exact zeros connected to the border (4-connected, through no-data:
  :func:`sarfeat.matching.inputs.border_zeros`) are at least
  :data:`ZERO_EDGE_SHARE` of the image's valid pixels;
- at most :data:`ZERO_EDGE_INSIDE` of them lie within the convex hull of the
  rest of the image. A fill lies around one convex block of content (beyond a
  straight slice edge, around a turned footprint); calm water reaches into the
  scene between its shores, and the non-zero levels of its speckle are content
  scattered through it.

On the 3MOS tuning split (its 120 SAR tiles as they are, and turned and scaled into
its 120 pairs' moving images, NaN around them), 16 images hold such zeros on 1 % of
their valid pixels or more (up to 84 %), calm water all of them: 0.97 to 1.00 of those
zeros lie within the hull of the rest, and none is taken for a fill (nor one of the
400 images of the Sentinel-1 / Sentinel-2 tuning split, none of which holds such
zeros). Slanted slice edges cutting 2-46 % off a 256 px tile lie
within it by 0.004-0.04, ragged zero strips along two sides (GRD border noise) by
0.10, the fill of a turned image on a canvas by 0.01.

The image is looked at every ``n``-th pixel, at most :data:`LOOK_SIDE` pixels a
side (every pixel of a smaller image): a few milliseconds, and no pass over a
large scene's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .canvas_fill import border_fill
from .matching.inputs import LOGGED_KINDS, border_zeros
from .preprocess import sample_scaling, valid_mask
from .windowed_scaling import scaling_sample

__all__ = ["LOOK_SIDE", "ZERO_EDGE_INSIDE", "ZERO_EDGE_SHARE", "ZeroEdge", "ZeroEdgeWarning",
           "zero_edge", "zero_edge_note"]

#: Least share of an image's valid pixels that zeros connected to its border cover to be
#: taken for a fill (fewer are a corner's dark pixels, whose edge is short).
ZERO_EDGE_SHARE = 0.01
#: Largest share of those zeros that lies within the convex hull of the rest of the image
#: (fills measured 0.004-0.10, calm water on the 3MOS tuning tiles 0.97-1.00).
ZERO_EDGE_INSIDE = 0.5
#: Longest side of the look at an image (every n-th pixel) on which the zeros are found.
LOOK_SIDE = 512


class ZeroEdgeWarning(UserWarning):
    """A SAR image's exact zeros along its border look like a fill and are matched as data
    (:func:`zero_edge_note`): give ``nodata=0`` (``--nodata 0``) if they are no-data."""


@dataclass(frozen=True)
class ZeroEdge:
    """Zeros along an image's border that look like a fill (:func:`zero_edge`); each field
    documented at its declaration."""

    pixels: int
    """int: how many pixels they cover (counted on the look, times the pixels each stands
    for: exact for an image of at most ``LOOK_SIDE`` pixels a side)."""
    share: float
    """float: their share of the image's valid pixels."""
    exact: bool
    """bool: whether every pixel was looked at."""


def zero_edge(image: np.ndarray, canvas_fill: bool = False) -> ZeroEdge | None:
    """The exact zeros along ``image``'s border when they look like a fill, else None.

    Parameters
    ----------
    image : (H, W) ndarray or numpy.ma.MaskedArray
        A SAR image; NaN, infinite and masked pixels are no-data, and zeros may reach
        the border through them. A complex pixel is zero when both its parts are.
    canvas_fill : bool
        Leave out the fill that :func:`sarfeat.preprocess.border_fill` finds (the
        optical-SAR matcher takes it for no-data), as found on the look.

    Returns
    -------
    ZeroEdge or None
        None unless they cover ``ZERO_EDGE_SHARE`` of the valid pixels, at most
        ``ZERO_EDGE_INSIDE`` of them within the convex hull of the rest (see the
        module documentation).

    Examples
    --------
    >>> import numpy as np
    >>> scene = np.random.default_rng(0).gamma(1.0, 1.0, (64, 64)).astype(np.float32)
    >>> rows, cols = np.mgrid[:64, :64]
    >>> scene[cols > 40 + rows // 4] = 0  # a slanted slice edge
    >>> edge = zero_edge(scene)
    >>> edge.pixels, round(edge.share, 3), edge.exact
    (992, 0.242, True)
    >>> scene[cols > 40 + rows // 4] = 1
    >>> zero_edge(scene) is None
    True
    """
    from skimage.morphology import convex_hull_image

    look, step = _look(image)
    fill = border_zeros(look, through_nodata=True)
    if fill is None:
        return None
    valid = np.isfinite(look)
    if canvas_fill:
        canvas = border_fill(look, valid)
        if canvas is not None:
            valid &= ~canvas
            fill &= valid
    count = int(fill.sum())
    content = valid & ~fill
    if count < ZERO_EDGE_SHARE * valid.sum() or not content.any():
        return None
    inside = int((convex_hull_image(content) & fill).sum())
    if inside > ZERO_EDGE_INSIDE * count:
        return None
    return ZeroEdge(pixels=count * step * step, share=count / float(valid.sum()),
                    exact=step == 1)


def zero_edge_note(image: np.ndarray, which: str, optical_pair: bool, input_kind: str = "auto",
                   border_fill: bool = True) -> str | None:
    """What :func:`sarfeat.register` warns of a SAR image's zeros along its border matched
    as data (:func:`zero_edge`), or None.

    None too where the matcher takes them for fill: in a SAR-SAR pair, an image (not a
    masked array) read as linear intensity or amplitude (``input_kind``, ``'auto'``
    decided from its values as the matcher decides it); in a pair with an optical
    image, a canvas's fill around it when ``border_fill``. The caller says nothing when
    a nodata value is given: its user has said what is no-data.

    Parameters
    ----------
    image : (H, W) ndarray or numpy.ma.MaskedArray
        The SAR image, as matched (NaN where it is no-data).
    which : str
        Its name in the sentence (``'fixed'``, ``'moving'``).
    optical_pair : bool
        Whether the other image is optical (the dense matcher).
    input_kind : str
        The matcher's ``input_kind``.
    border_fill : bool
        The matcher's ``border_fill``.

    Returns
    -------
    str or None
    """
    edge = zero_edge(image, canvas_fill=optical_pair and border_fill)
    if edge is None or not optical_pair and _taken_for_fill(image, input_kind):
        return None
    return (f"the {which} image has {'' if edge.exact else 'about '}{edge.pixels} pixels "
            f"({100 * edge.share:.1f} % of its valid pixels) of exact zeros along its border "
            "that look like a fill (a GRD product's slice edge), and no nodata value marks them: "
            "they are matched as data, and their straight edge can pull the transform. If they "
            "are no-data, pass nodata=0 (on the command line: --nodata 0)")


def _taken_for_fill(image: np.ndarray, input_kind: str) -> bool:
    """Whether the SAR-SAR matcher takes the zeros along ``image``'s border for fill, as
    :func:`sarfeat.matching.inputs.normalized_input` decides it."""
    if np.ma.isMaskedArray(image) or np.iscomplexobj(image):
        return False
    if input_kind != "auto":
        return input_kind in LOGGED_KINDS
    # the kind from the sample that sar_scaling decides it from, without its pass over the
    # image; None: the matcher normalises the whole image, and leaves the zeros in
    sample = scaling_sample(image)
    scaling = sample_scaling(sample, valid_mask(sample, None), None, input_kind)
    return scaling is not None and scaling.kind in LOGGED_KINDS


def _look(image: np.ndarray) -> tuple[np.ndarray, int]:
    """(look, step): every ``step``-th pixel of ``image`` (at most ``LOOK_SIDE`` a side) as
    float, its amplitude for complex pixels, NaN where masked."""
    data = np.ma.getdata(image)
    step = max(1, -(-max(data.shape) // LOOK_SIDE))
    look = data[::step, ::step]
    look = np.abs(look) if np.iscomplexobj(look) else look.astype(np.float64)
    mask = np.ma.getmask(image)
    if mask is not np.ma.nomask:  # (no full-size mask made for an array without one)
        look[mask[::step, ::step]] = np.nan
    return look, step
