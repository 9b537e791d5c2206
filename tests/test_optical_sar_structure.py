"""Optical-SAR structure: the structure and gradient maps that ignore the sign of contrast,
and prepare_modality's no-data filling (the bundled 3MOS tile)."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat.structural import gradient_maps, prepare_modality, structure_maps

from _optical_sar_helpers import SHAPE


def test_structure_maps_ignore_the_sign_of_contrast(tile):
    # what the change of modality does to an edge: bright on dark becomes dark on bright
    optical = prepare_modality(tile[0], "optical")
    maps = structure_maps(optical)
    inverted = structure_maps(1 - optical)
    assert maps.shape == (6, *SHAPE) and maps.dtype == np.float32
    np.testing.assert_allclose(inverted, maps, rtol=1e-3, atol=1e-4)
    # and they are not constant: the orientations differ across the tile
    assert maps.std(axis=(1, 2)).min() > 0.05


def test_structure_maps_mark_invalid_pixels(tile):
    image = prepare_modality(tile[1], "sar")
    image[:40] = np.nan
    maps = structure_maps(image)
    assert np.isnan(maps[:, :40]).all() and np.isfinite(maps[:, 100:]).all()


def test_gradient_maps_ignore_the_sign_of_contrast_and_turn_with_the_image(tile):
    optical = prepare_modality(tile[0], "optical")
    maps = gradient_maps(optical)
    assert maps.shape == (8, *SHAPE) and maps.dtype == np.float32
    np.testing.assert_allclose(gradient_maps(1 - optical), maps, rtol=1e-4, atol=1e-5)
    assert maps.std(axis=(1, 2)).min() > 0.05
    # a quarter turn of the image turns the maps and moves each orientation by 90 degrees
    # (4 of the 8 bins of 22.5 degrees)
    turned = gradient_maps(np.rot90(optical).copy())
    expected = np.roll(np.rot90(maps, axes=(1, 2)), 4, axis=0)
    inner = (slice(None), slice(20, -20), slice(20, -20))  # away from the reflected border
    np.testing.assert_allclose(turned[inner], expected[inner], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("angle", [30.0, -150.0])
def test_gradient_maps_share_an_orientation_between_its_two_nearest_bins(angle):
    # a ramp whose gradient points 30 degrees from the x axis (or the opposite way: the
    # orientation is taken modulo 180 degrees): 30 / 22.5 = 1 + 1/3, so bin 1 gets two
    # thirds of the magnitude and bin 2 one third (square roots after the cell sum), and no
    # other bin anything
    rows, cols = np.mgrid[0:64, 0:64]
    ramp = (np.cos(np.deg2rad(angle)) * cols
            + np.sin(np.deg2rad(angle)) * rows).astype(np.float32)
    maps = gradient_maps(ramp)[:, 24:40, 24:40]
    assert np.allclose(maps[1] / maps[2], np.sqrt(2), rtol=1e-3)
    others = np.delete(maps, [1, 2], axis=0)
    assert np.abs(others).max() < 1e-3 * maps[1].min()


@pytest.mark.parametrize("slope", [1.0, -1.0])
def test_gradient_maps_put_a_gradient_along_x_either_way_in_the_first_bin(slope):
    # arctan2 gives 0 or pi (its end): both are orientation 0
    ramp = np.tile(slope * np.arange(64, dtype=np.float32), (64, 1))
    maps = gradient_maps(ramp)[:, 24:40, 24:40]
    assert np.abs(maps[1:]).max() < 1e-3 * maps[0].min()


def test_gradient_maps_mark_invalid_pixels(tile):
    image = prepare_modality(tile[1], "sar")
    image[:, :30] = np.nan
    maps = gradient_maps(image)
    assert np.isnan(maps[:, :, :30]).all() and np.isfinite(maps[:, :, 60:]).all()
    with pytest.raises(ValueError, match="2-D"):
        gradient_maps(np.zeros((4, 4)))


def test_prepare_modality_fills_small_no_data_and_keeps_large_regions(tile):
    rng = np.random.default_rng(3)
    for image, modality in ((tile[0], "optical"), (tile[1], "sar")):
        holed = image.astype(np.float32)
        scattered = rng.random(SHAPE) < 0.02
        holed[scattered] = np.nan
        holed[:, :20] = np.nan  # a large region: stays no-data
        prepared = prepare_modality(holed, modality)
        assert np.isnan(prepared[:, :20]).all()
        # (holes next to the region or on the image's border are part of the outside)
        inside = np.zeros(SHAPE, bool)
        inside[3:-3, 30:-3] = scattered[3:-3, 30:-3]
        assert np.isfinite(prepared[3:-3, 30:-3]).all()
        # filled from their neighbours: near what the clean image has there
        clean = prepare_modality(image, modality)
        assert np.median(np.abs(prepared[inside] - clean[inside])) < 0.1
    # a thin sliver along the border (a canvas's fill at a small turn) stays no-data
    sliver = tile[0].astype(np.float32)
    sliver[:3, :100] = np.nan
    assert np.isnan(prepare_modality(sliver, "optical")[:3, :100]).all()
    with pytest.raises(ValueError, match="complex"):
        prepare_modality(tile[0].astype(np.complex64), "optical")
