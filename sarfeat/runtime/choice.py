"""Which runtime and precision run the network: forced by the user, or the fastest measured.

On the CPU the candidates are torch fp32, torch bf16 (where the CPU does bf16
natively), and, when the optional ``onnxruntime`` is installed (``pip install
sarfeat[fast]``), ONNX Runtime fp32 and int8. Which one is fastest depends on
the CPU far more than its flags say (bf16 autocast is the slowest of all on
some AVX-512 BF16 Xeons), so ``'auto'`` times the allowed candidates once on a
small image and keeps the fastest. The choice is remembered for the process
and on disk (beside the built models, keyed by the CPU, the library versions,
the thread count and the architecture), so a later process does not measure
again. On a GPU, torch runs (bf16 where the GPU supports it).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ._inference import PRECISIONS, DenseRunner, native_bf16
from . import _fused_heads as fused_heads
from ._onnx import BUILD_VERSION, OnnxRunner, cache_dir, onnxruntime_available
from .network import R2D2Net

__all__ = [
    "RUNTIMES", "PRECISIONS", "check_choice", "candidates", "make_runner", "measure", "cpu_name",
]

RUNTIMES = ("auto", "torch", "onnxruntime")
#: Side of the image the candidates are timed on: about a pyramid level of a 1000 px image.
#: (At 384 px the per-call overheads decide: the lite network's int8 lost to torch fp32
#: there and won by 2x on whole images.)
PROBE_SIZE = 768
_INSTALL_HINT = "install the optional ONNX Runtime support with: pip install 'sarfeat[fast]'"

_choices: dict[str, tuple[str, str]] = {}  # this process's measured choices


def check_choice(runtime: str, precision: str) -> None:
    """Raise ValueError, listing the choices, for an unknown runtime or precision."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {RUNTIMES}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")


def candidates(net: R2D2Net, device: torch.device, runtime: str = "auto",
               precision: str = "auto") -> list[tuple[str, str]]:
    """The (runtime, precision) pairs allowed by the user's choice, on ``device``.

    Raises
    ------
    ValueError
        For an unknown value or a combination that cannot run (bf16 on ONNX
        Runtime, int8 on torch, ONNX Runtime on a GPU or for full R2D2).
    ImportError
        When ONNX Runtime is required (forced, or by int8) but not installed.
    """
    check_choice(runtime, precision)
    if precision == "int8" and runtime == "torch":
        raise ValueError("precision='int8' runs on runtime='onnxruntime' only")
    if precision == "bf16" and runtime == "onnxruntime":
        raise ValueError("runtime='onnxruntime' runs precision 'fp32' or 'int8', not 'bf16'")
    needs_onnx = runtime == "onnxruntime" or precision == "int8"
    if needs_onnx and device.type != "cpu":
        raise ValueError(f"ONNX Runtime (runtime='onnxruntime', precision='int8') runs on the "
                         f"CPU only, not on device {device.type!r}; use runtime='torch'")
    if needs_onnx and not net.has_pool:
        raise ValueError("ONNX Runtime supports Fast-R2D2 only; run this network with torch")
    if needs_onnx and not onnxruntime_available():
        raise ImportError(f"runtime='onnxruntime' and precision='int8' need onnxruntime and "
                          f"onnx; {_INSTALL_HINT}")
    torch_precisions = ["fp32"]
    if precision == "bf16" or native_bf16(device):
        torch_precisions.append("bf16")
    options = [("torch", p) for p in torch_precisions]
    if device.type == "cpu" and net.has_pool and onnxruntime_available():
        options += [("onnxruntime", "fp32"), ("onnxruntime", "int8")]
    chosen = [
        (r, p) for r, p in options
        if runtime in ("auto", r) and precision in ("auto", p)
    ]
    if device.type != "cpu" and precision == "auto":
        chosen = [("torch", "bf16" if native_bf16(device) else "fp32")]  # GPUs: no measurement
    return chosen


def _build(net: R2D2Net, device: torch.device, runtime: str, precision: str):
    if runtime == "onnxruntime":
        return OnnxRunner(net, precision)
    return DenseRunner(net, device, precision)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _choice_key(net: R2D2Net, options: list[tuple[str, str]]) -> str:
    versions = [f"torch{torch.__version__}"]
    if onnxruntime_available():
        import onnxruntime

        versions.append(f"ort{onnxruntime.__version__}-build{BUILD_VERSION}")
    if fused_heads.available():
        versions.append("numba-heads")
    return "|".join([cpu_name(), *versions, f"threads{torch.get_num_threads()}",
                     f"probe{PROBE_SIZE}", net.architecture,
                     ",".join(f"{r}:{p}" for r, p in options)])


def _disk_choices() -> Path:
    return cache_dir() / "measured_choices.json"


def _remembered(key: str) -> tuple[str, str] | None:
    if key in _choices:
        return _choices[key]
    try:
        entry = json.loads(_disk_choices().read_text()).get(key)
    except (OSError, ValueError):
        return None
    if entry is None:
        return None
    _choices[key] = tuple(entry["choice"])
    return _choices[key]


def _remember(key: str, choice: tuple[str, str], times: dict[str, float]) -> None:
    _choices[key] = choice
    path = _disk_choices()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            table = json.loads(path.read_text())
        except (OSError, ValueError):
            table = {}
        table[key] = {"choice": list(choice), "seconds": times}
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(table, indent=1))
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only cache only costs a measurement per process


def measure(runners: dict[tuple[str, str], object], repeats: int = 2) -> dict[tuple[str, str], float]:
    """Best wall time of each runner on a PROBE_SIZE² textured image, after a warm-up run."""
    rng = np.random.default_rng(0)
    probe = torch.from_numpy(rng.random((PROBE_SIZE, PROBE_SIZE), dtype=np.float32))
    times = {}
    for runner in runners.values():
        runner.run(probe)
    for option, runner in runners.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            runner.run(probe)
            best = min(best, time.perf_counter() - start)
        times[option] = best
    return times


def make_runner(net: R2D2Net, device: torch.device, runtime: str = "auto",
                precision: str = "auto"):
    """A runner (``.run(gray) -> DenseMaps``) for ``net``: the one asked for, or the fastest.

    Its ``runtime`` and ``precision`` attributes say what was chosen.
    """
    options = candidates(net, device, runtime, precision)
    if len(options) == 1:
        return _build(net, device, *options[0])
    key = _choice_key(net, options)
    choice = _remembered(key)
    if choice is not None and tuple(choice) in options:
        return _build(net, device, *choice)
    runners = {option: _build(net, device, *option) for option in options}
    times = measure(runners)
    choice = min(times, key=times.get)
    _remember(key, choice, {f"{r}:{p}": t for (r, p), t in times.items()})
    return runners[choice]
