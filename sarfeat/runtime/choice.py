"""Which runtime and precision run the network: by a fixed rule, never by timing.

The rule (:func:`plan`), the same on every install and in every process:

- on the CPU, Fast-R2D2 networks run on ONNX Runtime, a plain dependency.
  Weights that sarfeat does not ship need the ``onnx`` package to build
  their model (``sarfeat[fast]``); without it they run on torch fp32 when
  torch is installed. ``precision='auto'`` is int8 only for weights whose int8 model passed the
  stored accuracy check (:func:`sarfeat.training.onnx_models.int8_check`,
  run when the bundled models were built and kept in their manifest), fp32
  otherwise. Other
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
from typing import TYPE_CHECKING

from ..architecture import NetworkWeights
from .maps import PRECISIONS
from .onnx import OnnxRunner, bundled_entry, onnxruntime_available

if TYPE_CHECKING:
    import torch

    from .torch import DenseRunner

__all__ = ["PRECISIONS", "RUNTIMES", "check_choice", "make_runner", "plan", "resolve_device",
           "torch_available"]

RUNTIMES = ("auto", "torch", "onnxruntime")
_TORCH_HINT = "install torch with: pip install 'sarfeat[train]' (CPU) or 'sarfeat[gpu]'"


def torch_available() -> bool:
    """Whether torch can be imported (without importing it).

    Returns
    -------
    bool
    """
    return importlib.util.find_spec("torch") is not None


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` says."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_choice(runtime: str, precision: str) -> None:
    """Raise ValueError, listing the choices, for an unknown runtime or precision.

    Parameters
    ----------
    runtime : str
        One of ``RUNTIMES``.
    precision : str
        One of :data:`sarfeat.runtime.PRECISIONS`.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")


def _gpu_driver_present() -> bool:
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()


def resolve_device(device: str | torch.device | None) -> str:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` for a ``device`` argument.

    Parameters
    ----------
    device : str, torch.device or None
        ``'auto'`` (or None) is cuda when torch is installed and sees a GPU, else
        cpu; torch is imported only where a GPU driver is present.

    Returns
    -------
    str

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

    Parameters
    ----------
    weights : NetworkWeights
        The network.
    device : str
        As :func:`resolve_device` gives it.
    runtime : {'auto', 'torch', 'onnxruntime'}
        The runtime asked for.
    precision : {'auto', 'fp32', 'bf16', 'int8'}
        The precision asked for.

    Returns
    -------
    tuple of str
        The runtime and precision chosen.

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
        other = ("" if precision == "int8"
                 else ", or runtime='torch' to run on the GPU")  # int8 never runs on torch
        raise ValueError(f"ONNX Runtime (runtime='onnxruntime', precision='int8') runs on the "
                         f"CPU only, not on device {device!r}; use device='cpu'{other}")
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
    if bundled_entry(weights) is None and importlib.util.find_spec("onnx") is None:
        # weights sarfeat does not ship: their model is built, which needs the onnx package
        if runtime == "auto" and precision in ("auto", "fp32") and torch_available():
            return "torch", "fp32"
        raise ImportError("running weights that sarfeat does not ship on ONNX Runtime builds "
                          "their model, which needs onnx: pip install 'sarfeat[fast]'")
    if precision == "auto":
        precision = "int8" if _verified_int8(weights) else "fp32"
    return "onnxruntime", precision


def make_runner(weights: NetworkWeights, device: str = "cpu", runtime: str = "auto",
                precision: str = "auto") -> OnnxRunner | DenseRunner:
    """A runner (``.run(gray) -> DenseMaps``) for ``weights``, as :func:`plan` says.

    Parameters
    ----------
    weights, device, runtime, precision : NetworkWeights or str
        As for :func:`plan`.

    Returns
    -------
    OnnxRunner or DenseRunner
        Its ``runtime`` and ``precision`` attributes say what was chosen.
    """
    chosen_runtime, chosen_precision = plan(weights, device, runtime, precision)
    if chosen_runtime == "onnxruntime":
        return OnnxRunner(weights, chosen_precision)
    from .torch import DenseRunner

    return DenseRunner(weights, device, chosen_precision)
