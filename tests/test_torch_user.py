"""What a PyTorch user expects of sarfeat's estimators: a tensor is taken as the array of
its values, and a call leaves torch's global settings (threads, random numbers) as found."""

from __future__ import annotations


import numpy as np
import pytest

from sarfeat import SARR2D2Detector
from sarfeat.data import load_sar_scene

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def intensity():
    """Channel VV of the bundled Labrador scene: 256x256 float32 intensity."""
    return np.ascontiguousarray(load_sar_scene("labrador")[..., 0])


@pytest.mark.parametrize("make, equivalent", [
    (lambda values: torch.from_numpy(values.copy()).requires_grad_(), lambda values: values),
    (lambda values: torch.from_numpy(values).bfloat16(),
     lambda values: torch.from_numpy(values).bfloat16().float().numpy()),
    (lambda values: torch.from_numpy(np.sqrt(values).astype(np.complex64)).conj(),
     lambda values: np.sqrt(values).astype(np.complex64)),
])
def test_a_tensor_is_detected_as_the_array_of_its_values(intensity, make, equivalent):
    """A tensor that requires grad, a bfloat16 one or a conjugate view raised from inside
    torch's ``__array__`` (RuntimeError, TypeError); each is now detected as its values."""
    detector, reference = SARR2D2Detector(), SARR2D2Detector()
    detector.detect_and_extract(make(intensity))
    reference.detect_and_extract(equivalent(intensity))
    assert detector.keypoints.dtype == np.float32
    np.testing.assert_array_equal(detector.keypoints, reference.keypoints)
    np.testing.assert_array_equal(detector.descriptors, reference.descriptors)
