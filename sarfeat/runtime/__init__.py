"""How a network runs: the choice of runtime and precision, ONNX Runtime, torch, kernels.

- :mod:`sarfeat.runtime.choice`: which runtime and precision, by a fixed rule;
- :mod:`sarfeat.runtime.onnx`: ONNX Runtime (the CPU default), its shipped and built models;
- :mod:`sarfeat.runtime.torch`: torch (optional: GPUs, bf16, full R2D2);
- :mod:`sarfeat.runtime.maps`: tiles and the maps every runtime returns (numpy);
- :mod:`sarfeat.runtime.kernels`: numba kernels (optional, ``sarfeat[fast]``) with numpy twins.

A new runtime is one new module with a runner class (``run(gray) -> DenseMaps``,
``halo``, ``device``, ``runtime``, ``precision``) and one branch in
:func:`sarfeat.runtime.choice.plan`.
"""

from .choice import PRECISIONS, RUNTIMES, make_runner, plan, resolve_device
from .maps import DenseMaps, Tile, tile_grid

__all__ = ["DenseMaps", "PRECISIONS", "RUNTIMES", "Tile", "make_runner", "plan",
           "resolve_device", "tile_grid"]
