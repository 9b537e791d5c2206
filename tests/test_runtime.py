"""Runtime and precision: the rule that chooses, the shipped and built ONNX models, the heads.

Most of these tests need no torch; those that compare with torch skip without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sarfeat import SARR2D2Detector
from sarfeat.data import load_sar_scene
from sarfeat.runtime import choice, onnx as ort
from sarfeat.runtime.kernels import heads as fused_heads
from sarfeat.runtime.maps import upsampled_head_logits
from sarfeat.weights import resolve_network_weights

needs_torch = pytest.mark.skipif(not choice.torch_available(), reason="torch is not installed")


@pytest.fixture(scope="module")
def sar_weights():
    """sarfeat's default weights (bundled, read from their .npz)."""
    return resolve_network_weights("sarfeat-sar-v1")


@pytest.fixture(scope="module")
def small_weights():
    """The smallest bundled network (keypoint maps only): quick to build and quantise."""
    return resolve_network_weights("sarfeat-sar-v1-turned-maps")


def _changed(weights):
    """A copy of ``weights`` with one value changed: weights sarfeat does not ship."""
    from sarfeat.architecture import NetworkWeights

    state = {name: value.copy() for name, value in weights.state.items()}
    state["ops.0.weight"][0, 0, 0, 0] += 0.5
    return NetworkWeights(weights.architecture, state, dict(weights.metadata))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Built models go to a folder of this test."""
    monkeypatch.setenv(ort.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tile():
    """An odd-sized (97, 130) crop of the normalised Labrador VV scene, in [0, 1]."""
    from sarfeat.preprocess import normalize_sar

    gray = normalize_sar(load_sar_scene("labrador")[..., 0]).image
    return np.ascontiguousarray(gray[40:137, 60:190], dtype=np.float32)


# -- the heads without the upsampled map --------------------------------------------------------


def _upsample_square_project(features, weight, bias):
    """The reference: x2 bilinear (half-pixel, edges repeated), squared, projected."""
    def axis(size):
        source = np.clip((np.arange(2 * size) + 0.5) / 2 - 0.5, 0, size - 1)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size - 1), source - low

    r0, r1, wr = axis(features.shape[0])
    c0, c1, wc = axis(features.shape[1])
    rows = features[r0] * (1 - wr)[:, None, None] + features[r1] * wr[:, None, None]
    up = rows[:, c0] * (1 - wc)[None, :, None] + rows[:, c1] * wc[None, :, None]
    return np.moveaxis(np.square(up) @ weight.T, -1, 0) + bias[:, None, None]


@pytest.mark.parametrize("fused", [True, False], ids=["numba", "numpy-strips"])
@pytest.mark.parametrize("shape", [(1, 1), (5, 8), (33, 20)])
def test_low_resolution_heads_equal_upsample_then_square(shape, fused, monkeypatch):
    if fused and not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    monkeypatch.setattr(fused_heads, "available", lambda: fused)
    rng = np.random.default_rng(0)
    features = rng.standard_normal((*shape, 16)).astype(np.float32)
    weight = rng.standard_normal((2, 16)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    got = upsampled_head_logits(features, weight, bias, rows_per_strip=4)
    expected = _upsample_square_project(features.astype(np.float64), weight, bias)
    assert got.shape == expected.shape == (2, 2 * shape[0], 2 * shape[1])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape, size", [((1, 1), (1, 2)), ((33, 20), (66, 40)),
                                         ((33, 20), (65, 39))])
def test_cropped_fused_logits_are_the_first_pixels(shape, size):
    if not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    rng = np.random.default_rng(1)
    features = rng.standard_normal((*shape, 16)).astype(np.float32)
    weight = rng.standard_normal((2, 16)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    logits = fused_heads.head_logits(features, weight, bias)
    got = fused_heads.cropped_head_logits(features, weight, bias, *size)
    np.testing.assert_array_equal(got, logits[:, :size[0], :size[1]])
    with pytest.raises(ValueError, match="need more"):
        fused_heads.cropped_head_logits(features, weight, bias, 2 * shape[0] + 1, 1)


@pytest.fixture(scope="module")
def labrador_features(sar_weights, tile):
    """The default network's int8 features of the Labrador crop, (48, 65, 128)."""
    return ort.OnnxRunner(sar_weights, "int8").run(tile[:96]).features


def test_numba_and_numpy_heads_give_the_same_bits(sar_weights, labrador_features, monkeypatch):
    """The compiled heads and the numpy fallback follow one float order
    (sarfeat.runtime.head_arithmetic): equal logits and maps on real features, not close ones.
    A summation order of its own (fastmath, BLAS) or another exp moves the last bits."""
    if not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    from sarfeat.runtime.maps import head_activations

    weight, bias = sar_weights.head_projection()
    fused = upsampled_head_logits(labrador_features, weight, bias)
    fused_maps = head_activations(fused)
    monkeypatch.setattr(fused_heads, "available", lambda: False)
    numpy_logits = upsampled_head_logits(labrador_features, weight, bias, rows_per_strip=5)
    np.testing.assert_array_equal(fused, numpy_logits)
    for got, expected in zip(head_activations(numpy_logits), fused_maps):
        np.testing.assert_array_equal(got, expected)
    assert 0.0 < fused_maps[1].min() < fused_maps[1].max() < 1.0


def test_activations_are_one_formula_everywhere(monkeypatch):
    """numba's per-pixel activations equal numpy's on every kind of logit, NaN and
    the saturated ends included, and agree with float64 libm to float32 rounding."""
    if not fused_heads.available():
        pytest.skip("numba is not installed (the fast extra)")
    from sarfeat.runtime.head_arithmetic import activations

    logits = np.concatenate([np.linspace(-120, 120, 2401), [-1e30, -90.0, -0.0, 19.999, 20.0,
                                                            20.001, 1e6, np.nan]])
    logits = np.stack([logits, logits]).astype(np.float32)[:, None]
    compiled = fused_heads.head_maps(logits)
    reliability, repeatability = activations(logits)
    np.testing.assert_array_equal(compiled[0], reliability)
    np.testing.assert_array_equal(compiled[1], repeatability)
    x = logits[0, 0].astype(np.float64)
    saliency = np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))
    finite = np.isfinite(x)
    with np.errstate(over="ignore"):
        expected = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(reliability[0, finite], expected[finite],
                               rtol=1e-7, atol=1e-45)
    np.testing.assert_allclose(repeatability[0, finite], (saliency / (1 + saliency))[finite],
                               rtol=1e-7, atol=1e-45)
    assert np.isnan(reliability[0, -1]) and np.isnan(repeatability[0, -1])


# -- choosing: a rule, no timing --------------------------------------------------------------


@pytest.mark.parametrize("argument, value", [("runtime", "tensorrt"), ("precision", "fp8")])
def test_unknown_values_raise_listing_the_choices(sar_weights, argument, value):
    with pytest.raises(ValueError, match=f"{value!r}.*'auto'.*'(torch|fp32)'"):
        SARR2D2Detector(sar_weights, **{argument: value})  # at construction


@pytest.mark.parametrize("runtime, precision", [("torch", "int8"), ("onnxruntime", "bf16")])
def test_impossible_pairs_raise(sar_weights, runtime, precision):
    with pytest.raises(ValueError, match=precision):
        choice.plan(sar_weights, "cpu", runtime, precision)


@pytest.mark.parametrize("runtime, precision", [("onnxruntime", "auto"), ("auto", "int8")])
def test_onnxruntime_on_a_gpu_raises_advice_that_runs(sar_weights, runtime, precision):
    """The error names a choice that runs: the CPU (int8 never runs on torch)."""
    with pytest.raises(ValueError, match="device='cpu'") as raised:
        choice.plan(sar_weights, "cuda", runtime, precision)
    if precision == "int8":
        assert "runtime='torch'" not in str(raised.value)


@needs_torch
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_names_the_device_asked_for(device):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ValueError, match=f"device={device!r} was requested"):
        SARR2D2Detector(device=device)


def test_auto_on_the_cpu_is_onnxruntime_with_the_checked_precision(sar_weights, small_weights):
    manifest = json.loads((ort.BUNDLED_DIR / ort.MANIFEST).read_text())
    for name, weights in (("sarfeat-sar-v1", sar_weights),
                          ("sarfeat-sar-v1-turned-maps", small_weights)):
        passes = manifest["models"][name]["int8_check"]["passes"]
        assert choice.plan(weights, "cpu") == ("onnxruntime", "int8" if passes else "fp32")
    # weights that sarfeat does not ship never get int8 by default, only when asked for
    assert choice.plan(_changed(sar_weights), "cpu") == ("onnxruntime", "fp32")
    assert choice.plan(_changed(sar_weights), "cpu", precision="int8") == ("onnxruntime", "int8")


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_detector_says_the_runtime_and_precision_chosen(sar_weights, precision):
    detector = SARR2D2Detector(sar_weights, upright=True, precision=precision, device="cpu")
    assert detector.runtime_used is None and detector.runtime_device is None  # not loaded
    runtime, chosen = choice.plan(sar_weights, "cpu", precision=precision)
    assert detector.load().runtime_used == {"runtime": runtime, "precision": chosen,
                                            "device": "cpu"}
    assert detector.runtime_device == "cpu"


def test_the_choice_needs_no_measurement():
    """Nothing in the rule times a runtime, and nothing is read from a previous process."""
    assert not hasattr(choice, "measure")
    assert not any(path.name == "measured_choices.json" for path in ort.BUNDLED_DIR.iterdir())


def test_full_r2d2_runs_on_torch_only():
    from sarfeat.architecture import NetworkWeights

    net = NetworkWeights("r2d2", {})
    with pytest.raises(ValueError, match="Fast-R2D2"):
        choice.plan(net, "cpu", "onnxruntime")
    if choice.torch_available():
        assert choice.plan(net, "cpu") == ("torch", "fp32")
    else:
        with pytest.raises(ImportError, match=r"sarfeat\[train\]"):
            choice.plan(net, "cpu")


@pytest.mark.parametrize("runtime, precision", [("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                                pytest.param("torch", "fp32", marks=needs_torch)])
def test_forced_runtime_and_precision_are_honoured(sar_weights, tile, runtime, precision):
    detector = SARR2D2Detector(sar_weights, runtime=runtime, precision=precision, min_size=64,
                               upright=True)
    detector.detect_and_extract(tile)
    assert (detector._runner.runtime, detector._runner.precision) == (runtime, precision)
    assert len(detector.keypoints) > 0


def test_two_processes_give_the_same_keypoints_and_the_second_compiles_nothing(tmp_path):
    """The default detector's answer does not depend on the process (no timing race), and
    numba's disk cache really hits: a second process loads every kernel that the default
    detector and the ``ratio_hog`` descriptor use instead of compiling it again."""
    pytest.importorskip("numba")
    script = (
        "import numpy as np, sys; from numba.core import event; "
        "import sarfeat.runtime.kernels; sarfeat.runtime.kernels.MIN_COMPILED_WORK = 0; "
        "from sarfeat import SARR2D2Detector, MultiDescriptorExtractor; "
        "from sarfeat.data import load_sar_scene; "
        "image = load_sar_scene('labrador')[:384, :384, 0]; "
        "recorder = event.install_recorder('numba:compile'); compiled = recorder.__enter__(); "
        "d = SARR2D2Detector(); d.detect_and_extract(image); "
        "MultiDescriptorExtractor(descriptors=('ratio_hog',)).extract(image, d.keypoints[:50]); "
        "recorder.__exit__(None, None, None); "
        "sys.stdout.write(d._runner.runtime + d._runner.precision + ' ' "
        "+ str(sum(e.is_start for _, e in compiled.buffer)) + '\\n'); "
        "np.save(sys.stdout.buffer, d.keypoints)"
    )
    import io
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    outputs, compilations = [], []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True,
                              env=env)
        line, _, payload = done.stdout.partition(b"\n")
        name, count = line.split()
        outputs.append((name, np.load(io.BytesIO(payload))))
        compilations.append(int(count))
    assert outputs[0][0] == outputs[1][0]
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    assert compilations[0] > 0, "the first process should have compiled the kernels"
    assert compilations[1] == 0, f"{compilations[1]} kernels compiled again in a new process"


# -- the models: shipped, never stale, checked -------------------------------------------------


def test_shipped_models_match_their_manifest_and_weights():
    from sarfeat.training.onnx_models import bundled_weights

    manifest = json.loads((ort.BUNDLED_DIR / ort.MANIFEST).read_text())
    weights = bundled_weights()
    assert set(manifest["models"]) == set(weights)
    for name, entry in manifest["models"].items():
        assert entry["weights_hash"] == weights[name].values_hash()
        assert entry["build_version"] == ort.BUILD_VERSION
        assert set(entry["int8_check"]) >= {"fp32", "int8", "passes", "pairs"}
        for precision, item in entry["files"].items():
            content = (ort.BUNDLED_DIR / item["file"]).read_bytes()
            assert hashlib.sha256(content).hexdigest() == item["sha256"]
            assert ort.bundled_model(weights[name], precision) == content


def test_shipped_fp32_models_are_what_the_weights_build():
    """Rebuilt from the .npz weights, each fp32 model has exactly the shipped bytes."""
    pytest.importorskip("onnx")
    from sarfeat.training.onnx_models import bundled_weights

    for weights in bundled_weights().values():
        assert ort.build_model(weights) == ort.bundled_model(weights, "fp32")


def test_shipped_int8_model_is_what_the_recipe_builds(small_weights, tile):
    """The int8 model quantised again gives the shipped model's features."""
    pytest.importorskip("onnx")
    import onnxruntime

    assert ort.seven_bit_weights(small_weights)  # the maps-only network
    rebuilt = ort.quantize(ort.build_model(small_weights), reduce_range=True)
    shipped = ort.bundled_model(small_weights, "int8")
    image = {"gray": np.ascontiguousarray(tile[:96, :128])[None, None]}
    outputs = [onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
               .run(None, image)[0] for model in (rebuilt, shipped)]
    scale = np.abs(outputs[1]).max()
    np.testing.assert_allclose(outputs[0], outputs[1], atol=0.02 * scale)


def test_a_tampered_shipped_model_is_refused(small_weights, tmp_path, monkeypatch):
    copy = tmp_path / "onnx"
    shutil.copytree(ort.BUNDLED_DIR, copy)
    entry = json.loads((copy / ort.MANIFEST).read_text())["models"]["sarfeat-sar-v1-turned-maps"]
    target = copy / entry["files"]["fp32"]["file"]
    content = bytearray(target.read_bytes())
    content[len(content) // 2] ^= 0x10
    target.write_bytes(bytes(content))
    monkeypatch.setattr(ort, "BUNDLED_DIR", copy)
    with pytest.warns(RuntimeWarning, match="does not match its sha256"):
        assert ort.bundled_model(small_weights, "fp32") is None


@needs_torch
def test_onnx_fp32_maps_equal_torch_fp32(sar_weights, tile):
    from sarfeat.runtime.torch import DenseRunner

    expected = DenseRunner(sar_weights, "cpu", "fp32").run(tile)
    got = ort.OnnxRunner(sar_weights, "fp32").run(tile)
    for name in ("features", "reliability", "repeatability"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name),
                                   rtol=1e-4, atol=1e-4)
    rows, cols = np.array([0.0, 10.0, 50.5, 96.0]), np.array([0.0, 129.0, 64.25, 7.0])
    np.testing.assert_allclose(got.descriptors_at(rows, cols),
                               expected.descriptors_at(rows, cols), rtol=1e-4, atol=1e-5)


def test_changed_weights_get_their_own_model(sar_weights, tile):
    changed = _changed(sar_weights)
    assert ort.bundled_model(changed, "fp32") is None
    original = ort.OnnxRunner(sar_weights, "fp32").run(tile).features
    got = ort.OnnxRunner(changed, "fp32").run(tile).features
    assert not np.allclose(got, original, atol=1e-3)


# -- the int8 cache of other weights: keyed, hashed, repaired ------------------------------------


def _cache_files(folder):
    return sorted((folder / "runtime").glob("*-int8.*"))


def test_int8_cache_is_built_once_and_says_so(small_weights, tmp_path, capfd):
    changed = _changed(small_weights)
    first = ort.model_bytes(changed, "int8")
    assert "building the int8 ONNX model" in capfd.readouterr().err
    assert [path.suffix for path in _cache_files(tmp_path / "cache")] == [".onnx", ".sha256"]
    assert ort.model_bytes(changed, "int8") == first
    assert capfd.readouterr().err == ""  # from the cache: no build, nothing said


@pytest.mark.parametrize("damage", ["truncated", "planted", "bad-digest"])
def test_a_damaged_or_planted_cached_model_is_rebuilt(small_weights, tmp_path, damage):
    changed = _changed(small_weights)
    good = ort.model_bytes(changed, "int8")
    model, digest = _cache_files(tmp_path / "cache")
    if damage == "truncated":
        model.write_bytes(good[: len(good) // 2])
    elif damage == "planted":  # another valid model at the predictable path
        model.write_bytes(ort.build_model(changed))
    else:
        digest.write_text("not a digest")
    assert ort.model_bytes(changed, "int8") == good
    assert model.read_bytes() == good


def test_a_cache_folder_that_is_a_file_is_bypassed(small_weights, tmp_path, monkeypatch):
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ort.CACHE_ENV, str(blocker))
    with pytest.warns(RuntimeWarning, match="cannot cache"):
        model = ort.model_bytes(_changed(small_weights), "int8")
    assert len(model) > 1000


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="RLIMIT_FSIZE: POSIX")
def test_a_cache_write_that_fails_leaves_no_file_and_the_cache_usable(small_weights, tmp_path,
                                                                      monkeypatch):
    import resource

    model = b"int8 model " * 400  # 4.4 kB; quantising is not what is tested
    monkeypatch.setattr(ort, "quantize", lambda *args: model)
    changed, folder = _changed(small_weights), tmp_path / "cache" / "runtime"
    folder.mkdir(parents=True)
    ignored = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not the signal
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))  # writes past 1 kB fail
    try:
        with pytest.warns(RuntimeWarning, match="cannot cache the int8 model"):
            assert ort.model_bytes(changed, "int8") == model
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, ignored)
    assert list(folder.iterdir()) == []  # no temporary file, no half model
    assert ort.model_bytes(changed, "int8") == model  # cached this time
    monkeypatch.setattr(ort, "quantize", lambda *args: pytest.fail("built again"))
    assert ort.model_bytes(changed, "int8") == model
    assert [path.suffix for path in _cache_files(tmp_path / "cache")] == [".onnx", ".sha256"]


def test_quantisation_leaves_the_root_logger_alone(small_weights, caplog):
    root = logging.getLogger()
    level, filters = root.level, list(root.filters)
    ort.quantize(ort.build_model(small_weights))
    assert root.level == level and root.filters == filters
    with caplog.at_level(logging.WARNING):
        logging.warning("the user's own record")
    assert "the user's own record" in caplog.text


# -- torch bf16 ----------------------------------------------------------------------------------


@needs_torch
@pytest.mark.parametrize("shape", [(1, 256), (8, 8), (16, 512), (64, 300)])
def test_bf16_on_thin_tiles_runs_in_fp32(sar_weights, shape):
    """oneDNN's bf16 dilated convolutions crash on maps of a few rows: such tiles run fp32."""
    from sarfeat.runtime.torch import DenseRunner

    gray = np.random.default_rng(0).random(shape, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = DenseRunner(sar_weights, "cpu", "bf16").run(gray)
    expected = DenseRunner(sar_weights, "cpu", "fp32").run(gray)
    np.testing.assert_array_equal(got.reliability, expected.reliability)


def test_the_callers_thread_settings_are_left_alone():
    """A detection changes neither torch's nor numba's thread count (sarfeat.parallel's
    one-thread workers rely on it)."""
    numba = pytest.importorskip("numba")
    torch = sys.modules.get("torch") if choice.torch_available() else None
    if torch is None and choice.torch_available():
        import torch
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    if torch is not None:
        torch_before = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        image = load_sar_scene("labrador")[:320, :320, 0]
        for upright in (False, True):
            SARR2D2Detector(upright=upright).detect_and_extract(image)
        assert numba.get_num_threads() == 1
        assert torch is None or torch.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)


def test_a_small_pair_is_registered_without_loading_numba():
    """Loading numba costs about 0.45 s in a new process, more than its kernels save on a
    small pair: the example pair registers on the numpy twins (the same bits for the
    detector) and numba is not imported; a large image loads it (the scene tiled 2 x 2: the
    least work that loads it, 512 x 512 pixels)."""
    pytest.importorskip("numba")
    script = (
        "import sys, numpy as np; from sarfeat import register, SARR2D2Detector; "
        "from sarfeat.data import load_sar_scene; "
        "scene = load_sar_scene('labrador'); "
        "register(scene[..., 0], scene[..., 1]); "
        "small = 'numba' in sys.modules; "
        "from sarfeat.runtime.kernels import MIN_COMPILED_WORK; "
        "large = np.tile(scene[..., 0], (2, 2)); "
        "assert large.size >= MIN_COMPILED_WORK, 'the tiled scene must be large'; "
        "SARR2D2Detector(upright=True).detect(large); "
        "print(small, 'numba' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "True"], done.stdout



def test_numba_threads_start_with_sleeping_workers_and_leave_the_environment_alone():
    """start_sleeping_threads starts numba's threads with OMP_WAIT_POLICY=PASSIVE and
    restores the environment after (later processes see the user's); a
    policy the user set stands."""
    import os

    pytest.importorskip("numba")
    script = ("import os; from sarfeat.runtime.kernels import start_sleeping_threads as start; "
              "start(); start(); import numba; from numba.np.ufunc import parallel; "
              "print(os.environ.get('OMP_WAIT_POLICY'), numba.threading_layer() != '', "
              "parallel._is_initialized)")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    for policy, expected in ((None, "None"), ("ACTIVE", "ACTIVE")):
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=env, check=True)
        assert result.stdout.split() == [expected, "True", "True"], result.stdout


def test_an_installed_numba_that_does_not_import_leaves_the_numpy_twins(tmp_path):
    """numba often lags NumPy releases and then raises ImportError when imported: a large
    image (the scene tiled 2 x 2, 512 x 512 pixels) is still detected, on the numpy twins
    (the same bits), with one warning."""
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('Numba needs an older NumPy')\n")
    script = (
        "import warnings, numpy as np; from sarfeat import SARR2D2Detector; "
        "from sarfeat.data import load_sar_scene; "
        "from sarfeat.runtime.kernels import MIN_COMPILED_WORK; "
        "image = np.tile(load_sar_scene('labrador')[..., 0], (2, 2)); "
        "assert image.size >= MIN_COMPILED_WORK, 'the tiled scene must be large'; "
        "warnings.simplefilter('always'); "
        "SARR2D2Detector(upright=True).detect(image)"
    )
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("numba is installed but cannot be imported") == 1, done.stderr
