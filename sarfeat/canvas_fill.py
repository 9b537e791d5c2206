"""The fill of a canvas around an image turned or scaled onto it: :func:`border_fill`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

__all__ = ["BORDER_FILL_CONVEXITY", "border_fill"]

#: Least share of its bounding box that the image content left by a border fill covers
#: (a turned or scaled image on a canvas is one convex block: 1 up to its pixel edges).
BORDER_FILL_CONVEXITY = 0.97
#: Longest side of the mask on which that share is measured.
_CONVEXITY_SIDE = 256


def border_fill(values: ArrayLike, valid: np.ndarray | None = None) -> np.ndarray | None:
    """The pixels of a canvas's fill around an image turned or scaled onto it, or None.

    An image turned, scaled or shifted onto a canvas (by an image editor, a
    warp, a dataset's own preparation) holds one constant value around it, 0 or
    white most often, and no nodata value says so. Those pixels are found when
    all four corner pixels hold one value: the pixels of that value connected to
    the image's border (4-connected), provided that what is left is one convex
    block (at least ``BORDER_FILL_CONVEXITY`` of its convex hull, so that a dark
    sea reaching the corners of a scene is not taken for a fill).

    Parameters
    ----------
    values : (H, W) or (H, W, C) array_like
        The image (channels last); a masked array's data are read.
    valid : (H, W) ndarray of bool, optional
        Pixels already known to be valid; the fill is looked for among them.

    Returns
    -------
    (H, W) ndarray of bool or None
        True on the fill; None when there is none (or it would be the whole image).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 8)); image[2:6, 2:6] = np.arange(16).reshape(4, 4) + 1
    >>> int(border_fill(image).sum())
    48
    >>> border_fill(np.arange(64.0).reshape(8, 8)) is None
    True
    """
    data = np.ma.getdata(values)
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    if data.ndim not in (2, 3) or min(data.shape[:2]) < 3:
        return None
    corners = data[[0, 0, -1, -1], [0, -1, 0, -1]]
    if not all(np.array_equal(corner, corners[0]) for corner in corners[1:]):
        return None  # NaN corners included: NaN is no-data already
    same = data == corners[0]
    if same.ndim == 3:
        same = same.all(axis=-1)
    if valid is not None:
        same &= valid
    labels, _ = ndimage.label(same)
    edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.unique(edges[edges > 0])
    fill = np.isin(labels, touching)
    content = ~fill if valid is None else valid & ~fill
    if not content.any() or not fill.any():
        return None
    step = max(1, -(-max(content.shape) // _CONVEXITY_SIDE))
    from skimage.morphology import convex_hull_image

    sampled = content[::step, ::step]
    hull = convex_hull_image(sampled)
    if sampled.sum() < BORDER_FILL_CONVEXITY * hull.sum():
        return None
    return fill
