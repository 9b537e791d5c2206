"""The optical-SAR entry points as a user calls them: what they accept, refuse and report.

On the bundled 3MOS tile (Apache-2.0): an optical tile and its co-registered SAR tile.
"""

from __future__ import annotations

import pytest

import sarfeat
from sarfeat.data import load_optical_sar_tile
from sarfeat.matching import CoarseFineMatcher


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


@pytest.mark.parametrize("options", [{"dense_model": "affine"}, {"dense_scales": (1.0,)}])
def test_dense_matcher_options_are_refused_with_two_sar_images(tile, options):
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
