"""sarfeat: keypoints, descriptors and registration for SAR images.

Submodules and public names are loaded on first use (as scikit-image does), so
that ``import sarfeat`` is quick and the command line answers at once;
``sarfeat.data``, ``sarfeat.io``, ``sarfeat.parallel`` and the other
submodules are reachable as attributes after ``import sarfeat``.
"""

import importlib
import importlib.util

__version__ = "0.1.0"

#: Public name -> the submodule that defines it.
_NAMES = {
    "SARR2D2Detector": "detector",
    "NoKeypointsError": "detector",
    "CoarseFineMatcher": "matching",
    "set_dense_threads": "matching",
    "register": "registration",
    "RegistrationResult": "registration",
    "RegistrationError": "registration",
    "MultiDescriptorExtractor": "descriptors",
    "R2D2Net": "network",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "normalize_sar": "preprocess",
}
_SUBMODULES = {
    "checkpoint", "cli", "data", "descriptors", "detector", "detector_input", "geometry", "io",
    "matching", "metrics", "network", "orientation", "parallel", "polar_descriptor",
    "preprocess", "registration", "structural", "training", "viz", "weights",
}

__all__ = [
    "SARR2D2Detector",
    "NoKeypointsError",
    "CoarseFineMatcher",
    "set_dense_threads",
    "register",
    "RegistrationResult",
    "RegistrationError",
    "MultiDescriptorExtractor",
    "R2D2Net",
    "load_checkpoint",
    "save_checkpoint",
    "normalize_sar",
    "__version__",
]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _SUBMODULES and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'sarfeat' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    present = {name for name in _SUBMODULES
               if importlib.util.find_spec(f"{__name__}.{name}") is not None}
    return sorted(set(globals()) | set(_NAMES) | present)
