"""The network on ONNX Runtime: a model built from the weights, fp32 or int8, cached.

The graph is written from the folded network's tensors with ``onnx.helper``
(no tracing): the ImageNet normalisation, the trunk, and the two heads in the
low-resolution form of :func:`sarfeat._inference.quadratic_upsampling_kernels`
(the 128-channel map is never upsampled). It returns the low-resolution
features, from which descriptors are sampled at the keypoints, and the
reliability and repeatability maps at full resolution.

int8 is ONNX Runtime's static quantisation (QDQ, per-channel int8 weights,
uint8 activations) of the trunk's convolutions, calibrated on the open
Sentinel-1 Labrador scene bundled with sarfeat; the heads stay fp32.

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

from ._inference import (
    DenseMaps, head_projection, quadratic_upsampling_kernels,
)
from .network import IMAGENET_MEAN, IMAGENET_STD, R2D2Net, fold_batchnorm

__all__ = ["OnnxRunner", "onnxruntime_available", "weights_hash", "cache_dir", "model_path"]

#: Bump when the graph or the quantisation recipe changes: old cache files are then ignored.
BUILD_VERSION = 2
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


_END = np.iinfo(np.int64).max
#: (name, rows, cols) of the two factors of each neighbour product, as slices of the padded map
_PRODUCTS = {
    "square": ((0, _END, 0, _END), (0, _END, 0, _END)),
    "horizontal": ((0, _END, 0, -1), (0, _END, 1, _END)),
    "vertical": ((0, -1, 0, _END), (1, _END, 0, _END)),
    "diagonal": ((0, -1, 0, -1), (1, _END, 1, _END)),
    "antidiagonal": ((0, -1, 1, _END), (1, _END, 0, -1)),
}


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
            )
        elif isinstance(op, nn.ReLU):
            source = graph.node("Relu", [source], name)
        elif isinstance(op, nn.MaxPool2d):
            source = graph.node("MaxPool", [source], name, kernel_shape=[2, 2], strides=[2, 2])
        else:
            raise TypeError(f"no ONNX form for layer {op!r}")
    return source


def _heads(graph: _Graph, features: str, weight: np.ndarray, bias: np.ndarray) -> str:
    """Logits of the heads at twice the features' resolution (see the module docstring)."""
    heads = weight.shape[0]
    padded = graph.node("Pad", [features, graph.constant(
        "head_pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))], "head_padded", mode="edge")
    projection = graph.constant("head_projection", weight[:, :, None, None].astype(np.float32))
    terms = []
    for term, kernel in quadratic_upsampling_kernels().items():
        factors = [
            graph.slice(padded, f"head_{term}_{i}", [r0, c0], [r1, c1], [2, 3])
            for i, (r0, r1, c0, c1) in enumerate(_PRODUCTS[term])
        ]
        product = graph.node("Mul", factors, f"head_{term}_product")
        projected = graph.node("Conv", [product, projection], f"head_{term}_projected")
        combine = [projected, graph.constant(f"head_{term}_kernel", np.tile(kernel, (heads, 1, 1, 1)))]
        if term == "square":
            combine.append(graph.constant("head_bias", np.repeat(bias, 4).astype(np.float32)))
        terms.append(graph.node("Conv", combine, f"head_{term}", group=heads,
                                kernel_shape=list(kernel.shape[-2:])))
    blocks = graph.node("Sum", terms, "head_blocks")
    full = graph.node("DepthToSpace", [blocks], "head_full", blocksize=2, mode="CRD")
    return graph.slice(full, "logits", [1, 1], [-1, -1], [2, 3])


def build_model(net: R2D2Net):
    """The fp32 ONNX model of ``net``: input ``gray`` (1, 1, H, W) in [0, 1], H and W even.

    Outputs ``features`` (1, 128, H/2, W/2), ``reliability`` and
    ``repeatability`` (1, 1, H, W), as :class:`sarfeat._inference.DenseMaps`.
    """
    from onnx import TensorProto, checker, helper

    if not net.has_pool:
        raise ValueError("the ONNX runtime supports Fast-R2D2 only; run full R2D2 with torch")
    folded = fold_batchnorm(net).cpu().float()
    graph = _Graph()
    mean = graph.constant("mean", np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1))
    std = graph.constant("std", np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1))
    centred = graph.node("Sub", ["gray", mean], "centred")
    features = _trunk(graph, folded, graph.node("Div", [centred, std], "normalized"))
    graph.nodes.append(helper.make_node("Identity", [features], ["features"], name="features"))
    weight, bias = (tensor.cpu().numpy() for tensor in head_projection(folded))
    logits = _heads(graph, features, weight, bias)
    # reliability = sigmoid(logit 0); repeatability = s / (1 + s) = 1 - 1 / (1 + s),
    # s = softplus(logit 1): the second form stays 1, not NaN, where s overflows
    rel_logit, sal_logit = "rel_logit", "sal_logit"
    graph.nodes.append(helper.make_node("Split", [logits, graph.constant(
        "split", np.array([1, 1], np.int64))], [rel_logit, sal_logit], name="split", axis=1))
    graph.node("Sigmoid", [rel_logit], "reliability")
    one = graph.constant("one", np.array(1, np.float32))
    saliency = graph.node("Softplus", [sal_logit], "saliency")
    inverse = graph.node("Reciprocal", [graph.node("Add", [saliency, one], "saliency_1")], "inverse")
    graph.node("Sub", [one, inverse], "repeatability")
    dims = ["height", "width"]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes, "sarfeat_fast_r2d2",
            [helper.make_tensor_value_info("gray", TensorProto.FLOAT, [1, 1, *dims])],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                           [1, int(weight.shape[1]), "half_height", "half_width"]),
             *(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, *dims])
               for name in ("reliability", "repeatability"))],
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

    import onnx

    model = onnx.load(str(fp32_path))
    heads = [node.name for node in model.graph.node if node.name.startswith("head_")]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser's advice on the root logger is not the user's
    try:
        quantize_static(
            str(fp32_path), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"], nodes_to_exclude=heads,
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
    return path


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
        self.session = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"])

    def run(self, gray: torch.Tensor) -> DenseMaps:
        """Maps of one (H, W) float32 gray tile with values in [0, 1]."""
        height, width = gray.shape
        image = gray.detach().to("cpu", torch.float32).numpy()
        if height % 2 or width % 2:
            image = np.pad(image, ((0, height % 2), (0, width % 2)), mode="edge")
        features, reliability, repeatability = self.session.run(
            ["features", "reliability", "repeatability"],
            {"gray": np.ascontiguousarray(image)[None, None]})
        return DenseMaps(torch.from_numpy(features[0]), self.stride,
                         torch.from_numpy(reliability[0, 0, :height, :width]),
                         torch.from_numpy(repeatability[0, 0, :height, :width]))
