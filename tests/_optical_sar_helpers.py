"""What the optical-SAR tests share (test_optical_sar*.py, and test_cli_register_stack.py's
optical stack): the bundled 3MOS tile's shape and the known warp of its SAR tile. Their
``tile`` and ``moved_sar`` fixtures are in conftest.py."""

from __future__ import annotations

import numpy as np
from skimage.transform import SimilarityTransform

SHAPE = (256, 256)
CENTRE = np.array([127.5, 127.5])
#: fixed (optical) (x, y) -> moving (SAR) (x, y): turned 20 degrees, scaled 0.9, shifted.
TRUTH = (SimilarityTransform(translation=-CENTRE)
         + SimilarityTransform(rotation=np.deg2rad(20), scale=0.9)
         + SimilarityTransform(translation=CENTRE + (8, -5)))


def stretched_truth(p: float, q: float) -> np.ndarray:
    """TRUTH after a stretch [[1 + p, q], [q, 1 - p]] about the tile's centre: an affine
    map that no similarity fits (a SAR image in its own geometry, say)."""
    from benchmarks.optical_sar_pairs import stretch_about_centre

    return TRUTH.params @ stretch_about_centre(p, q, SHAPE)
