"""The network on ONNX Runtime, fp32 or int8: shipped for sarfeat's weights, built for others.

The graph is written from the network's folded arrays with ``onnx.helper``
(no tracing, no torch): the ImageNet normalisation and the trunk, up to the
low-resolution features (channels last). The two heads are evaluated from
those features by :func:`sarfeat.runtime.maps.maps_from_features`.

int8 is ONNX Runtime's static quantisation (QDQ, per-channel int8 weights, in
7 bits for the maps-only networks, uint8 activations) of the whole trunk,
calibrated on the open Sentinel-1 Labrador scene bundled with sarfeat.

Where the models come from:

- **sarfeat's bundled weights**: both models are shipped in the package
  (``_bundled/weights/onnx``), built once by :func:`write_bundled_models`
  and listed with their sha256 in ``models.json``; a model whose bytes do
  not match is refused. tests/test_runtime.py rebuilds them and compares,
  so they never go stale. Nothing is built or timed at run time.
- **other weights**: the fp32 model is built in memory (milliseconds); an
  int8 model, built only when asked for (``precision='int8'``), takes a
  few seconds once, says so on stderr, and is cached under a key made of
  everything that shapes it (the weights' values, the graph version, the
  calibration images, the quantiser's settings and ONNX Runtime's version),
  beside a file holding its sha256. A cached model that does not match its
  sha256, cannot be read or cannot be loaded is rebuilt; an unusable cache
  folder is bypassed (the model is then built in memory).

The cache folder is ``$SARFEAT_CACHE_DIR/runtime`` or, by default,
sarfeat's pooch cache. Building needs the ``onnx`` package; running needs
``onnxruntime``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..architecture import IMAGENET_MEAN, IMAGENET_STD, NetworkWeights
from ..atomic_files import atomic_path
from .maps import DenseMaps, maps_from_features

__all__ = ["OnnxRunner", "bundled_model", "cache_dir", "model_bytes", "onnxruntime_available",
           "quantize", "seven_bit_weights", "set_threads", "write_bundled_models", "BUILD_VERSION",
           "ONNX_PRECISIONS"]

#: Bump when the graph or the quantisation recipe changes (the bundled models must be rebuilt).
BUILD_VERSION = 4
OPSET = 17
CACHE_ENV = "SARFEAT_CACHE_DIR"
ONNX_PRECISIONS = ("fp32", "int8")
#: The quantiser's settings (part of the cache key).
QUANTIZER_SETTINGS = {"format": "QDQ", "per_channel": True, "activations": "QUInt8",
                      "weights": "QInt8", "ops": ["Conv", "Relu", "MaxPool"],
                      "calibration": "MinMax"}
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "_bundled" / "weights" / "onnx"
MANIFEST = "models.json"


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` can be imported."""
    return importlib.util.find_spec("onnxruntime") is not None


def cache_dir() -> Path:
    """Folder of the built int8 models.

    ``$SARFEAT_CACHE_DIR/runtime`` when that variable is set, else the ``runtime`` folder of
    sarfeat's pooch cache.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "runtime"
    import platformdirs  # pooch's cache folder (pooch.os_cache), without importing pooch

    return Path(platformdirs.user_cache_dir("sarfeat")) / "runtime"


# -- the graph --------------------------------------------------------------------------------


class _Graph:
    """Nodes and initialisers of an ONNX graph being written."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []

    def constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def slice(self, source: str, name: str, starts, ends, axes) -> str:
        return self.node("Slice", [
            source, self.constant(f"{name}_starts", np.array(starts, np.int64)),
            self.constant(f"{name}_ends", np.array(ends, np.int64)),
            self.constant(f"{name}_axes", np.array(axes, np.int64)),
        ], name)


def _trunk(graph: _Graph, weights: NetworkWeights, source: str) -> str:
    for index, (kind, spec, weight, bias) in enumerate(weights.folded_convolutions()):
        name = f"trunk{index}"
        if kind == "conv":
            padding = ((spec.kernel - 1) * spec.dilation) // 2
            source = graph.node(
                "Conv", [source, graph.constant(f"{name}_w", weight),
                         graph.constant(f"{name}_b", bias)], name,
                kernel_shape=[spec.kernel, spec.kernel], dilations=[spec.dilation] * 2,
                pads=[padding] * 4, strides=[spec.stride] * 2,
            )
        elif kind == "relu":
            source = graph.node("Relu", [source], name)
        elif kind == "pool":
            source = graph.node("MaxPool", [source], name, kernel_shape=[2, 2], strides=[2, 2])
        else:
            raise TypeError(f"no ONNX form for layer {kind!r}")
    return source


def build_model(weights: NetworkWeights) -> bytes:
    """The fp32 ONNX model of ``weights``' trunk, serialised (the same bytes on every call).

    Input ``gray`` (1, 1, H, W) in [0, 1], H and W even; output ``features``
    (1, H/2, W/2, C), channels last (the layout in which ONNX Runtime
    computes them, so no transpose is needed).
    """
    from onnx import TensorProto, checker, helper

    if not weights.has_pool:
        raise ValueError("the ONNX runtime supports Fast-R2D2 only; run full R2D2 with torch")
    graph = _Graph()
    mean = graph.constant("mean", np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1))
    std = graph.constant("std", np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1))
    centred = graph.node("Sub", ["gray", mean], "centred")
    trunk = _trunk(graph, weights, graph.node("Div", [centred, std], "normalized"))
    graph.nodes.append(helper.make_node("Transpose", [trunk], ["features"], name="features",
                                        perm=[0, 2, 3, 1]))
    model = helper.make_model(
        helper.make_graph(
            graph.nodes, "sarfeat_fast_r2d2",
            [helper.make_tensor_value_info("gray", TensorProto.FLOAT, [1, 1, "height", "width"])],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                           [1, "half_height", "half_width", weights.out_channels])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sarfeat",
        producer_version=str(BUILD_VERSION),
    )
    model.ir_version = 8  # readable by older onnxruntime releases
    checker.check_model(model)
    return model.SerializeToString(deterministic=True)


# -- int8 ------------------------------------------------------------------------------------


def _double(image: np.ndarray) -> np.ndarray:
    """``image`` at twice its size, bilinear with half-pixel centres (edges repeated)."""
    def axis(size):
        source = np.clip((np.arange(2 * size) + 0.5) / 2 - 0.5, 0, size - 1)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, size - 1), (source - low).astype(np.float32)

    r0, r1, wr = axis(image.shape[0])
    c0, c1, wc = axis(image.shape[1])
    rows = image[r0] * (1 - wr[:, None]) + image[r1] * wr[:, None]
    return (rows[:, c0] * (1 - wc) + rows[:, c1] * wc).astype(np.float32)


def calibration_images() -> list[np.ndarray]:
    """(1, 1, H, W) float32 inputs for the int8 calibration: the bundled Labrador scene.

    Both channels (VV, VH), normalised as the detector does, whole and at
    twice the size (smoother texture, like a higher-resolution image).
    """
    from ..data import load_sar_scene
    from ..preprocess import normalize_sar

    scene = load_sar_scene("labrador")
    images = []
    for channel in range(scene.shape[-1]):
        gray = normalize_sar(scene[..., channel]).image.astype(np.float32)
        images += [gray, _double(gray)]
    return [np.ascontiguousarray(image[None, None]) for image in images]


def _calibration_digest() -> str:
    digest = hashlib.sha256()
    for image in calibration_images():
        digest.update(image.tobytes())
    return digest.hexdigest()


class _QuantizerRecords(logging.Filter):
    """Drops the records that ONNX Runtime's quantiser logs on the root logger, only those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "quantization" not in Path(record.pathname).parts


def seven_bit_weights(weights: NetworkWeights) -> bool:
    """Whether the int8 model of ``weights`` keeps its weights to 7 bits (see :func:`quantize`).

    The networks that give keypoint maps only (the distilled turned maps): with
    8-bit weights their int8 check failed on the machine that first ran it.
    The networks with descriptors keep 8 bits, with which their int8 models were
    checked and the registration figures measured.
    """
    return weights.architecture == "keypoint_maps"


def quantize(fp32: bytes, reduce_range: bool = False) -> bytes:
    """The int8 model (:data:`QUANTIZER_SETTINGS`) of a serialised fp32 model.

    ``reduce_range`` keeps the weights to 7 bits (:func:`seven_bit_weights`).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.images = iter(calibration_images())

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"gray": image}

    quiet = _QuantizerRecords()  # the quantiser's advice is not the user's; other records pass
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        with tempfile.TemporaryDirectory(prefix="sarfeat-int8-") as folder:
            source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
            source.write_bytes(fp32)
            quantize_static(
                str(source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                # ReLU and max pooling quantised too: the activations then stay uint8 from the
                # first convolution to the last (no dequantise-quantise pair between layers)
                op_types_to_quantize=["Conv", "Relu", "MaxPool"],
                calibrate_method=CalibrationMethod.MinMax,
                # 7-bit weights: on x86 CPUs without VNNI, ONNX Runtime multiplies uint8 by
                # int8 in pairs summed into int16, which can saturate with 8-bit weights
                # (2 * 255 * 127 > 32767); with 7 no pair can, so every CPU computes the same
                # integers. The turned-maps model's int8 check (repeatability on pairs i, l,
                # m; fp32 0.545) gave 0.484 with 8-bit weights on the machine that first
                # ran it, 0.522 on an AMD EPYC with VNNI, and 0.537 there with 7-bit weights
                reduce_range=reduce_range,
            )
            return target.read_bytes()
    finally:
        root.removeFilter(quiet)


# -- where a model comes from ----------------------------------------------------------------


def _manifest() -> dict:
    try:
        return json.loads((BUNDLED_DIR / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def bundled_entry(weights: NetworkWeights) -> dict | None:
    """The manifest entry of ``weights`` when sarfeat ships its models, else None."""
    digest = weights.values_hash()
    for entry in _manifest().get("models", {}).values():
        if entry.get("weights_hash") == digest and entry.get("build_version") == BUILD_VERSION:
            return entry
    return None


def bundled_model(weights: NetworkWeights, precision: str) -> bytes | None:
    """The shipped model of ``weights`` at ``precision``, checked against its sha256; else None."""
    entry = bundled_entry(weights)
    if entry is None or precision not in entry.get("files", {}):
        return None
    item = entry["files"][precision]
    try:
        content = (BUNDLED_DIR / item["file"]).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(content).hexdigest() != item["sha256"]:
        warnings.warn(f"sarfeat's shipped model {item['file']} does not match its sha256; "
                      "building the model instead (reinstall sarfeat to repair it)",
                      RuntimeWarning, stacklevel=3)
        return None
    return content


def _cache_key(weights: NetworkWeights) -> str:
    import onnxruntime

    parts = {"weights": weights.values_hash(), "build": BUILD_VERSION,
             "ort": onnxruntime.__version__, "quantizer": QUANTIZER_SETTINGS,
             "seven_bit": seven_bit_weights(weights),
             "calibration": _calibration_digest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _cached_int8(weights: NetworkWeights) -> bytes:
    """The int8 model of weights that sarfeat does not ship: from the checked cache, or built."""
    key = _cache_key(weights)
    folder = cache_dir()
    path = folder / f"{weights.architecture}-{key}-int8.onnx"
    digest_path = path.with_suffix(".sha256")
    try:
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() == digest_path.read_text().strip():
            return content
    except (OSError, ValueError):
        pass  # missing, unreadable, or the folder is not a folder: build
    print(f"sarfeat: building the int8 ONNX model of these weights once (a few seconds; "
          f"cached in {folder})", file=sys.stderr)
    content = quantize(build_model(weights), seven_bit_weights(weights))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # atomic and flushed: a reader never sees half a file, a failed write leaves none
        for target, data in ((path, content),
                             (digest_path, hashlib.sha256(content).hexdigest().encode())):
            with atomic_path(target) as temporary:
                temporary.write_bytes(data)
    except OSError as error:
        warnings.warn(f"sarfeat cannot cache the int8 model in {folder} ({error}); it will be "
                      "built again in the next process", RuntimeWarning, stacklevel=3)
    return content


def model_bytes(weights: NetworkWeights, precision: str) -> bytes:
    """The serialised ONNX model of ``weights`` at ``precision`` ('fp32' or 'int8')."""
    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"onnxruntime runs precision 'fp32' or 'int8', not {precision!r}")
    shipped = bundled_model(weights, precision)
    if shipped is not None:
        return shipped
    if importlib.util.find_spec("onnx") is None:
        raise ImportError("building the ONNX model of weights that sarfeat does not ship needs "
                          "the onnx package: pip install 'sarfeat[fast]'")
    return build_model(weights) if precision == "fp32" else _cached_int8(weights)


def write_bundled_models(entries: dict[str, NetworkWeights], checks: dict[str, dict],
                         folder: Path = BUNDLED_DIR) -> dict:
    """Build and write the shipped models of ``entries`` (name -> weights) and their manifest.

    ``checks`` (name -> result of :func:`sarfeat.training.onnx_models.int8_check`)
    is stored beside each entry: it decides what ``precision='auto'`` may pick.
    """
    import onnxruntime

    folder.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, weights in entries.items():
        files = {}
        fp32 = build_model(weights)
        int8 = quantize(fp32, seven_bit_weights(weights))
        for precision, content in (("fp32", fp32), ("int8", int8)):
            file = f"{name}-{precision}.onnx"
            (folder / file).write_bytes(content)
            files[precision] = {"file": file, "sha256": hashlib.sha256(content).hexdigest()}
        models[name] = {"weights_hash": weights.values_hash(), "build_version": BUILD_VERSION,
                        "architecture": weights.architecture, "files": files,
                        "int8_check": checks[name]}
    manifest = {"onnxruntime": onnxruntime.__version__, "models": models}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


# -- the runner ------------------------------------------------------------------------------


_THREADS: list[int | None] = [None]


def set_threads(threads: int | None) -> None:
    """Intra-op threads of the sessions made from now on (None: the default, see OnnxRunner)."""
    _THREADS[0] = threads


def _default_threads() -> int:
    """:func:`set_threads`'s value, else torch's when the caller loaded torch, else 0 (ORT's)."""
    if _THREADS[0] is not None:
        return _THREADS[0]
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else 0


class OnnxRunner:
    """Evaluates Fast-R2D2 on gray tiles with ONNX Runtime, on the CPU.

    Parameters
    ----------
    weights : NetworkWeights
        Trained Fast-R2D2.
    precision : {'fp32', 'int8'}
    threads : int, optional
        Intra-op threads; by default torch's when the caller imported torch,
        else ONNX Runtime's default (the physical cores).
    """

    runtime = "onnxruntime"

    def __init__(self, weights: NetworkWeights, precision: str, threads: int | None = None) -> None:
        import onnxruntime

        if not weights.has_pool:
            raise ValueError("ONNX Runtime supports Fast-R2D2 only; run this network with torch")
        self.device = "cpu"
        self.precision = precision
        self.stride = 2
        self.halo = weights.receptive_radius + weights.receptive_radius % 2
        model = model_bytes(weights, precision)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads if threads is not None else _default_threads()
        #: intra-op threads asked for (0: ONNX Runtime's default, the physical cores)
        self.threads = options.intra_op_num_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle worker threads sleep instead of spinning: between runs the Python side (peaks,
        # descriptors, matching) needs the cores (measured on 2 cores: 4 % less wall time,
        # 20 % less CPU time over the development pairs)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(model, options,
                                                    providers=["CPUExecutionProvider"])
        self.head_weight, self.head_bias = weights.head_projection()

    def run(self, gray) -> DenseMaps:
        """Maps of one (H, W) float32 gray tile with values in [0, 1]."""
        image = np.asarray(gray, np.float32)
        height, width = image.shape
        if height % 2 or width % 2:
            image = np.pad(image, ((0, height % 2), (0, width % 2)), mode="edge")
        (features,) = self.session.run(["features"],
                                       {"gray": np.ascontiguousarray(image)[None, None]})
        return maps_from_features(features[0], self.stride, self.head_weight, self.head_bias,
                                  height, width)
