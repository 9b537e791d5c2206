"""Colour optical images in optical-SAR registration: read as their gray values (a zero
alpha is no-data), a colour moving image warped channel by channel."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import warp

import sarfeat
from sarfeat.matching import CoarseFineMatcher, DenseStructuralMatcher
from sarfeat.metrics import registration_rmse
from sarfeat.structural import prepare_modality

from _optical_sar_helpers import SHAPE, TRUTH

#: The global search at one scale: what these tests check is how a colour image is read (as
#: its gray values, a zero alpha as no-data, warped channel by channel), not the search over
#: scales, and each registration costs about two thirds of the default search's (the tiles'
#: scale, 0.9, is found from 1.0; each transform within 0.05 px of the default search's).
ONE_SCALE = dict(dense_scales=(1.0,))


def _colour(gray):
    """An RGB image whose channels differ, made from a gray tile."""
    gray = np.asarray(gray, np.float32)
    return np.clip(np.dstack([gray, 0.8 * gray + 30, 255 - 0.5 * gray]), 0, 255).astype(np.uint8)


def test_prepare_modality_reads_a_colour_optical_image_as_register_does(tile):
    from sarfeat.io import rgb_to_gray

    rgba = np.dstack([_colour(tile[0]), np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0  # transparent: no-data, not a fourth channel of data
    prepared = prepare_modality(rgba, "optical")
    assert np.isnan(prepared[:, :40]).all() and np.isfinite(prepared[:, 40:]).all()
    gray = prepare_modality(rgb_to_gray(_colour(tile[0])), "optical")
    assert np.corrcoef(prepared[:, 40:].ravel(), gray[:, 40:].ravel())[0, 1] > 0.999
    with pytest.raises(ValueError, match=r"\(H, W, 4\) RGBA, got shape \(256, 256, 2\)"):
        prepare_modality(rgba[..., :2], "optical")
    with pytest.raises(ValueError):  # SAR is one channel
        prepare_modality(rgba[..., :3], "sar")


def test_register_reads_a_colour_optical_image_as_its_gray_values(tile, moved_sar):
    from sarfeat.io import rgb_to_gray

    rgb = _colour(tile[0])
    found = sarfeat.register(rgb, moved_sar, modality="optical-sar", rng=0, progress=False,
                             **ONE_SCALE)
    gray = sarfeat.register(rgb_to_gray(rgb), moved_sar, modality="optical-sar", rng=0,
                            progress=False, **ONE_SCALE)
    np.testing.assert_allclose(found.transform.params, gray.transform.params)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    # a zero alpha is no-data: the pair still registers, with that share left out
    rgba = np.dstack([rgb, np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0
    holed = sarfeat.register(rgba, moved_sar, modality="optical-sar", rng=0, progress=False,
                             **ONE_SCALE)
    assert registration_rmse(holed.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert holed.diagnostics["valid_fraction"][0] == pytest.approx(1 - 40 / 256, abs=1e-3)
    # the dense matcher called directly reads the alpha alike (not as a fourth gray channel)
    direct = DenseStructuralMatcher("optical-sar", scales=ONE_SCALE["dense_scales"])
    direct.match(rgba, moved_sar)
    np.testing.assert_allclose(direct.model.params, holed.transform.params)
    assert direct.diagnostics["valid_fraction"][0] == pytest.approx(1 - 40 / 256, abs=1e-3)
    # the estimator reads it alike (the drop-in API of the matching module)
    matched = CoarseFineMatcher(modality="optical-sar", rng=0, **ONE_SCALE).match_result(
        rgb, moved_sar)
    np.testing.assert_allclose(matched.model.params, found.transform.params)
    # a colour SAR image is still refused: SAR is one channel
    with pytest.raises(ValueError, match="single-channel"):
        sarfeat.register(rgb, np.dstack([moved_sar] * 3), modality="optical-sar")


def test_a_colour_moving_optical_image_is_warped_channel_by_channel(tile, moved_sar):
    # SAR fixed, the optical image moving: warped keeps the optical image's channels
    rgb = warp(_colour(tile[0]), TRUTH.inverse, order=1, preserve_range=True).astype(np.uint8)
    found = sarfeat.register(tile[1], rgb, modality="sar-optical", rng=0, progress=False,
                             **ONE_SCALE)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert found.warped.shape == (*SHAPE, 3)
    inside = np.isfinite(found.warped).all(axis=-1)
    assert inside.mean() > 0.5
    # each channel lies back on the fixed grid: near the unmoved colour tile
    error = np.abs(found.warped[inside] - _colour(tile[0])[inside].astype(np.float32))
    assert np.median(error) < 12


def test_a_zero_alpha_of_a_colour_moving_image_is_no_data_in_warped(tile):
    """warped of an RGBA moving image is NaN in every channel where its alpha is zero, as the
    matching reads it, not the colour hidden there."""
    rgba = np.dstack([_colour(tile[0]), np.full(SHAPE, 255, np.uint8)])
    rgba[:, :40, 3] = 0
    found = sarfeat.register(tile[1], rgba, modality="sar-optical", rng=0, progress=False,
                             **ONE_SCALE)
    assert np.abs(found.transform.params - np.eye(3)).max() < 3  # the tiles are co-registered
    assert found.warped.shape == (*SHAPE, 4)
    assert np.isnan(found.warped[:, :36]).all()
    assert np.isfinite(found.warped[4:-4, 44:-4]).all()


def _edged(colour: np.ndarray) -> np.ndarray:
    """``colour`` as RGBA: columns under 60 transparent (alpha 0, black), column 60 nearly so
    (alpha 1) and black, columns 61-75 opaque and of colour 200, the others opaque."""
    rgba = np.dstack([colour, np.full(colour.shape[:2], 255, np.uint8)])
    rgba[:, :61, :3], rgba[:, 61:76, :3] = 0, 200
    rgba[:, :60, 3], rgba[:, 60, 3] = 0, 1
    return rgba


def test_warped_weights_the_colour_of_an_rgba_moving_image_by_its_alpha(tile):
    """warped resampled an RGBA image's channels unweighted, a nearly transparent black
    edge darkening its opaque neighbours (to 100 at half a pixel), where the command line's
    raster warp weights colour by alpha: warped is now that warp before rounding."""
    from sarfeat.io import Raster, warp_raster

    moved = warp(_colour(tile[0]), TRUTH.inverse, order=1, preserve_range=True).astype(np.uint8)
    rgba = _edged(moved)
    found = sarfeat.register(tile[1], rgba, modality="sar-optical", rng=0, progress=False,
                             **ONE_SCALE)
    assert registration_rmse(found.transform, TRUTH.params, SHAPE, SHAPE) < 3.0
    warped = found.warped
    alpha = warped[..., 3]
    edge = (alpha >= 128) & (alpha < 255)  # half or more of the opaque 200 beside the edge
    assert edge.sum() > 20
    assert warped[edge, :3].min() >= 198  # unweighted: down to about 100
    # the same rule as sarfeat.io.warp_raster (what `sarfeat register -o` writes), rounded
    bands = tuple((None, colour) for colour in ("red", "green", "blue", "alpha"))
    picture = np.moveaxis(rgba, -1, 0)
    written = warp_raster(Raster(picture, np.broadcast_to(picture[3] > 0, picture.shape),
                                 bands=bands, picture=True), found.transform.params, SHAPE)
    inside = np.isfinite(warped).all(axis=-1)
    np.testing.assert_array_equal(written.valid[0], inside)
    np.testing.assert_array_equal(written.data[:3, inside].T, np.rint(warped[inside, :3]))


@pytest.mark.parametrize("order", [0, 1, 3])
def test_warp_colour_leaves_an_opaque_image_and_nearest_as_they_were(tile, order):
    """An opaque RGBA image (and RGB), and any with order 0, are resampled channel by
    channel as warped resampled them before alpha weighting, to the bit."""
    from sarfeat.geometry import warp as sarfeat_warp
    from sarfeat.io import warp_colour
    from sarfeat.structural import masked_like_gray, optical_gray

    moved = warp(_colour(tile[0]), TRUTH.inverse, order=1, preserve_range=True).astype(np.uint8)
    opaque = np.dstack([moved, np.full(SHAPE, 255, np.uint8)])
    opaque[:, :40, 3] = 0  # one alpha under all the colour: no weight changes anything
    images = [opaque, moved] + ([_edged(moved)] if order == 0 else [])
    for image in images:
        masked = masked_like_gray(image, optical_gray(image))
        before = np.stack([sarfeat_warp(masked[..., band], TRUTH.params, SHAPE, order=order)
                           for band in range(image.shape[-1])], axis=-1)
        np.testing.assert_array_equal(warp_colour(masked, TRUTH.params, SHAPE, order=order),
                                      before)
