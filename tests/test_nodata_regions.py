"""The no-data that stays no-data after the small holes are filled, found without a label
image of the whole scene (sarfeat.nodata_regions), and the holes filled without an
image-sized mask of them (sarfeat.nodata_fill)."""

import tracemalloc

import numpy as np
import pytest
from scipy import ndimage

from sarfeat import nodata_regions
from sarfeat.nodata_fill import fill_invalid
from sarfeat.nodata_regions import unfilled_nodata
from sarfeat.structural import prepare_modality


def _labelled(valid, large):
    """What the matcher marked before: the no-data regions (8-neighbours) labelled, kept
    where one touches the border or holds a large pixel."""
    labels, count = ndimage.label(~valid, structure=np.ones((3, 3), bool))
    touched = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    if large is not None:
        touched |= set(labels[large])
    touched.discard(0)
    return np.isin(labels, sorted(touched))


def _masks(rng, trials):
    for _ in range(trials):
        height, width = (int(n) for n in rng.integers(1, 70, 2))
        valid = rng.random((height, width)) > rng.choice([0.02, 0.1, 0.3, 0.6])
        if rng.random() < 0.5:  # a large region, from the border or not
            top, left = (int(n) for n in rng.integers(0, 3, 2))
            valid[top:top + height // 2, left:left + int(rng.integers(0, width + 1))] = False
        if valid.any() and not valid.all():
            yield valid


@pytest.mark.parametrize("graph", [True, False], ids=["graph", "labels"])
def test_unfilled_nodata_is_the_regions_that_touch_large_or_border(graph, monkeypatch):
    if not graph:  # every mask counts as one of many small pixels: the label image
        monkeypatch.setattr(nodata_regions, "SPARSE_SHARE", 10 ** 9)
    rng = np.random.default_rng(3)
    for valid in _masks(rng, 300):
        large = fill_invalid(np.zeros(valid.shape, np.float32), valid)
        got = unfilled_nodata(valid, large)
        assert got.dtype == bool and got.shape == valid.shape
        np.testing.assert_array_equal(got, _labelled(valid, large))


def _scene():
    """3000 x 2500 px: a wide no-data band along the left edge (outside a footprint) and
    3000 scattered no-data pixels (isolated holes, filled)."""
    rng = np.random.default_rng(0)
    valid = np.ones((3000, 2500), bool)
    valid[:, :700] = False
    valid[rng.integers(0, 3000, 3000), rng.integers(0, 2500, 3000)] = False
    return valid


def _peak(function, *args):
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_unfilled_nodata_of_few_holes_needs_no_label_image():
    valid = _scene()
    large = fill_invalid(np.zeros(valid.shape, np.float32), valid)
    expected = _labelled(valid, large)
    assert 0 < (~valid & ~expected).sum() < 3000  # some holes are left filled
    peak = _peak(unfilled_nodata, valid, large)
    # the result (a byte a pixel) and little else: an int32 label image took 7 bytes a pixel
    assert peak < 1.5 * valid.size
    np.testing.assert_array_equal(unfilled_nodata(valid, large), expected)


def test_fill_invalid_finds_small_holes_band_by_band():
    valid = _scene()
    values = np.zeros(valid.shape, np.float32)
    # its valid values' sample and the masks of the opening: an image-sized mask of the
    # small holes (and of the pixels not large) took 6 bytes a pixel
    assert _peak(fill_invalid, values, valid) < 5 * valid.size


def test_prepared_sar_keeps_holes_filled_and_the_outside_no_data():
    valid = _scene()
    image = np.random.default_rng(1).gamma(1.0, 1.0, valid.shape).astype(np.float32)
    image[~valid] = np.nan
    prepared = prepare_modality(image, "sar")
    large = fill_invalid(np.zeros(valid.shape, np.float32), valid)
    np.testing.assert_array_equal(np.isnan(prepared), _labelled(valid, large))
