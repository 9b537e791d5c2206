"""The ONNX models shipped with sarfeat's weights: how they are built, and their check.

Run ``python -m sarfeat.runtime.bundle`` after changing a bundled network,
the graph (:data:`sarfeat.runtime.onnx.BUILD_VERSION`) or the quantisation
recipe: it rewrites ``sarfeat/_bundled/weights/onnx`` (the models and
``models.json``, which holds their sha256 and the accuracy check of each
int8 model). tests/test_runtime.py rebuilds them and fails when the shipped
files differ, so they cannot go stale unnoticed.
"""

from __future__ import annotations

from ..architecture import NetworkWeights
from ..data import LITE_WEIGHTS, TURNED_MAPS_WEIGHTS, DEFAULT_WEIGHTS
from ..weights import resolve_network_weights
from .choice import precision_check
from .onnx import write_bundled_models

__all__ = ["BUNDLED", "bundled_weights", "main"]

#: Name of the shipped models -> the registry name of their weights.
BUNDLED = {
    "sarfeat-sar-v1": DEFAULT_WEIGHTS,
    "sarfeat-sar-lite-v1": LITE_WEIGHTS,
    "sarfeat-sar-v1-turned-maps": TURNED_MAPS_WEIGHTS,
}


def bundled_weights() -> dict[str, NetworkWeights]:
    """The weights whose models sarfeat ships, by model name."""
    return {name: resolve_network_weights(registry) for name, registry in BUNDLED.items()}


def main() -> None:
    """Rebuild the shipped models and their manifest, checking each int8 model first."""
    entries = bundled_weights()
    checks = {}
    for name, weights in entries.items():
        checks[name] = precision_check(weights, "int8")
        print(f"{name}: int8 check {checks[name]}")
    write_bundled_models(entries, checks)


if __name__ == "__main__":
    main()
