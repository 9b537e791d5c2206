"""Which runtime and precision run the network: by a fixed rule, never by timing.

The rule (:func:`plan`), the same on every install and in every process:

- on the CPU, Fast-R2D2 networks run on ONNX Runtime, a plain dependency.
  ``precision='auto'`` is int8 only for weights whose int8 model passed the
  stored accuracy check (:func:`precision_check`, run when the bundled
  models were built and kept in their manifest), fp32 otherwise. Other
  weights get int8 only when asked for (``precision='int8'``);
- torch runs when asked for (``runtime='torch'``, ``precision='bf16'``), for
  full R2D2 (which ONNX Runtime does not run here) and on a GPU (bf16 where
  the GPU supports it). torch is an optional extra (``sarfeat[train]``,
  ``sarfeat[gpu]``).

No runtime is timed, and nothing is chosen from what a previous process
measured: the keypoints of an image are the same in every process of an
install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..architecture import NetworkWeights
from .maps import PRECISIONS, DenseMaps
from .onnx import OnnxRunner, bundled_entry, onnxruntime_available

__all__ = ["INT8_AGREEMENT", "PRECISIONS", "RUNTIMES", "check_choice", "make_runner", "plan",
           "precision_check", "resolve_device", "torch_available"]

RUNTIMES = ("auto", "torch", "onnxruntime")
#: Smallest share of the fp32 model's keypoints that an int8 model must find again (within
#: one pixel) on the check images for ``precision='auto'`` to choose it.
INT8_AGREEMENT = 0.85
#: Smallest mean cosine between int8 and fp32 descriptors at those keypoints.
INT8_DESCRIPTOR_COSINE = 0.97
_TORCH_HINT = "install torch with: pip install 'sarfeat[train]' (CPU) or 'sarfeat[gpu]'"


def torch_available() -> bool:
    """Whether torch can be imported (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def check_choice(runtime: str, precision: str) -> None:
    """Raise ValueError, listing the choices, for an unknown runtime or precision."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")


def _gpu_driver_present() -> bool:
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()


def resolve_device(device) -> str:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` for a ``device`` argument (str, torch.device, None).

    ``'auto'`` (or None) is cuda when torch is installed and sees a GPU, else
    cpu; torch is imported only where a GPU driver is present.

    Raises
    ------
    ValueError
        For cuda when no GPU is usable.
    ImportError
        For cuda without torch (the message names the extra).
    """
    if device is None or device == "auto":
        if torch_available() and _gpu_driver_present():
            import torch

            if torch.cuda.is_available():
                return "cuda"
        return "cpu"
    name = str(device)
    if name == "cpu":
        return name
    if not torch_available():
        raise ImportError(f"device={name!r} runs the network on torch; {_TORCH_HINT}")
    from .torch import resolve_device as torch_device

    return str(torch_device(name))


def _verified_int8(weights: NetworkWeights) -> bool:
    entry = bundled_entry(weights)
    return bool(entry and entry.get("int8_check", {}).get("passes"))


def plan(weights: NetworkWeights, device: str, runtime: str = "auto",
         precision: str = "auto") -> tuple[str, str]:
    """The (runtime, precision) that runs ``weights`` on ``device``, by the module's rule.

    Raises
    ------
    ValueError
        For an unknown value or a combination that cannot run (bf16 on ONNX
        Runtime, int8 on torch, ONNX Runtime on a GPU or for full R2D2).
    ImportError
        When the runtime needed is not installed (the message names the extra).
    """
    check_choice(runtime, precision)
    gpu = device != "cpu"
    if precision == "int8" and runtime == "torch":
        raise ValueError("precision='int8' runs on runtime='onnxruntime' only")
    if precision == "bf16" and runtime == "onnxruntime":
        raise ValueError("runtime='onnxruntime' runs precision 'fp32' or 'int8', not 'bf16'")
    wants_onnx = runtime == "onnxruntime" or precision == "int8"
    if wants_onnx and gpu:
        raise ValueError(f"ONNX Runtime (runtime='onnxruntime', precision='int8') runs on the "
                         f"CPU only, not on device {device!r}; use runtime='torch'")
    if wants_onnx and not weights.has_pool:
        raise ValueError("ONNX Runtime supports Fast-R2D2 only; run this network with torch")
    use_torch = runtime == "torch" or precision == "bf16" or gpu or not weights.has_pool
    if use_torch:
        if not torch_available():
            why = "full R2D2 runs" if not weights.has_pool else "this choice runs"
            raise ImportError(f"{why} on torch; {_TORCH_HINT}")
        if precision == "auto":
            from .torch import native_bf16

            precision = "bf16" if gpu and native_bf16(device) else "fp32"
        return "torch", precision
    if not onnxruntime_available():
        raise ImportError("sarfeat's CPU runtime needs onnxruntime: pip install onnxruntime")
    if precision == "auto":
        precision = "int8" if _verified_int8(weights) else "fp32"
    return "onnxruntime", precision


def make_runner(weights: NetworkWeights, device: str = "cpu", runtime: str = "auto",
                precision: str = "auto"):
    """A runner (``.run(gray) -> DenseMaps``) for ``weights``, as :func:`plan` says.

    Its ``runtime`` and ``precision`` attributes say what was chosen.
    """
    chosen_runtime, chosen_precision = plan(weights, device, runtime, precision)
    if chosen_runtime == "onnxruntime":
        return OnnxRunner(weights, chosen_precision)
    from .torch import DenseRunner

    return DenseRunner(weights, device, chosen_precision)


# -- the accuracy check -----------------------------------------------------------------------


def _check_images() -> list[np.ndarray]:
    """Images of the accuracy check: scikit-image's camera and a crop of the Labrador scene."""
    from skimage import data as skimage_data

    from ..data import load_sar_scene
    from ..preprocess import normalize_sar

    camera = skimage_data.camera().astype(np.float32) / 255.0
    scene = load_sar_scene("labrador")[..., 1]  # VH: the calibration also saw it, at two sizes
    crop = normalize_sar(scene[:512, :512]).image.astype(np.float32)
    return [camera, crop]


def _peaks(maps: DenseMaps, threshold: float, count: int = 500) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    repeatability, reliability = maps.repeatability, maps.reliability
    local_max = ndimage.maximum_filter(repeatability, size=3, mode="nearest")
    found = (repeatability == local_max) & (repeatability >= threshold) & \
        (reliability >= threshold)
    found[:12], found[-12:], found[:, :12], found[:, -12:] = False, False, False, False
    rows, cols = np.nonzero(found)
    order = np.argsort(-(repeatability * reliability)[rows, cols], kind="stable")[:count]
    return rows[order], cols[order]


def precision_check(weights: NetworkWeights, precision: str = "int8") -> dict:
    """Whether ``weights`` at ``precision`` on ONNX Runtime keeps the fp32 model's answer.

    On :func:`_check_images`, the fp32 model's best 500 peaks (at threshold
    0.5) are looked for in the other model's peaks, one pixel apart at most;
    for networks with descriptors, the descriptors at those peaks are
    compared too.

    Returns
    -------
    dict
        ``agreement`` (share of peaks found again), ``cosine`` (mean
        descriptor cosine, None for keypoint-only networks) and ``passes``.
    """
    from scipy import ndimage

    from ..weights import gives_turned_maps

    reference, candidate = OnnxRunner(weights, "fp32"), OnnxRunner(weights, precision)
    found = total = 0
    cosines = []
    for image in _check_images():
        expected, got = reference.run(image), candidate.run(image)
        rows, cols = _peaks(expected, 0.5)
        other_rows, other_cols = _peaks(got, 0.5, count=10 ** 6)
        near = np.zeros(image.shape, bool)
        near[other_rows, other_cols] = True
        near = ndimage.binary_dilation(near, np.ones((3, 3), bool))
        found += int(near[rows, cols].sum())
        total += len(rows)
        if not gives_turned_maps(weights):
            cosines.append(np.sum(expected.descriptors_at(rows, cols)
                                  * got.descriptors_at(rows, cols), axis=1))
    agreement = found / max(total, 1)
    cosine = float(np.concatenate(cosines).mean()) if cosines else None
    passes = agreement >= INT8_AGREEMENT and (cosine is None or cosine >= INT8_DESCRIPTOR_COSINE)
    return {"agreement": round(agreement, 4),
            "cosine": None if cosine is None else round(cosine, 4), "passes": bool(passes)}
