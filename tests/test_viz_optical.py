"""Registration plots of a pair with an optical image: each image drawn by its role (an
optical one linearly stretched, or as it is for an 8-bit picture; a SAR one in dB), on the
bundled 3MOS tile (conftest's ``tile`` and ``moved_sar``)."""

from __future__ import annotations

import numpy as np
import pytest

import sarfeat
from sarfeat.preprocess import normalize_sar

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def reflectance_pair(tile, moved_sar):
    """The optical tile as uint16 reflectance-like values (Sentinel-2 L2A's scale), the
    moved SAR tile, and their registration (optical-sar)."""
    optical = (tile[0] * 40).astype(np.uint16)
    result = sarfeat.register(optical, moved_sar, modality="optical-sar", rng=0,
                              progress=False)
    return optical, moved_sar, result


def assert_linear_stretch(shown, values, percentiles=(2, 98)):
    """``shown`` is ``values`` mapped linearly from their ``percentiles`` to [0, 1], clipped."""
    low, high = np.percentile(values, percentiles)
    expected = np.clip((values.astype(np.float64) - low) / (high - low), 0, 1)
    np.testing.assert_allclose(shown, expected, atol=1e-5)


def restretched(shown: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A panel's ``shown`` values as the overlay draws them: stretched linearly between their
    2nd and 98th percentiles over ``where`` (both images have data), clipped, then raised to
    the power that brings their median over ``where`` to 0.5."""
    low, high = np.percentile(shown[where], (2, 98))
    stretched = np.clip((shown - low) / (high - low), 0, 1)
    return stretched ** (np.log(0.5) / np.log(np.median(stretched[where])))


def test_an_optical_image_is_drawn_linearly_stretched_not_in_db(reflectance_pair, drawn,
                                                                tmp_path):
    # plot_registration drew every image with the SAR stretch: uint16 reflectance was taken
    # for intensity and drawn in dB (log-shaped), its dark fields crushed
    from sarfeat.viz import plot_registration

    optical, sar, result = reflectance_pair
    assert result.diagnostics["modality"] == "optical-sar"
    for given in ({}, {"modality": "optical-sar"}):  # the result's modality, or as given
        drawn.clear()
        plot_registration(tmp_path / "plot.png", optical, sar, result, **given)
        _, overlay, residuals = drawn[0].axes[:3]
        panel = np.asarray(residuals.images[0].get_array())  # the fixed (optical) image
        assert_linear_stretch(panel, optical)
        inside = (panel > 0.05) & (panel < 0.95)
        slope, offset = np.polyfit(optical[inside].astype(float), panel[inside], 1)
        assert np.abs(slope * optical[inside] + offset - panel[inside]).max() < 1e-4
        drawn_overlay = np.asarray(overlay.images[0].get_array())
        # the SAR image is drawn as before: normalised (dB, robust stretch), green; the
        # overlay only where the registered image has data, each image as its panel is
        # (the optical one linear), stretched to its own range there, medians balanced
        warped = result.warped
        finite = np.isfinite(warped)
        np.testing.assert_allclose(drawn_overlay[..., 0][finite],  # magenta: fixed
                                   restretched(panel, finite)[finite], atol=1e-5)
        sar_shown = normalize_sar(warped).image
        np.testing.assert_allclose(drawn_overlay[..., 1][finite],
                                   restretched(sar_shown, finite)[finite], atol=1e-5)
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_an_optical_moving_image_and_its_overlay_share_one_stretch(reflectance_pair, drawn,
                                                                   tmp_path):
    # sar-optical: the optical image is the moving one; the overlay's registered image is
    # drawn with the moving image's stretch, so the two panels agree
    from sarfeat.viz import plot_registration

    optical, sar, _ = reflectance_pair
    result = sarfeat.register(sar, optical, modality="sar-optical", rng=0, progress=False)
    plot_registration(tmp_path / "plot.png", sar, optical, result)
    overlay = np.asarray(drawn[0].axes[1].images[0].get_array())
    warped = result.warped
    finite = np.isfinite(warped) & np.isfinite(sar)  # the overlay: where both have data
    np.testing.assert_allclose(overlay[..., 0][finite],
                               restretched(normalize_sar(sar).image, finite)[finite], atol=1e-5)
    low, high = np.percentile(optical, (2, 98))
    shown = np.clip((warped - low) / (high - low), 0, 1)  # as the moving panel: linear
    np.testing.assert_allclose(overlay[..., 1][finite], restretched(shown, finite)[finite],
                               atol=1e-5)
    from sarfeat.viz import display_image

    assert_linear_stretch(display_image(optical, "optical"), optical)


@pytest.fixture(scope="module")
def eight_bit_pair(tile, moved_sar):
    """The optical tile as an 8-bit picture and its registration with the moved SAR tile
    (optical-sar), once a module: two tests read it and never change it."""
    picture = np.clip(tile[0], 0, 255).astype(np.uint8)
    return picture, sarfeat.register(picture, moved_sar, modality="optical-sar", rng=0,
                                     progress=False)


def test_an_eight_bit_optical_picture_is_drawn_as_it_is(eight_bit_pair, moved_sar, drawn,
                                                        tmp_path):
    from sarfeat.viz import plot_registration, registration_view

    picture, result = eight_bit_pair
    # drawn downsampled (here at half size), the view stays an 8-bit picture
    fixed, moving, shown, unit = registration_view(picture, moved_sar, result, side=128)
    assert fixed.dtype == np.uint8 and fixed.shape == (128, 128) and unit == 2.0
    plot_registration(tmp_path / "plot.png", fixed, moving, shown, residual_unit=unit)
    panel = np.asarray(drawn[0].axes[2].images[0].get_array())
    np.testing.assert_allclose(panel, fixed / 255, atol=1e-7)
    from sarfeat.viz import display_image

    np.testing.assert_allclose(display_image(picture, "optical"), picture / 255, atol=1e-7)


def test_display_image_roles_are_checked():
    from sarfeat.viz import display_image

    with pytest.raises(ValueError, match="role must be 'sar' or 'optical'"):
        display_image(np.ones((4, 4)), "radar")
    with pytest.raises(ValueError, match="real gray values"):
        display_image(np.ones((4, 4), np.complex64), "optical")
    # no-data of an optical image is drawn black; a constant one does not divide by zero
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    image[0, 0] = np.nan
    assert display_image(image, "optical")[0, 0] == 0
    assert np.isfinite(display_image(np.full((4, 4), 7.0), "optical")).all()


def test_match_errors_draw_an_optical_image_as_optical(tile, moved_sar, drawn, tmp_path):
    # plot_match_errors drew both images with the SAR stretch (uint16 reflectance in dB)
    from sarfeat.viz import plot_match_errors

    optical = (tile[0] * 40).astype(np.uint16)
    keypoints = np.array([[40.0, 50.0], [120.0, 130.0]])
    plot_match_errors(tmp_path / "m.png", optical, moved_sar, keypoints, keypoints,
                      np.array([[0, 0], [1, 1]]), np.array([1.0, 9.0]), "pair",
                      modality="optical-sar")
    image = np.asarray(drawn[0].axes[0].images[0].get_array())[..., 0]  # gray RGB
    width = optical.shape[1]
    assert_linear_stretch(image[:, :width], optical)
    finite = np.isfinite(moved_sar)
    np.testing.assert_allclose(image[:, width:][finite], normalize_sar(moved_sar).image[finite],
                               atol=1e-6)


def test_the_overlay_of_an_eight_bit_picture_is_balanced(tile, moved_sar, eight_bit_pair,
                                                         drawn, tmp_path):
    # the overlay drew an 8-bit picture as it is (its values 0.28 to 0.80 between their 2nd
    # and 98th percentiles) against the SAR image stretched in dB (0.05 to 0.94): a dull,
    # green-tinted overlay. Each image now spans one range where both have data, as the
    # same tile as float reflectance does.
    from sarfeat.viz import plot_registration

    overlays = []
    reflectance = sarfeat.register(tile[0] * 40, moved_sar, modality="optical-sar", rng=0,
                                   progress=False)
    for fixed, result in (eight_bit_pair, (tile[0] * 40, reflectance)):
        drawn.clear()
        plot_registration(tmp_path / "plot.png", fixed, moved_sar, result)
        overlay = np.asarray(drawn[0].axes[1].images[0].get_array())
        both = np.isfinite(result.warped)
        for channel in (0, 1):  # magenta (fixed) and green (registered)
            np.testing.assert_allclose(np.percentile(overlay[..., channel][both], (2, 98)),
                                       (0, 1), atol=0.01)
        overlays.append(overlay)
    np.testing.assert_allclose(overlays[0], overlays[1], atol=0.01)


def test_the_overlay_of_an_optical_sar_pair_has_balanced_medians(tile, moved_sar, drawn,
                                                                 optical_sar_registered,
                                                                 tmp_path):
    # the overlay stretched each image linearly between its 2nd and 98th percentiles: the
    # optical and SAR channels' medians stayed apart (0.32 and 0.46 on the bundled tile,
    # registered), a colour cast over a well-registered pair. Each channel's median is now
    # mid-gray where both images have data, its 2nd and 98th percentiles still black and
    # white.
    from sarfeat.viz import plot_registration

    result = optical_sar_registered  # register(tile[0], moved_sar, "optical-sar", rng=0)
    plot_registration(tmp_path / "plot.png", tile[0], moved_sar, result)
    overlay = np.asarray(drawn[0].axes[1].images[0].get_array())
    both = np.isfinite(result.warped)
    magenta, green = overlay[..., 0][both], overlay[..., 1][both]
    np.testing.assert_allclose([np.median(magenta), np.median(green)], 0.5, atol=0.01)
    np.testing.assert_array_equal(overlay[..., 2][both], magenta)
    for channel in (magenta, green):
        np.testing.assert_allclose(np.percentile(channel, (2, 98)), (0, 1), atol=0.01)
    # a brighter pixel of the fixed panel is no darker in the overlay (the order is kept)
    panel = np.asarray(drawn[0].axes[2].images[0].get_array())[both]
    assert np.all(np.diff(magenta[np.argsort(panel, kind="stable")]) >= -1e-6)
