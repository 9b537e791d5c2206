"""sarfeat: keypoints, descriptors and registration for SAR images."""

from .checkpoint import load_checkpoint, save_checkpoint
from .descriptors import MultiDescriptorExtractor
from .detector import SARR2D2Detector
from .matching import CoarseFineMatcher
from .network import R2D2Net
from .preprocess import normalize_sar
from .registration import RegistrationError, RegistrationResult, register

__version__ = "0.1.0"

__all__ = [
    "SARR2D2Detector",
    "CoarseFineMatcher",
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
