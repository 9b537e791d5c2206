"""Runtime and precision: the choice, its fallback, the built ONNX models and their accuracy.

The ONNX Runtime tests skip where the optional ``onnxruntime`` and ``onnx``
(``sarfeat[fast]``) are missing; the choice and fallback tests run everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sarfeat import SARR2D2Detector
from sarfeat import _runtime
from sarfeat import _fused_heads as fused_heads
from sarfeat._inference import DenseMaps, DenseRunner, upsampled_head_logits
from sarfeat.checkpoint import load_checkpoint
from sarfeat.data import WEIGHT_ALIASES, fetch, load_sar_scene

CPU = torch.device("cpu")
needs_onnx = pytest.mark.skipif(not _runtime.onnxruntime_available(),
                                reason="onnxruntime and onnx (sarfeat[fast]) are not installed")


@pytest.fixture(scope="module")
def sar_net():
    """sarfeat's default weights (bundled)."""
    return load_checkpoint(fetch(WEIGHT_ALIASES["sarfeat-sar-v1"]))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Built models and measured choices go to one folder of this test session."""
    folder = tmp_path_factory.getbasetemp() / "sarfeat-cache"
    monkeypatch.setenv("SARFEAT_CACHE_DIR", str(folder))
    monkeypatch.setattr(_runtime, "_choices", {})


@pytest.fixture(scope="module")
def tile():
    """An odd-sized (97, 130) crop of the normalised Labrador VV scene, in [0, 1]."""
    from sarfeat.preprocess import normalize_sar

    gray = normalize_sar(load_sar_scene("labrador")[..., 0]).image
    return torch.from_numpy(np.ascontiguousarray(gray[40:137, 60:190]))


# -- the heads without the upsampled map --------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False], ids=["numba", "torch-strips"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (33, 20)])
def test_low_resolution_heads_equal_upsample_then_square(shape, fused, monkeypatch):
    if fused and not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    monkeypatch.setattr(fused_heads, "available", lambda: fused)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, 16, *shape, generator=generator)
    weight, bias = torch.randn(2, 16, generator=generator), torch.randn(2, generator=generator)
    upsampled = F.interpolate(features, scale_factor=2, mode="bilinear", align_corners=False)
    expected = F.conv2d(upsampled.square(), weight[:, :, None, None], bias)
    got = upsampled_head_logits(features, weight, bias, stride=2, rows_per_strip=4)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, size", [((1, 1), (1, 2)), ((33, 20), (66, 40)),
                                         ((33, 20), (65, 39))])
def test_cropped_fused_logits_are_the_first_pixels(shape, size):
    if not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(16, *shape, generator=generator)
    weight, bias = torch.randn(2, 16, generator=generator), torch.randn(2, generator=generator)
    logits = upsampled_head_logits(features[None], weight, bias, stride=2)[0]
    table = features.permute(1, 2, 0).numpy()
    got = fused_heads.cropped_head_logits(table, weight.numpy(), bias.numpy(), *size)
    assert got.shape == (2, *size)
    torch.testing.assert_close(torch.from_numpy(got), logits[:, :size[0], :size[1]],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="need more"):
        fused_heads.cropped_head_logits(table, weight.numpy(), bias.numpy(), 2 * shape[0] + 1, 1)


# -- choosing ------------------------------------------------------------------------------


@pytest.mark.parametrize("argument, value", [("runtime", "tensorrt"), ("precision", "fp8")])
def test_unknown_values_raise_listing_the_choices(sar_net, argument, value):
    with pytest.raises(ValueError, match=f"{value!r}.*'auto'.*'(torch|fp32)'"):
        SARR2D2Detector(sar_net, **{argument: value})  # at construction


@pytest.mark.parametrize("runtime, precision", [("torch", "int8"), ("onnxruntime", "bf16")])
def test_impossible_pairs_raise(sar_net, runtime, precision):
    with pytest.raises(ValueError, match=precision):
        _runtime.candidates(sar_net, CPU, runtime, precision)


def test_without_onnxruntime_auto_falls_back_to_torch(sar_net, monkeypatch):
    monkeypatch.setattr(_runtime, "onnxruntime_available", lambda: False)
    options = _runtime.candidates(sar_net, CPU)
    assert options and all(runtime == "torch" for runtime, _ in options)
    runner = _runtime.make_runner(sar_net, CPU, "auto", "fp32")
    assert isinstance(runner, DenseRunner) and runner.precision == "fp32"
    for runtime, precision in [("onnxruntime", "auto"), ("auto", "int8")]:
        with pytest.raises(ImportError, match=r"sarfeat\[fast\]"):
            _runtime.candidates(sar_net, CPU, runtime, precision)


def test_full_r2d2_runs_on_torch_only():
    from sarfeat.network import R2D2Net

    net = R2D2Net("r2d2")
    assert {runtime for runtime, _ in _runtime.candidates(net, CPU)} == {"torch"}
    with pytest.raises(ValueError, match="Fast-R2D2"):
        _runtime.candidates(net, CPU, "onnxruntime")


@needs_onnx
@pytest.mark.parametrize("runtime, precision",
                         [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")])
def test_forced_runtime_and_precision_are_honoured(sar_net, tile, runtime, precision):
    detector = SARR2D2Detector(sar_net, runtime=runtime, precision=precision, min_size=64)
    detector.detect_and_extract(tile.numpy())
    assert (detector._runner.runtime, detector._runner.precision) == (runtime, precision)
    assert len(detector.keypoints) > 0


def test_auto_takes_the_fastest_measured_and_remembers_it(sar_net, monkeypatch):
    measured = []

    def fake_measure(runners):
        measured.append(sorted(runners))
        return {option: (0.1 if option == ("torch", "fp32") else 1.0) for option in runners}

    monkeypatch.setattr(_runtime, "measure", fake_measure)
    options = _runtime.candidates(sar_net, CPU)
    if len(options) < 2:
        pytest.skip("one candidate only on this machine: nothing to measure")
    runner = _runtime.make_runner(sar_net, CPU)
    assert (runner.runtime, runner.precision) == ("torch", "fp32")
    assert measured == [sorted(options)]
    # remembered in this process, and on disk for the next one
    _runtime.make_runner(sar_net, CPU)
    monkeypatch.setattr(_runtime, "_choices", {})
    again = _runtime.make_runner(sar_net, CPU)
    assert (again.runtime, again.precision) == ("torch", "fp32")
    assert len(measured) == 1


# -- the ONNX model ------------------------------------------------------------------------


@needs_onnx
def test_onnx_fp32_maps_equal_torch_fp32(sar_net, tile):
    expected = DenseRunner(sar_net, CPU, "fp32").run(tile)
    got = _runtime.make_runner(sar_net, CPU, "onnxruntime", "fp32").run(tile)
    for name in ("features", "reliability", "repeatability"):
        torch.testing.assert_close(getattr(got, name).float(), getattr(expected, name).float(),
                                   rtol=1e-4, atol=1e-4)
    # descriptors: both runners give channels-last features; an NCHW copy samples the same
    rows, cols = torch.tensor([0.0, 10.0, 50.5, 96.0]), torch.tensor([0.0, 129.0, 64.25, 7.0])
    assert not got.features.is_contiguous() and not expected.features.is_contiguous()
    planar = DenseMaps(got.features.contiguous(), got.stride, got.reliability, got.repeatability)
    for maps in (got, planar):
        torch.testing.assert_close(maps.descriptors_at(rows, cols),
                                   expected.descriptors_at(rows, cols), rtol=1e-4, atol=1e-5)


@needs_onnx
def test_a_new_build_removes_older_builds_of_the_same_model(sar_net, tmp_path, monkeypatch):
    from sarfeat import _onnx

    monkeypatch.setenv(_onnx.CACHE_ENV, str(tmp_path))
    path = _onnx.model_path(sar_net, "fp32")
    path.parent.mkdir(parents=True)
    stem = path.name.rsplit("-v", 1)[0]
    older = path.parent / f"{stem}-v{_onnx.BUILD_VERSION - 1}.onnx"
    other_weights = path.parent / f"{sar_net.architecture}-0123456789abcdef01234567-fp32-v1.onnx"
    for stale in (older, other_weights):
        stale.write_bytes(b"stale")
    assert _onnx.ensure_model(sar_net, "fp32") == path and path.is_file()
    assert not older.exists()
    assert other_weights.exists()  # other weights' models are not this build's to remove


@needs_onnx
def test_changed_weights_get_a_new_model(sar_net, tile):
    from sarfeat._onnx import model_path, weights_hash

    changed = load_checkpoint(fetch(WEIGHT_ALIASES["sarfeat-sar-v1"]))
    with torch.no_grad():
        changed.ops[0].weight[0, 0, 0, 0] += 0.5
    assert weights_hash(changed) != weights_hash(sar_net)
    assert model_path(changed, "fp32") != model_path(sar_net, "fp32")
    original = _runtime.make_runner(sar_net, CPU, "onnxruntime", "fp32").run(tile)
    got = _runtime.make_runner(changed, CPU, "onnxruntime", "fp32").run(tile)
    expected = DenseRunner(changed, CPU, "fp32").run(tile)
    torch.testing.assert_close(got.features, expected.features, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(got.features, original.features, atol=1e-3)
