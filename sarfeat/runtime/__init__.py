"""How a network runs: the choice of runtime and precision, ONNX Runtime, torch, kernels.

- :mod:`sarfeat.runtime.choice`: which runtime and precision, by a fixed rule;
- ``sarfeat.runtime.onnx``: ONNX Runtime (the CPU default), its shipped and built models;
- ``sarfeat.runtime.torch``: torch (optional: GPUs, bf16, full R2D2);
- ``sarfeat.runtime.maps``: tiles and the maps every runtime returns (numpy);
- ``sarfeat.runtime.kernels``: numba kernels (optional, ``sarfeat[fast]``) with numpy twins.

A new runtime is one new module with a runner class (``run(gray) -> DenseMaps``,
``halo``, ``device``, ``runtime``, ``precision``) and one branch in
:func:`sarfeat.runtime.choice.plan`.
"""

from .choice import PRECISIONS, RUNTIMES, make_runner, plan, resolve_device
from .maps import DenseMaps, Tile, tile_grid

__all__ = ["DenseMaps", "PRECISIONS", "RUNTIMES", "Tile", "make_runner", "plan",
           "resolve_device", "tile_grid"]
