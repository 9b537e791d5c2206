"""Pair datasets for training: one module per kind of source.

- :mod:`~sarfeat.training.datasets.stacks`: :class:`StackPairs`, two dates of a
  co-registered stack;
- :mod:`~sarfeat.training.datasets.scenes`: :class:`SingleImagePairs`, two
  channels of one SAR scene, or two speckle draws of a despeckled channel;
- :mod:`~sarfeat.training.datasets.optical`: :class:`SpeckledOpticalPairs`,
  optical gray images with simulated speckle, and :func:`open_optical_images`;
- :mod:`~sarfeat.training.datasets.mixture`: :class:`MixedPairs` (a weighted
  mixture) and :func:`collate`;
- :mod:`~sarfeat.training.datasets.sources`: :func:`default_training_sources`
  (the open-data mixture sarfeat's weights are trained on) and
  :func:`validation_pairs` (held-out evaluation pairs, never for selection).

Each sample depends only on ``(seed, index)``; the warps and augmentation are
those of :mod:`sarfeat.training.augment`.
"""

from sarfeat.training.datasets.base import PairDataset
from sarfeat.training.datasets.mixture import MixedPairs, collate
from sarfeat.training.datasets.optical import SpeckledOpticalPairs, open_optical_images
from sarfeat.training.datasets.scenes import SingleImagePairs
from sarfeat.training.datasets.sources import (
    TRAINING_ATTRIBUTION, VALIDATION_WARPS, default_training_sources, validation_pairs,
)
from sarfeat.training.datasets.stacks import IMAGE_SUFFIXES, StackPairs

__all__ = ["IMAGE_SUFFIXES", "TRAINING_ATTRIBUTION", "VALIDATION_WARPS", "MixedPairs",
           "PairDataset", "SingleImagePairs", "SpeckledOpticalPairs", "StackPairs", "collate",
           "default_training_sources", "open_optical_images", "validation_pairs"]
