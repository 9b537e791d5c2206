"""The dense optical-SAR matcher's inputs (sarfeat.matching.dense_inputs): what register
would refuse an image for, said from the image as the matcher marks it, without a mask."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import sarfeat.image_checks
import sarfeat.matching.inputs
from sarfeat.image_checks import MIN_VALID_FRACTION, marked_unusable_reason, unusable_reason
from sarfeat.matching.dense_inputs import prepared_image
from sarfeat.matching.inputs import nodata_marked, nodata_marked_valid


def _images() -> dict[str, tuple[np.ndarray, float | None]]:
    """Images (and their nodata) of every reason, and of none."""
    rng = np.random.default_rng(0)
    scene = rng.random((120, 100)).astype(np.float32)
    patched = scene.copy()
    patched[10:40, 5:60] = np.nan
    patched[50, 50] = np.inf
    sparse = scene.copy()
    sparse[rng.random(scene.shape) < 0.99] = np.nan
    flat = np.full((120, 100), 7.5)
    flat[:30] = np.nan
    counts = rng.integers(1, 4000, (120, 100)).astype(np.uint16)
    counts[:, :20] = 0
    complex_flat = np.full((64, 64), 3 + 4j, np.complex64)
    complex_flat[:5] = complex(np.nan, 0)
    canvas = np.zeros((120, 100), np.float32)  # a turned image's fill around it
    canvas[20:100, 15:85] = scene[20:100, 15:85]
    return {"float32 with NaN and inf": (patched, None), "99 % NaN": (sparse, None),
            "constant float64 with NaN": (flat, None),
            "all NaN": (np.full((50, 50), np.nan), None), "uint16 with nodata 0": (counts, 0.0),
            "uint16 constant": (np.ones((80, 90), np.uint16), None),
            "masked": (np.ma.masked_array(scene, scene > 0.5), None),
            "constant complex": (complex_flat, None), "complex": (scene * (1 + 1j), None),
            "canvas": (canvas, None)}


@pytest.mark.parametrize("name", list(_images()))
@pytest.mark.parametrize("least", [0.0, MIN_VALID_FRACTION, 0.5])
def test_the_marked_image_s_reason_is_unusable_reason_s_word_for_word(name, least):
    image, nodata = _images()[name]
    for fill in (False, True):  # with fill, the canvas's fill is no-data too
        marked, _, fraction = nodata_marked_valid(image, nodata, fill)
        said = unusable_reason(marked, None, least)
        assert marked_unusable_reason(marked, fraction, least) == said
        if not fill:
            assert unusable_reason(image, nodata, least) == said
        # nodata_marked's share: valid_mask(...).mean() of the marked image, rounded
        assert nodata_marked(image, nodata, fill)[2] == round(
            float(sarfeat.image_checks.valid_mask(marked).mean()), 4) == round(fraction, 4)


def test_the_reasons_are_all_there():
    said = {name: marked_unusable_reason(*nodata_marked_valid(image, nodata, False)[::2],
                                         MIN_VALID_FRACTION)
            for name, (image, nodata) in _images().items()}
    assert said["all NaN"].startswith("has no valid pixel")
    assert said["99 % NaN"].startswith("is mostly no-data: only 1.")
    assert said["constant float64 with NaN"].startswith(
        "is constant (every valid pixel equals 7.5)")
    assert said["uint16 constant"].startswith("is constant (every valid pixel equals 1)")
    assert said["constant complex"].startswith("is constant (every valid pixel equals 5)")
    assert said["float32 with NaN and inf"] is None and said["uint16 with nodata 0"] is None


def test_the_marked_image_s_reason_makes_no_mask_of_it():
    image = np.random.default_rng(1).random((1000, 1000)).astype(np.float32)
    image[:100] = np.nan
    tracemalloc.start()
    try:
        assert marked_unusable_reason(image, 0.9, MIN_VALID_FRACTION) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < image.size // 100  # unusable_reason's mask alone is image.size bytes


def test_the_matcher_masks_an_image_once_to_prepare_it_and_say_why(monkeypatch):
    """The dense matcher worked out register's reason with a second mask of each image (a
    boolean copy: 78 MiB and 0.1-0.15 CPU s an image at a 10980 px tile's overlap), though
    marking its no-data had counted the valid pixels already."""
    masked = []
    for module in (sarfeat.image_checks, sarfeat.matching.inputs):
        original = module.valid_mask

        def counted(values, *args, original=original, **kwargs):
            masked.append(np.shape(values))
            return original(values, *args, **kwargs)

        monkeypatch.setattr(module, "valid_mask", counted)
    flat = np.full((128, 128), 0.25, np.float32)
    flat[:20] = np.nan
    _, _, valid, why, constant = prepared_image(flat, "sar", "image2", None, True, "auto")
    assert why == "is constant (every valid pixel equals 0.25): there is nothing to match"
    assert valid == round(1 - 20 / 128, 4) and constant
    assert masked == [(128, 128)]
