"""sarfeat.geometry.warp: the one warp, for every dtype, in blocks, with one no-data rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage.transform import AffineTransform, ProjectiveTransform
from skimage.transform import warp as skimage_warp

from sarfeat.geometry import MASK_THRESHOLD, warp, warp_dtype

TURN = AffineTransform(rotation=0.3, translation=(20.0, -15.0), scale=1.1).params


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).gamma(2.0, 1.0, (300, 260))


def test_blocks_give_the_whole_image_warp(image):
    whole = skimage_warp(image, AffineTransform(matrix=TURN), output_shape=(280, 310), order=1,
                         cval=np.nan, preserve_range=True)
    for block in (64, 97, 4096):
        np.testing.assert_allclose(warp(image, TURN, (280, 310), block=block), whole,
                                   rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64,
                                   np.complex64, np.complex128])
def test_every_dtype_and_complex_parts_alike(image, dtype):
    values = (image * 20).astype(dtype)
    if np.iscomplexobj(values):
        values = values + 1j * (image[::-1] * 20).astype(dtype)
    out = warp(values, TURN, (200, 200))
    assert out.dtype == warp_dtype(dtype)
    real = warp(values.real, TURN, (200, 200))
    np.testing.assert_allclose(out.real, real, rtol=1e-6, equal_nan=True)
    if np.iscomplexobj(values):
        np.testing.assert_allclose(out.imag, warp(values.imag, TURN, (200, 200)), rtol=1e-6,
                                   equal_nan=True)


def test_nodata_nan_mask_and_masked_arrays_are_one_rule(image):
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    holed = image.copy()
    holed[100:110, 50:60] = -1
    by_value = warp(holed, shift, image.shape, nodata=-1)
    by_nan = warp(np.where(holed == -1, np.nan, holed), shift, image.shape)
    by_valid = warp(holed, shift, image.shape, valid=holed != -1)
    by_mask = warp(np.ma.masked_equal(holed, -1), shift, image.shape)
    for other in (by_nan, by_valid, by_mask):
        np.testing.assert_array_equal(np.isnan(other), np.isnan(by_value))
        np.testing.assert_allclose(other, by_value, equal_nan=True)
    # a half-pixel shift spreads the hole by one pixel (the bilinear reach), no further
    assert np.isnan(by_value[99:110, 49:60]).all()
    assert np.isfinite(by_value[98, 48:61]).all() and np.isfinite(by_value[110, 48:61]).all()
    assert 0 < MASK_THRESHOLD < 0.01


def test_outside_is_nan_and_antialias_smooths(image):
    out = warp(image, np.eye(3), (310, 260))
    assert np.isnan(out[300:]).all() and np.isfinite(out[:300]).all()
    quarter = np.array([[4, 0, 1.5], [0, 4, 1.5], [0, 0, 1.0]])  # an output pixel is 4 x 4
    assert np.nanstd(warp(image, quarter, (75, 65), antialias=True)) < \
        0.6 * np.nanstd(warp(image, quarter, (75, 65)))


@pytest.mark.parametrize("last", [0.0, 1e-100, 1e-4])
def test_antialias_of_a_map_with_its_origin_near_the_horizon(image, last):
    """A projective map whose output origin lies on (near) its horizon shrinks without bound
    there: its prefilter blurs the input to its mean at most, the same for a last entry of
    0, 1e-100 or 1e-4 (it was none for 0, a ValueError of scipy's Gaussian for 1e-100, and
    a Gaussian of 20000 pixels' reach for 1e-4)."""
    crop = image[:30, :40]
    matrix = np.array([[1, 0.1, 0], [0.05, 1, 1.0], [0.0, 0.25, last]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = warp(crop, matrix, (20, 20), antialias=True)
    blurred = warp(crop, matrix, (20, 20), antialias=True, block=7)
    np.testing.assert_allclose(out, blurred, equal_nan=True)
    assert np.isfinite(out).sum() > 300
    assert np.nanmax(out) - np.nanmin(out) < 0.3 * (crop.max() - crop.min())


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("last", [1e-100, 5e-324, -0.5])
def test_a_map_with_a_horizon_in_the_output_warps_without_warnings(order, last):
    """The output pixels on or beyond a projective map's horizon are no-data, computed
    without a RuntimeWarning: a subnormal homogeneous coordinate (last 5e-324) overflowed
    the division in the block's window and the pixel map, and a cubic's infinite values
    there made ``1j * inf`` of a complex image warn (last 1e-100)."""
    image = (np.arange(64.0).reshape(8, 8) * (1 - 2j)).astype(np.complex64)  # 8 row + col
    matrix = np.array([[1, 0, 0.2], [0, 1, 0.2], [0.25, 0, last]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = warp(image, matrix, (6, 12), order=order)
        blocked = warp(image, matrix, (6, 12), order=order, block=4)
    np.testing.assert_allclose(blocked, out, rtol=1e-6, equal_nan=True)
    cols, rows = np.meshgrid(np.arange(12.0), np.arange(6.0))
    w = 0.25 * cols + last  # 0 on the horizon (column 2 for last -0.5), negative before it
    with np.errstate(over="ignore"):  # infinity at a subnormal w: outside
        x, y = (cols + 0.2) / np.where(w > 0, w, 1), (rows + 0.2) / np.where(w > 0, w, 1)
    inside = (w > 0) & (x <= 7) & (y <= 7)
    assert inside.sum() >= 10 and (~inside).sum() >= 10  # both sides of the layout drawn
    np.testing.assert_array_equal(np.isnan(out.real), ~inside)
    np.testing.assert_array_equal(np.isnan(out.imag), ~inside)
    if order == 1:  # the ramp, read where the map says
        np.testing.assert_allclose(out[inside], ((8 * y + x) * (1 - 2j))[inside], rtol=1e-5)


def test_bad_arguments_are_refused(image):
    with pytest.raises(ValueError, match="3x3"):
        warp(image, np.eye(2), (4, 4))
    with pytest.raises(ValueError, match="2-D"):
        warp(image[None], np.eye(3), (4, 4))
    with pytest.raises(ValueError, match="valid shape"):
        warp(image, np.eye(3), (4, 4), valid=np.ones((3, 3), bool))
    for entry in (np.nan, np.inf):
        broken = np.eye(3)
        broken[0, 2] = entry
        with pytest.raises(ValueError, match="NaN or infinite"):
            warp(image, broken, (4, 4))


@pytest.mark.parametrize("arguments, keywords, message", [
    ((np.full((4, 4), "a"), np.eye(3), (4, 4)), {}, "image dtype <U1"),
    (([[1.0, 2.0], [3.0]], np.eye(3), (4, 4)), {}, "image cannot be read"),
    ((np.ones((4, 4)), "eye", (4, 4)), {}, "inverse_map must be a 3x3 matrix"),
    ((np.ones((4, 4)), np.eye(3), (-1, 4)), {}, "shape must be"),
    ((np.ones((4, 4)), np.eye(3), (4, 4, 4)), {}, "shape must be"),  # was read as (4, 4)
    ((np.ones((4, 4)), np.eye(3), (4.7, 4)), {}, "shape must be"),  # was cut to 4
    ((np.ones((4, 4)), np.eye(3), 4), {}, "shape must be"),
    ((np.ones((4, 4)), np.eye(3), (4, 4)), {"order": 7}, "order must be"),
    ((np.ones((4, 4)), np.eye(3), (4, 4)), {"order": 1.5}, "order must be"),
    ((np.ones((4, 4)), np.eye(3), (4, 4)), {"block": 0}, "block must be"),
    ((np.ones((4, 4)), np.eye(3), (4, 4)), {"block": -5}, "block must be"),  # was all NaN
])
def test_bad_image_shape_order_and_block_are_refused_first(arguments, keywords, message):
    with pytest.raises(ValueError, match=message):
        warp(*arguments, **keywords)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_an_output_without_pixels_is_refused(shape):
    with pytest.raises(ValueError, match=r"shape must be .*integers >= 1"):
        warp(np.ones((4, 4)), np.eye(3), shape)


@pytest.mark.parametrize("image", [np.ones((0, 4)), np.ones((4, 0)), [[]]])
def test_an_image_without_pixels_is_refused(image):
    with pytest.raises(ValueError, match="image has no pixels to warp"):
        warp(image, np.eye(3), (4, 4))  # was all NaN


@pytest.mark.parametrize("matrix", [np.zeros((3, 3)),
                                    [[1, 0, 0], [1, 0, 0], [0, 0, 1.0]],  # a line
                                    [[1, 0, 0], [0, 1, 0], [0, 0, 0.0]],  # no homogeneous w
                                    [[0.1, 0.2, 0], [0.3, 0.6, 0], [0, 0, 1]]])  # to rounding
def test_a_singular_map_is_refused(matrix):
    with pytest.raises(ValueError, match="inverse_map is singular"):
        warp(np.ones((4, 4)), matrix, (4, 4))


def test_far_translations_and_strong_scales_are_not_called_singular():
    far = np.array([[1e-3, 0, 1e6], [0, 1e-3, -1e6], [0, 0, 1.0]])
    assert np.isnan(warp(np.ones((4, 4)), far, (2, 2))).all()


@pytest.mark.parametrize("keywords, error, message", [
    ({"antialias": "no"}, TypeError, "antialias must be True or False"),  # was switched on
    ({"nodata": "0"}, ValueError, "nodata must be one real number"),
    ({"valid": np.full((4, 4), "yes")}, ValueError, "valid dtype <U3 is not supported"),
])
def test_nodata_valid_and_antialias_are_checked_even_when_no_block_reads_the_input(
        keywords, error, message):
    far = np.array([[1, 0, 100], [0, 1, 100], [0, 0, 1.0]])  # the output lies outside the input
    with pytest.raises(error, match=message):
        warp(np.ones((4, 4)), far, (4, 4), **keywords)
    with pytest.raises(error, match=message):
        warp(np.ones((4, 4)), np.eye(3), (4, 4), **keywords)


@pytest.mark.parametrize("dtype", [object, "U1", "datetime64[s]"])
def test_warp_dtype_refuses_what_warp_refuses(dtype):
    with pytest.raises(ValueError, match="is not one that warp resamples"):
        warp_dtype(dtype)  # was object, <U32 or a DTypePromotionError


def test_a_nested_list_is_read_as_an_array():
    values = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(warp(values.tolist(), np.eye(3), (4, 4)), values)


def _keys(t):
    """Keys' cubic convolution kernel (a = -0.5), the cubic of skimage.transform.warp."""
    t = np.abs(t)
    return np.where(t <= 1, (1.5 * t - 2.5) * t * t + 1,
                    np.where(t < 2, ((-0.5 * t + 2.5) * t - 4) * t + 2, 0.0))


def test_cubic_is_keys_whatever_the_block_and_repeats_the_edge(image):
    whole = warp(image, TURN, (280, 310), order=3)
    np.testing.assert_allclose(warp(image, TURN, (280, 310), order=3, block=24), whole,
                               rtol=1e-9, atol=1e-12, equal_nan=True)
    rows, cols = np.mgrid[0:280, 0:310]
    x, y, _ = TURN @ np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)])
    inside = (x >= 1) & (x <= 258) & (y >= 1) & (y <= 298)  # the 4 x 4 support inside
    x, y = x[inside], y[inside]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    expected = sum(image[y0 + j, x0 + i] * _keys(x - x0 - i) * _keys(y - y0 - j)
                   for j in range(-1, 3) for i in range(-1, 3))
    np.testing.assert_allclose(whole.ravel()[inside], expected, rtol=1e-9, atol=1e-12)
    # at the edge, the edge pixels repeat: a constant stays constant to the last pixel
    flat = warp(np.full((40, 50), 200.0), np.array([[1, 0, 0.4], [0, 1, 0.7], [0, 0, 1.0]]),
                (40, 50), order=3)
    np.testing.assert_allclose(flat[np.isfinite(flat)], 200.0)


@pytest.mark.parametrize("order, antialias", [(3, False), (1, True)])
def test_reach_beyond_the_mask_reads_valid_pixels_not_zeros(order, antialias):
    flat = np.full((30, 30), 100.0)
    flat[15, 15] = np.nan
    halving = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1.0]])
    out = warp(flat, halving, (14, 14), order=order, antialias=antialias)
    assert np.isnan(out).sum() <= 4  # the hole, spread by the bilinear reach only
    np.testing.assert_allclose(out[np.isfinite(out)], 100.0)


@pytest.mark.parametrize("order", [0, 1, 3])
def test_no_data_exactly_where_a_projective_map_reads_outside_the_input(image, order):
    # the edge rule maps every output pixel (term by term since the BLAS product of
    # every pixel was replaced): the same pixels as skimage's own transform of them
    matrix = np.array([[0.9, 0.2, 30.0], [-0.15, 1.05, -20.0], [4e-4, -3e-4, 1.0]])
    shape = (240, 280)
    out = warp(image, matrix, shape, order=order, block=97)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    mapped = ProjectiveTransform(matrix=matrix)(np.column_stack([cols.ravel(), rows.ravel()]))
    x, y = mapped.T.reshape(2, *shape)
    inside = (x >= -1e-6) & (x <= image.shape[1] - 1 + 1e-6) \
        & (y >= -1e-6) & (y <= image.shape[0] - 1 + 1e-6)
    assert 0.2 < inside.mean() < 0.95  # both kinds of pixel are tested
    np.testing.assert_array_equal(np.isfinite(out), inside)


@pytest.mark.filterwarnings("ignore:Bi-quadratic")
@pytest.mark.parametrize("order", [0, 2, 5])
def test_orders_without_skimage_fast_path_resample_as_skimage_does(image, order, monkeypatch):
    # skimage maps every output pixel through the transform for these orders (an N x 3 BLAS
    # product that starts its threads): warp gives it the map of every pixel instead, computed
    # term by term, for the same values (a generic map: no nearest-neighbour ties; the
    # output reads all of the input, so a spline's prefilter sees the image skimage sees)
    matrix = np.array([[0.93, 0.217, -21.3], [-0.151, 1.047, -13.9], [3.1e-4, -2.3e-4, 1.0]])
    shape = (330, 300)
    expected = skimage_warp(image, ProjectiveTransform(matrix=matrix), output_shape=shape,
                            order=order, cval=np.nan, preserve_range=True,
                            **({"clip": False, "mode": "edge"} if order > 1 else {}))

    def refused(self, coords):
        raise AssertionError("a transform of every pixel")

    monkeypatch.setattr(ProjectiveTransform, "__call__", refused)
    out = warp(image, matrix, shape, order=order, block=4096)
    inside = np.isfinite(out)
    assert 0.4 < inside.mean() < 0.95
    np.testing.assert_allclose(out[inside], expected[inside], rtol=0, atol=1e-9)
