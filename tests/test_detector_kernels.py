"""SARR2D2Detector's compiled parts give the same bits as their NumPy twins: the numba
kernels, and the pyramid's resizes sharing one transposed copy."""

from __future__ import annotations

import numpy as np
import pytest

from sarfeat import SARR2D2Detector

from _detector_helpers import PER_KEYPOINT


@pytest.mark.parametrize("upright", [False, True], ids=["turned", "upright"])
def test_numba_kernels_do_not_change_the_keypoints_or_descriptors(upright, monkeypatch):
    """An install without numba finds the default detector's keypoints and descriptors bit for
    bit: the numpy twins repeat the kernels' float operations (sarfeat.runtime.head_arithmetic,
    sarfeat.runtime.steering_arithmetic); scipy's filters, BLAS and libm moved the last bits."""
    import importlib

    from sarfeat.data import load_sar_scene

    modules = [importlib.import_module(f"sarfeat.runtime.kernels.{name}")
               for name in ("heads", "peaks", "steering", "descriptors")]
    if not all(module.available() for module in modules):
        pytest.skip("numba is not installed (the fast extra)")
    image = np.ascontiguousarray(load_sar_scene("labrador")[:, :192, 0])
    compiled = SARR2D2Detector(upright=upright)
    compiled.detect_and_extract(image)
    for module in modules:
        monkeypatch.setattr(module, "available", lambda: False)
    fallback = SARR2D2Detector(upright=upright)
    fallback.detect_and_extract(image)
    assert len(compiled.keypoints) > 50
    for name in ("keypoints", "descriptors") + PER_KEYPOINT:
        np.testing.assert_array_equal(getattr(fallback, name), getattr(compiled, name),
                                      err_msg=name)


def test_pyramid_resizes_share_one_transposed_copy_with_the_same_bits():
    """resize_many (the detector's pyramid: the transposed image copied once) gives
    resize_bilinear's bits for every level, an unchanged level included."""
    from sarfeat.detector import pyramid_scales
    from sarfeat.resample import resize_bilinear, resize_many

    image = (np.random.default_rng(4).random((301, 257)) ** 3).astype(np.float32)
    shapes = [(round(301 * s), round(257 * s)) for s in pyramid_scales(image.shape, min_size=64)]
    shapes.append((17, 400))
    levels = list(resize_many(image, shapes))
    assert levels[0] is image and len(levels) == len(shapes) > 4
    for shape, level in zip(shapes, levels):
        expected = resize_bilinear(image, shape)
        assert level.shape == shape
        np.testing.assert_array_equal(level.view(np.uint32), expected.view(np.uint32))
