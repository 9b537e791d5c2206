"""The rotation-invariant detector's maps in one run: the keypoint_maps network and
``SARR2D2Detector(turned_maps=...)`` (its distillation: test_distill.py)."""

from __future__ import annotations

import pytest
import torch

from sarfeat import SARR2D2Detector
from sarfeat.runtime.torch import DenseRunner
from sarfeat.checkpoint import save_checkpoint
from sarfeat.network import R2D2Net, multiply_adds_per_pixel, weights_of_network
from sarfeat.weights import gives_turned_maps, resolve_weights, turned_maps_companion


@pytest.fixture(scope="module")
def untrained():
    """A keypoint_maps network with random weights and batch-norm statistics."""
    torch.manual_seed(0)
    net = R2D2Net("keypoint_maps").eval()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 2.0)
    return net


# -- the architecture ------------------------------------------------------------------------


def test_keypoint_maps_network_is_small_and_keeps_the_input_size(untrained):
    assert multiply_adds_per_pixel("fast_r2d2") / multiply_adds_per_pixel("keypoint_maps") > 20
    out = untrained(torch.rand(1, 3, 33, 40))
    assert out["repeatability"].shape == out["reliability"].shape == (1, 1, 33, 40)


def test_receptive_radius_bounds_what_an_output_pixel_reads(untrained):
    runner = DenseRunner(weights_of_network(untrained), "cpu", "fp32")
    gray = torch.rand(100, 120)
    before = torch.from_numpy(runner.run(gray).repeatability)
    changed = gray.clone()
    changed[50, 60] += 1.0
    moved = torch.nonzero((torch.from_numpy(runner.run(changed).repeatability) - before).abs() > 0)
    reach = (moved - torch.tensor([50, 60])).abs().max()
    assert 0 < reach <= untrained.receptive_radius


def test_strided_network_on_onnx_runtime_equals_torch(untrained):
    pytest.importorskip("onnxruntime")
    from sarfeat.runtime.onnx import OnnxRunner

    gray = torch.rand(101, 134).numpy()  # odd: padded to even and cropped back, as for a pool
    weights = weights_of_network(untrained)
    expected = DenseRunner(weights, "cpu", "fp32").run(gray)
    got = OnnxRunner(weights, "fp32").run(gray)
    for name in ("reliability", "repeatability"):
        torch.testing.assert_close(torch.from_numpy(getattr(got, name)),
                                   torch.from_numpy(getattr(expected, name)), atol=1e-5, rtol=1e-4)


# -- the detector's choice ---------------------------------------------------------------------


def test_turned_maps_weights_are_bundled_registered_and_distilled():
    from sarfeat import data

    bundled = data._BUNDLED_DIR / data.TURNED_MAPS_WEIGHTS
    assert data.WEIGHT_ALIASES["sarfeat-sar-v1-turned-maps"] == data.TURNED_MAPS_WEIGHTS
    assert data.file_sha256(bundled) == data._REGISTRY[data.TURNED_MAPS_WEIGHTS]
    content = torch.load(bundled, weights_only=True)
    assert content["architecture"] == "keypoint_maps"
    metadata = content["metadata"]
    assert metadata["maps"] == "quarter_turn_average"
    config = metadata["distillation"]["config"]
    assert config["teacher"] == "sarfeat-sar-v1" and config["target"] == "turned_maps"
    # the files its training mixture opens: tests/test_training_provenance.py


def test_default_weights_have_a_distilled_companion():
    assert turned_maps_companion(None) == turned_maps_companion("sarfeat-sar-v1")
    assert turned_maps_companion("sarfeat-sar-v1") == "weights/sarfeat-sar-v1-turned-maps.pt"
    assert turned_maps_companion("sarfeat-sar-lite") is None
    assert gives_turned_maps(resolve_weights("sarfeat-sar-v1-turned-maps"))
    assert not gives_turned_maps(resolve_weights("sarfeat-sar-v1"))


def _count_runs(detector, image):
    runner = detector._get_runner()
    count = [0]
    original = runner.run

    def counting(gray):
        count[0] += 1
        return original(gray)

    runner.run = counting
    try:
        detector.detect_and_extract(image)
    finally:
        del runner.run
    return runner, count[0]


def test_distilled_maps_run_one_small_network_once_per_tile(airsar_cube):
    image = airsar_cube[..., 0]
    runners = {}
    for turned_maps in ("auto", "distilled", "average"):
        runners[turned_maps] = _count_runs(SARR2D2Detector(turned_maps=turned_maps), image)
    upright_runner, upright_runs = _count_runs(SARR2D2Detector(upright=True), image)
    assert runners["auto"][1] == runners["distilled"][1] == upright_runs
    assert runners["average"][1] == 4 * upright_runs
    assert runners["distilled"][0].gives_turned_maps
    assert not runners["average"][0].gives_turned_maps and not upright_runner.gives_turned_maps


def test_weights_without_a_distilled_network_average(airsar_cube, tmp_path):
    image = airsar_cube[:128, :128, 0]
    _, lite_runs = _count_runs(SARR2D2Detector("sarfeat-sar-lite", min_size=128), image)
    _, upright_runs = _count_runs(SARR2D2Detector("sarfeat-sar-lite", min_size=128,
                                                  upright=True), image)
    assert lite_runs == 4 * upright_runs
    with pytest.raises(ValueError, match="turned_maps='average'"):
        SARR2D2Detector("sarfeat-sar-lite", turned_maps="distilled").detect(image)


def test_turned_maps_weights_given_directly(airsar_cube, untrained, tmp_path):
    path = save_checkpoint(untrained, tmp_path / "maps.pt",
                           metadata={"maps": "quarter_turn_average"})
    image = airsar_cube[:128, :128, 0]
    _, runs = _count_runs(SARR2D2Detector(path, min_size=128, reliability_threshold=0.0,
                                          repeatability_threshold=0.0), image)
    assert runs == 1
    for options in ({"upright": True}, {"turned_maps": "average"}):
        with pytest.raises(ValueError, match="only keypoint maps"):
            SARR2D2Detector(path, **options).detect(image)


def test_turned_maps_choice_is_checked():
    with pytest.raises(ValueError, match="turned_maps"):
        SARR2D2Detector(turned_maps="student")
