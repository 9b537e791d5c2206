"""The no-data that stays no-data once small holes are filled: :func:`unfilled_nodata`.

:func:`sarfeat.preprocess.fill_invalid` fills every no-data pixel and reports the large
regions (those a ``LARGE_NODATA`` square fits in). The optical-SAR matcher marks
again as no-data every region of no-data pixels (8-neighbours) that holds a pixel of a
large region or touches the image's border: what lies outside an image's footprint
stays no-data, a thin sliver of a canvas's fill included, while the isolated holes keep
their filled values.

A region that holds no large pixel is made of small pixels alone; so the holes left
filled are the regions of small no-data pixels (no-data, not large) that touch neither a
large pixel nor the border. They are found among the small pixels only (their flat
indices, linked to their 8-neighbours by a sparse graph): a 9465 x 8483 scene with a
few thousand small no-data pixels needs no label image of its own (an int32 label per
pixel was 306 MiB). When small pixels are many (more than one pixel in
``SPARSE_SHARE``), a label image of the no-data costs less than their graph and is
made instead; both give the same pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["SPARSE_SHARE", "unfilled_nodata"]

#: Small no-data pixels are found by their graph when at most one pixel in this many is
#: one (the graph costs about 150 bytes a small pixel, a label image 5 bytes a pixel).
SPARSE_SHARE = 64
#: Rows looked at together when the small pixels are listed.
_BAND = 512
#: The 8-neighbours that follow a pixel in row-major order: (rows, columns) down.
_FORWARD = ((0, 1), (1, -1), (1, 0), (1, 1))


def unfilled_nodata(valid: np.ndarray, large: np.ndarray | None) -> np.ndarray:
    """The no-data pixels of the regions (8-neighbours) that hold a pixel of ``large``
    or touch the image's border.

    Parameters
    ----------
    valid : (H, W) ndarray of bool
        The valid pixels.
    large : (H, W) ndarray of bool or None
        The large no-data regions' pixels (:func:`sarfeat.preprocess.fill_invalid`);
        None when there are none.

    Returns
    -------
    (H, W) ndarray of bool
        A new array: ``~valid`` without the isolated holes of small pixels.
    """
    height, width = valid.shape
    small = _small_pixels(valid, large, valid.size // SPARSE_SHARE)
    if small is None:  # many: a label image costs less than their graph
        return _by_labels(~valid, large)
    unfilled = ~valid
    unfilled.ravel()[_isolated(small, large, height, width)] = False
    return unfilled


def _small_pixels(valid: np.ndarray, large: np.ndarray | None, most: int
                  ) -> np.ndarray | None:
    """Flat indices (sorted, int64) of the no-data pixels that are not ``large``, listed
    band by band (no image-sized temporary); None when there are more than ``most``."""
    width = valid.shape[1]
    found, count = [], 0
    for top in range(0, valid.shape[0], _BAND):
        small = ~valid[top:top + _BAND]
        if large is not None:
            small &= ~large[top:top + _BAND]
        found.append(np.flatnonzero(small).astype(np.int64) + top * width)
        count += found[-1].size
        if count > most:
            return None
    return np.concatenate(found)


def _isolated(small: np.ndarray, large: np.ndarray | None, height: int, width: int
              ) -> np.ndarray:
    """The flat indices among ``small`` of the regions that touch neither ``large`` nor
    the border."""
    if small.size == 0:
        return small
    rows, cols = np.divmod(small, width)
    starts, ends = [], []
    for dr, dc in _FORWARD:
        target = small + (dr * width + dc)
        where = np.minimum(np.searchsorted(small, target), small.size - 1)
        linked = ((rows + dr < height) & (cols + dc >= 0) & (cols + dc < width)
                  & (small[where] == target))
        starts.append(np.flatnonzero(linked))
        ends.append(where[linked])
    starts, ends = np.concatenate(starts), np.concatenate(ends)
    graph = coo_matrix((np.ones(starts.size, np.int8), (starts, ends)),
                       shape=(small.size, small.size))
    count, region = connected_components(graph, directed=False)
    touched = (rows == 0) | (rows == height - 1) | (cols == 0) | (cols == width - 1)
    if large is not None:
        for dr, dc in _FORWARD + tuple((-dr, -dc) for dr, dc in _FORWARD):  # all eight
            r, c = rows + dr, cols + dc
            inside = np.flatnonzero((r >= 0) & (r < height) & (c >= 0) & (c < width))
            touched[inside] |= large[r[inside], c[inside]]
    kept = np.zeros(count, bool)
    kept[region[touched]] = True
    return small[~kept[region]]


def _by_labels(invalid: np.ndarray, large: np.ndarray | None) -> np.ndarray:
    """:func:`unfilled_nodata` by a label image of ``invalid`` (``~valid``)."""
    labels, count = ndimage.label(invalid, structure=np.ones((3, 3), bool))
    rim = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    kept = np.zeros(count + 1, bool)  # per label: whether it is touched
    kept[rim if large is None else np.concatenate([rim, labels[large]])] = True
    kept[0] = False  # the valid pixels
    # a look-up of each pixel's label: np.isin made sorted int32 and int64 copies of them
    return kept[labels]
