"""The network on ONNX Runtime: a model built from the weights, fp32 or int8, cached.

The graph is written from the folded network's tensors with ``onnx.helper``
(no tracing): the ImageNet normalisation and the trunk, up to the
low-resolution features (channels last). The two heads are evaluated from
those features by :func:`sarfeat._inference.maps_from_features` (one
compiled pass with numba, else torch strips): in the graph they cost more
than the int8 trunk, because every neighbour product was a full-size copy.

int8 is ONNX Runtime's static quantisation (QDQ, per-channel int8 weights,
uint8 activations) of the whole trunk, calibrated on the open
Sentinel-1 Labrador scene bundled with sarfeat.

Built models are cached on disk under a key made of a hash of the weights'
values, so a cached model can never belong to other weights. The folder is
``$SARFEAT_CACHE_DIR/runtime`` or, by default, sarfeat's pooch cache.

This module needs the optional packages ``onnxruntime`` and ``onnx``
(``pip install sarfeat[fast]``); :func:`onnxruntime_available` says whether
they import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._inference import DenseMaps, head_projection, maps_from_features
from .network import IMAGENET_MEAN, IMAGENET_STD, R2D2Net, fold_batchnorm

__all__ = ["OnnxRunner", "onnxruntime_available", "weights_hash", "cache_dir", "model_path"]

#: Bump when the graph or the quantisation recipe changes: old cache files are then ignored.
BUILD_VERSION = 3
OPSET = 17
CACHE_ENV = "SARFEAT_CACHE_DIR"
ONNX_PRECISIONS = ("fp32", "int8")


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` and ``onnx`` can be imported (the ``fast`` extra)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def weights_hash(net: R2D2Net) -> str:
    """sha256 of the architecture and of every tensor of ``net``'s state (names, shapes, values)."""
    digest = hashlib.sha256(net.architecture.encode())
    for name, tensor in sorted(net.state_dict().items()):
        values = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
        digest.update(f"{name}:{tuple(values.shape)}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    """Folder of the built models: ``$SARFEAT_CACHE_DIR/runtime``, else sarfeat's pooch cache."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "runtime"
    import pooch

    return Path(pooch.os_cache("sarfeat")) / "runtime"


def model_path(net: R2D2Net, precision: str) -> Path:
    """Where the model of ``net`` at ``precision`` is cached (it may not exist yet)."""
    import onnxruntime

    key = weights_hash(net)[:24]
    tag = f"ort{onnxruntime.__version__}" if precision == "int8" else ""
    return cache_dir() / f"{net.architecture}-{key}-{precision}{tag}-v{BUILD_VERSION}.onnx"


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


def _trunk(graph: _Graph, folded: R2D2Net, source: str) -> str:
    ops = list(folded.ops)
    if folded.has_pool:
        ops = ops[:-1]  # the final upsampling is folded into the heads
    for index, op in enumerate(ops):
        name = f"trunk{index}"
        if isinstance(op, nn.Conv2d):
            weight = graph.constant(f"{name}_w", op.weight.detach().float().numpy())
            bias = graph.constant(f"{name}_b", op.bias.detach().float().numpy())
            source = graph.node(
                "Conv", [source, weight, bias], name, kernel_shape=list(op.kernel_size),
                dilations=list(op.dilation), pads=list(op.padding) * 2,
                strides=list(op.stride),
            )
        elif isinstance(op, nn.ReLU):
            source = graph.node("Relu", [source], name)
        elif isinstance(op, nn.MaxPool2d):
            source = graph.node("MaxPool", [source], name, kernel_shape=[2, 2], strides=[2, 2])
        else:
            raise TypeError(f"no ONNX form for layer {op!r}")
    return source


def build_model(net: R2D2Net):
    """The fp32 ONNX model of ``net``'s trunk: input ``gray`` (1, 1, H, W) in [0, 1], H and W even.

    Outputs ``features`` (1, H/2, W/2, 128), channels last (the layout in
    which ONNX Runtime computes them, so no transpose is needed). The heads
    are evaluated from them by :func:`sarfeat._inference.maps_from_features`.
    """
    from onnx import TensorProto, checker, helper

    if not net.has_pool:
        raise ValueError("the ONNX runtime supports Fast-R2D2 only; run full R2D2 with torch")
    folded = fold_batchnorm(net).cpu().float()
    graph = _Graph()
    mean = graph.constant("mean", np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1))
    std = graph.constant("std", np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1))
    centred = graph.node("Sub", ["gray", mean], "centred")
    trunk = _trunk(graph, folded, graph.node("Div", [centred, std], "normalized"))
    graph.nodes.append(helper.make_node("Transpose", [trunk], ["features"], name="features",
                                        perm=[0, 2, 3, 1]))
    channels = int(net.layers[-1].out_channels)
    model = helper.make_model(
        helper.make_graph(
            graph.nodes, "sarfeat_fast_r2d2",
            [helper.make_tensor_value_info("gray", TensorProto.FLOAT, [1, 1, "height", "width"])],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                           [1, "half_height", "half_width", channels])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sarfeat",
    )
    model.ir_version = min(model.ir_version, 8)  # readable by older onnxruntime releases
    checker.check_model(model)
    return model


# -- int8 ------------------------------------------------------------------------------------


def calibration_images() -> list[np.ndarray]:
    """(1, 1, H, W) float32 inputs for the int8 calibration: the bundled Labrador scene.

    Both channels (VV, VH), normalised as the detector does, whole and at
    twice the size (smoother texture, like a higher-resolution image).
    """
    from .data import load_sar_scene
    from .preprocess import normalize_sar

    scene = load_sar_scene("labrador")
    images = []
    for channel in range(scene.shape[-1]):
        gray = torch.from_numpy(normalize_sar(scene[..., channel]).image)
        images.append(gray)
        images.append(torch.nn.functional.interpolate(
            gray[None, None], scale_factor=2, mode="bilinear", align_corners=False)[0, 0])
    return [image[None, None].numpy().astype(np.float32) for image in images]


def _quantize(fp32_path: Path, int8_path: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.images = iter(calibration_images())

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"gray": image}

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser's advice on the root logger is not the user's
    try:
        quantize_static(
            str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            # ReLU and max pooling quantised too: the activations then stay uint8 from the
            # first convolution to the last (no dequantise-quantise pair between layers)
            op_types_to_quantize=["Conv", "Relu", "MaxPool"],
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        root.setLevel(level)


def ensure_model(net: R2D2Net, precision: str) -> Path:
    """Path of the cached model of ``net`` at ``precision``, built first when missing."""
    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"onnxruntime runs precision 'fp32' or 'int8', not {precision!r}")
    path = model_path(net, precision)
    if path.is_file():
        return path
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        fp32 = Path(folder) / "fp32.onnx"
        onnx.save(build_model(net), str(fp32))
        built = fp32
        if precision == "int8":
            built = Path(folder) / "int8.onnx"
            _quantize(fp32, built)
        os.replace(built, path)  # atomic: a reader never sees half a file
    _remove_older_builds(path)
    return path


def _remove_older_builds(path: Path) -> None:
    """Delete the cached models of the same weights and precision from older graph versions."""
    stem = path.name.rsplit("-v", 1)[0]
    for old in path.parent.glob(f"{stem}-v*.onnx"):
        version = old.name[len(stem) + 2:-len(".onnx")]
        if version.isdigit() and int(version) < BUILD_VERSION:
            try:
                old.unlink()
            except OSError:
                pass  # another process may hold or have removed it


# -- the runner ------------------------------------------------------------------------------


class OnnxRunner:
    """Evaluates Fast-R2D2 on gray tiles with ONNX Runtime, on the CPU.

    Same interface as :class:`sarfeat._inference.DenseRunner`.

    Parameters
    ----------
    net : R2D2Net
        Trained Fast-R2D2 (left untouched).
    precision : {'fp32', 'int8'}
    threads : int, optional
        Intra-op threads; by default torch's (``torch.get_num_threads()``).
    """

    runtime = "onnxruntime"

    def __init__(self, net: R2D2Net, precision: str, threads: int | None = None) -> None:
        import onnxruntime

        self.device = torch.device("cpu")
        self.precision = precision
        self.stride = 2
        self.halo = net.receptive_radius + net.receptive_radius % 2
        self.path = ensure_model(net, precision)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle worker threads sleep instead of spinning: between runs the Python side (peaks,
        # descriptors, matching) needs the cores (measured on 2 cores: 4 % less wall time,
        # 20 % less CPU time over the development pairs)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"])
        self.head_weight, self.head_bias = head_projection(fold_batchnorm(net).cpu())

    def run(self, gray: torch.Tensor) -> DenseMaps:
        """Maps of one (H, W) float32 gray tile with values in [0, 1]."""
        height, width = gray.shape
        image = gray.detach().to("cpu", torch.float32).numpy()
        if height % 2 or width % 2:
            image = np.pad(image, ((0, height % 2), (0, width % 2)), mode="edge")
        (features,) = self.session.run(["features"], {"gray": np.ascontiguousarray(image)[None, None]})
        features = torch.from_numpy(features[0]).permute(2, 0, 1)  # (C, h, w), channels last
        return maps_from_features(features, self.stride, self.head_weight, self.head_bias,
                                  height, width)
