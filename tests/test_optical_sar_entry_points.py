"""The optical-SAR entry points as a user calls them: what they accept, refuse and report.

On the bundled 3MOS tile (Apache-2.0): an optical tile and its co-registered SAR tile.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import sarfeat
from sarfeat.data import load_optical_sar_tile
from sarfeat.image_checks import MIN_VALID_FRACTION, unusable_reason
from sarfeat.matching import CoarseFineMatcher
from sarfeat.matching.dense_search import DenseSearch

from _optical_sar_helpers import SHAPE


@pytest.fixture(scope="module")
def tile():
    return load_optical_sar_tile()


@pytest.mark.parametrize("options", [
    {"patch_size": 256}, {"weights": "sarfeat-sar-v1"}, {"descriptors": ("r2d2",)},
    {"max_fine_patches": 4}, {"precision": "fp32"}, {"model": "projective"},
    {"rotations": (0,)}, {"angle_step": 45},
])
@pytest.mark.parametrize("modality", ["optical-sar", "sar-optical"])
def test_keypoint_matcher_options_are_refused_with_an_optical_image(tile, options, modality):
    # they were ignored: the pair was registered on dense structure maps as if they were not
    # given (the command line refuses them, exit status 2)
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"{name}=.*for two SAR images"):
        sarfeat.register(*tile, modality=modality, progress=False, **options)


def test_weights_given_with_an_optical_image_are_refused_as_unused_not_as_missing():
    # a checkpoint that is not there was looked for first: FileNotFoundError about the file,
    # where the weights are of no use to the pair at all
    for modality in ("optical-sar", "sar-optical", "optical"):
        with pytest.raises(ValueError, match=r"weights='missing\.pt': for two SAR images"):
            CoarseFineMatcher("missing.pt", modality=modality)
    with pytest.raises(FileNotFoundError, match="missing.pt"):  # two SAR images: looked for
        CoarseFineMatcher("missing.pt")


def test_dense_scales_beyond_max_scale_change_are_said_to_be_left_out():
    # they were dropped from the search without a word; all of them, and the pair was
    # refused with "best structure correlation -inf"
    from sarfeat.matching.dense import WIDE_SCALES

    with pytest.warns(UserWarning, match=r"dense_scales beyond max_scale_change=2 \(only "
                      r"0\.5-2 is searched\) are left out of the search: 0\.25, 3; raise"):
        CoarseFineMatcher(modality="optical-sar", dense_scales=(0.25, 1.0, 3.0))
    with pytest.warns(UserWarning, match=r": 3, all that were given \(every pair will be "):
        CoarseFineMatcher(modality="sar-optical", dense_scales=(3.0,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CoarseFineMatcher(modality="optical-sar", dense_scales=WIDE_SCALES)  # 0.5: within
        CoarseFineMatcher(modality="optical-sar", dense_scales=(3.0,), max_scale_change=4)


@pytest.mark.parametrize("options", [{"dense_model": "affine"}, {"dense_scales": (1.0,)},
                                     {"border_fill": False}])
def test_dense_matcher_options_are_refused_with_two_sar_images(tile, options):
    """border_fill=False was taken and ignored: two SAR images leave out their border zeros
    whatever it says."""
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"{name}=.*for a pair with an optical image"):
        sarfeat.register(tile[1], tile[1], progress=False, **options)


def test_the_options_an_optical_pair_follows_are_accepted():
    # those of the command line included: its defaults of the keypoint matcher's options
    matcher = CoarseFineMatcher(
        modality="sar-optical", model="similarity", max_scale_change=3, input_kind="db",
        nodata=0, rng=1, dense_scales=(1.0,), dense_model="affine", border_fill=False,
        rotations=(0,), angle_step=None, max_fine_patches=16, precision="auto",
        device="auto", trust=False)
    assert matcher.dense_scales == (1.0,)


def _colour(gray):
    """An RGB image whose channels differ, made from a gray tile."""
    gray = np.asarray(gray, np.float32)
    return np.clip(np.dstack([gray, 0.8 * gray + 30, 255 - 0.5 * gray]), 0, 255).astype(np.uint8)


def test_a_colour_optical_pair_is_plotted_as_register_took_it(tile, tmp_path):
    # plot_registration refused the RGB image that register had taken (2-D only), and the
    # (H, W, 4) warped of an RGBA moving image even when given its gray values
    pytest.importorskip("matplotlib")
    from sarfeat.io import rgb_to_gray
    from sarfeat.viz import plot_registration, registration_view

    rgb = _colour(tile[0])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for fixed, moving, modality in ((rgb, tile[1], "optical-sar"),
                                    (tile[1], rgba, "sar-optical")):
        result = sarfeat.register(fixed, moving, modality=modality, rng=0, progress=False)
        path = tmp_path / f"{modality}.png"
        plot_registration(path, fixed, moving, result)
        assert path.stat().st_size > 0
        # the view of a large pair (here drawn at half size) is of the gray values
        shown_fixed, shown_moving, shown, _ = registration_view(fixed, moving, result, side=128)
        assert shown_fixed.shape == shown_moving.shape == (128, 128)
        assert shown.warped.shape == (128, 128)
    plot_registration(tmp_path / "gray.png", tile[1], rgb_to_gray(rgba[..., :3]), result)


@pytest.mark.parametrize("make, modality, message", [
    # rasterio's (bands, H, W): it said "expected a 2-D single-channel image", where the
    # docstring takes an optical image in colour
    (lambda o, s: (np.stack([o, o, o]), s), "optical-sar",
     r"fixed image: an optical image must be \(H, W\), \(H, W, 3\) RGB .*np\.moveaxis"),
    (lambda o, s: (s, np.stack([o, o, o, o])), "sar-optical",
     r"moving image: an optical image must be .*got an array of shape \(4, 256, 256\)"),
    # an RGB image given as the SAR one: it said to convert it with rgb2gray, matching the
    # optical image as SAR
    (lambda o, s: (_colour(o), s), "sar-optical",
     r"fixed image: a SAR image is a single-channel .*swap the modality"),
    (lambda o, s: (_colour(o), s), "sar", r"fixed image: .*modality='optical-sar'"),
    (lambda o, s: (o.astype(np.complex64), s), "optical-sar",
     "fixed image: an optical image cannot be complex"),
    # the dense matcher's size check named image1
    (lambda o, s: (o, s[:12]), "optical-sar", r"moving image is too small .* 12 x 256"),
    # float64 values beyond float32's range: they became inf (no-data) or 0 in float32
    # without a word, an optical image's all of them "no finite pixel" (the SAR image's
    # when it has no-data too), tiny ones a flat image refused after the whole search
    (lambda o, s: (np.float64(o) * 1e300, s), "optical-sar",
     r"^fixed image: image values reach 2.5\de\+302, beyond float32's range"),
    (lambda o, s: (o, np.where(np.arange(256)[:, None] < 20, np.nan, np.float64(s) * 1e300)),
     "optical-sar",
     r"^moving image: image values reach 2.5\de\+302, beyond float32's range"),
    (lambda o, s: (s, np.float64(o) * 1e-50), "sar-optical",
     r"^moving image: 65536 image values .* below float32's smallest positive value"),
], ids=["bands-first", "bands-first-moving", "rgb-as-sar", "rgb-without-modality",
        "complex-optical", "too-small", "optical-beyond-float32",
        "sar-with-no-data-beyond-float32", "optical-below-float32"])
def test_an_input_refused_for_its_role_says_which_and_what_to_pass(tile, make, modality,
                                                                   message):
    with pytest.raises(ValueError, match=message):
        sarfeat.register(*make(*tile), modality=modality, progress=False)


def test_the_matcher_names_its_images_alike(tile):
    with pytest.raises(ValueError, match=r"image1: an optical image must be .*np\.moveaxis"):
        CoarseFineMatcher(modality="optical-sar").match(np.stack([tile[0]] * 3), tile[1])
    # it said "image has no valid pixel" without saying which
    with pytest.raises(ValueError, match=r"^image2: image has no valid pixel"):
        CoarseFineMatcher(modality="optical-sar").match(tile[0], np.full(SHAPE, np.nan))


@pytest.mark.parametrize("modality", ["optical-sar", "sar-optical"])
def test_the_matcher_s_refusal_of_an_unusable_image_says_why_as_register_does(tile, modality):
    """A constant or 99 %-NaN image was refused as 'best structure correlation -1.000' or
    '-inf', where register says 'constant' or 'mostly no-data' before any search."""
    optical, sar = tile
    sparse = sar.astype(np.float32)
    sparse[np.random.default_rng(0).random(sar.shape) < 0.99] = np.nan
    for pair, which, reason in [
            ((np.zeros_like(optical), sar), 0, r"is constant \(every valid pixel equals 0\)"),
            ((optical, sparse), 1, r"is mostly no-data: only 1\.\d % of its pixels are valid")]:
        pair = pair if modality == "optical-sar" else pair[::-1]
        which = which if modality == "optical-sar" else 1 - which
        matcher = CoarseFineMatcher(modality=modality, progress=False)
        try:
            assert len(matcher.match(*pair)) == 0 and matcher.model is None
            failure = matcher.diagnostics["failure"]
            # the search's own word kept where it ran (not for a constant image)
            assert ("best structure correlation" in failure) == ("constant" not in reason)
        except ValueError as error:  # a SAR image 1 so sparse its coarse map is all NaN:
            failure = str(error)    # it was 'the image has no valid pixel', naming neither
            assert "global search cannot be made" in failure
        assert re.match(rf"image{which + 1} {reason}", failure), failure
        with pytest.raises(sarfeat.RegistrationError,
                           match=rf"{('fixed', 'moving')[which]} image {reason}"):
            sarfeat.register(*pair, modality=modality, progress=False)


@pytest.mark.parametrize("modality", ["optical-sar", "sar-optical"])
def test_the_matcher_refuses_a_constant_image_before_its_search(tile, modality, monkeypatch):
    """A constant image cost the dense matcher's whole search (about 3 CPU s on this tile)
    before its refusal, when the matcher was called directly (register refuses it first)."""
    def searched(*args):
        raise AssertionError("the global search ran")

    monkeypatch.setattr(DenseSearch, "hypotheses", searched)
    optical, sar = tile
    few = np.full(SHAPE, np.nan, np.float32)  # 2 % valid, all 0.5: constant too
    few[:5] = 0.5
    for constant, reason in [(np.zeros_like(optical), None), (np.full_like(sar, 0.5), None),
                             (few, "is mostly no-data: only 2.0 % of its pixels are valid")]:
        for which in (0, 1):
            pair = [optical, sar] if modality == "optical-sar" else [sar, optical]
            pair[which] = constant
            matcher = CoarseFineMatcher(modality=modality, progress=False)
            assert len(matcher.match(*pair)) == 0 and matcher.model is None
            said = unusable_reason(constant, None, MIN_VALID_FRACTION)
            assert reason is None or said.startswith(reason)
            # register's words, and no others: no search ran to add its own
            assert matcher.diagnostics["failure"] == f"image{which + 1} {said}"
    # a 99 %-NaN image that is not constant is still searched: register may be told to take
    # it (min_valid_fraction)
    sparse = sar.astype(np.float32)
    sparse[np.random.default_rng(0).random(sar.shape) < 0.99] = np.nan
    with pytest.raises(AssertionError, match="the global search ran"):
        CoarseFineMatcher(modality="optical-sar", progress=False).match(optical, sparse)
