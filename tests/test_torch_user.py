"""What a PyTorch user expects of sarfeat's estimators: a tensor is taken as the array of
its values, and a call leaves torch's global settings (threads, random numbers) as found."""

from __future__ import annotations

import os
import subprocess
import sys

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


def test_the_first_compiled_kernel_leaves_torchs_thread_count_as_set():
    """Starting numba's OpenMP threads (before the first compiled kernel) set the libgomp
    that torch shares to numba's count, every CPU: a user's ``torch.set_num_threads(1)``
    became 2 on a 2-core machine (64 on a 64-core one). It is put back; numba keeps its
    own count (2 here, set by NUMBA_NUM_THREADS whatever the machine)."""
    pytest.importorskip("numba")
    script = ("import torch, numba; torch.set_num_threads(1); torch.get_num_threads(); "
              "from sarfeat.runtime.kernels import start_sleeping_threads; "
              "start_sleeping_threads(); print(torch.get_num_threads(), numba.get_num_threads())")
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout.split() == ["1", "2"], done.stdout


@pytest.mark.parametrize("options", [dict(runtime="torch"), dict(runtime="torch", upright=True)])
def test_detection_leaves_torchs_random_generator_as_found(intensity, options):
    """The torch runtime built its network with random initial values (then overwritten
    by the weights), which advanced the generator of a user's ``torch.manual_seed``."""
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    SARR2D2Detector(**options).detect_and_extract(intensity)
    assert torch.equal(torch.rand(3), expected)


def test_loading_a_checkpoint_leaves_torchs_random_generator_as_found(tmp_path):
    from sarfeat import load_checkpoint, save_checkpoint
    from sarfeat.network import R2D2Net

    path = save_checkpoint(R2D2Net("fast_r2d2_lite"), tmp_path / "net.pt")
    state = torch.get_rng_state()
    load_checkpoint(path)
    assert torch.equal(torch.get_rng_state(), state)


def test_every_estimator_takes_tensors_that_require_grad(intensity):
    """The extractor and the matcher read the image themselves (the ratio descriptor, the
    keypoints' dtype, the matcher's result): a tensor that requires grad, as image or as
    keypoints, raised from inside torch there too."""
    from sarfeat import CoarseFineMatcher, MultiDescriptorExtractor

    image = torch.from_numpy(intensity.copy()).requires_grad_()
    keypoints = torch.tensor([[100.0, 100.0], [60.5, 140.25]], requires_grad=True)
    extractor, reference = (MultiDescriptorExtractor(descriptors="ratio_hog") for _ in "ab")
    extractor.detect_and_extract(image)
    reference.detect_and_extract(intensity)
    np.testing.assert_array_equal(extractor.descriptors["ratio_hog"],
                                  reference.descriptors["ratio_hog"])
    extractor.extract(image, keypoints)
    reference.extract(intensity, keypoints.detach().numpy())
    np.testing.assert_array_equal(extractor.keypoints, reference.keypoints)
    np.testing.assert_array_equal(extractor.descriptors["ratio_hog"],
                                  reference.descriptors["ratio_hog"])
    matcher = CoarseFineMatcher(rng=0)
    matches = matcher.match(image, torch.from_numpy(intensity[:, ::-1].copy()))
    expected = CoarseFineMatcher(rng=0).match(intensity, intensity[:, ::-1].copy())
    np.testing.assert_array_equal(matches, expected)
    assert matcher.keypoints1.dtype == np.float32


def test_a_mask_may_be_a_tensor_that_requires_grad(intensity):
    from sarfeat import normalize_sar

    keep = np.zeros(intensity.shape, np.float32)
    keep[:, :128] = 1
    found = normalize_sar(intensity, mask=torch.from_numpy(keep).requires_grad_())
    np.testing.assert_array_equal(found.valid, keep.astype(bool))


def test_extract_after_a_detection_takes_keypoints_and_scales_that_require_grad(intensity):
    """Comparing them with the detection's own (to keep its responses or not) read them with
    np.asarray, which raised RuntimeError from inside torch."""
    detector = SARR2D2Detector()
    detector.detect(intensity)
    own = detector.keypoints.copy(), detector.scales.copy()
    detector.extract(intensity, torch.from_numpy(own[0].copy()).requires_grad_(),
                     torch.from_numpy(own[1].copy()).requires_grad_())
    assert detector.responses is not None  # the detection's own keypoints: its results kept
    np.testing.assert_array_equal(detector.keypoints, own[0])
    assert len(detector.descriptors) == int(detector.mask.sum()) > 0
