"""Training pairs for Fast-R2D2 on SAR: sources, warps, speckle and augmentation.

A *pair sample* is a dict of torch tensors (DESIGN.md section 5):

``image1``, ``image2`` : float32, shape (1, H, W)
    Normalised gray images in [0, 1] (SAR through
    :func:`sarfeat.preprocess.normalize_sar`; optical gray as is).
``flow`` : float32, shape (2, H, W)
    For each pixel of image 1, its position ``(x, y) = (col, row)`` in
    image 2, pixel centres at integer coordinates; NaN where it falls outside
    image 2 or on no-data.
``mask`` : bool, shape (H, W)
    True where ``flow`` is finite.
``matrix`` : float64, shape (3, 3), only with ``with_matrix=True``
    The affine map of ``(x, y, 1)`` of image 1 onto image 2; ``flow`` is this
    matrix applied to the pixel grid of image 1.

Every geometric step (random affine, rescale, crop, flip) is an affine map,
so each sample composes them into one matrix per side and samples each
image once (bilinear, Gaussian anti-aliasing when it shrinks): the flow is
exact, never interpolated. Photometric steps (speckle, normalisation,
contrast, gamma, 8-bit quantisation) act on each side independently and
leave the flow unchanged.

The code lives in :mod:`sarfeat.training.augment` (warps, speckle,
:class:`PairAugmentation`) and :mod:`sarfeat.training.datasets` (one module per
kind of source); this module keeps the names at the import path the docs show.

Pair sources: :class:`StackPairs` (two dates of a co-registered stack),
:class:`SingleImagePairs` (two channels of one SAR scene, or two speckle
draws of a despeckled single channel), :class:`SpeckledOpticalPairs`
(optical gray images with simulated speckle) and :class:`MixedPairs` (a
weighted mixture). Each sample depends only on ``(seed, index)``, so
training can resume exactly: iterate the indices in order (a long
``length`` and a sequential sampler) and restart at the next index.
"""

from __future__ import annotations

from sarfeat.training.augment import (
    PairAugmentation, add_speckle, random_affine, similarity_matrix, warp_with_flow,
)
from sarfeat.training.datasets import (
    IMAGE_SUFFIXES, TRAINING_ATTRIBUTION, VALIDATION_WARPS, MixedPairs, SingleImagePairs,
    SpeckledOpticalPairs, StackPairs, collate, default_training_sources, open_optical_images,
    validation_pairs,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "TRAINING_ATTRIBUTION",
    "VALIDATION_WARPS",
    "MixedPairs",
    "PairAugmentation",
    "SingleImagePairs",
    "SpeckledOpticalPairs",
    "StackPairs",
    "add_speckle",
    "collate",
    "default_training_sources",
    "open_optical_images",
    "random_affine",
    "similarity_matrix",
    "validation_pairs",
    "warp_with_flow",
]
