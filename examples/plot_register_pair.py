"""
Register a Sentinel-1 pair and check it with a checkerboard
===========================================================

:func:`sarfeat.register` takes two SAR images and returns the transform
between them, the moving image resampled onto the fixed image's grid and how
far the result can be trusted. This example registers the VV channel of the
bundled Sentinel-1 scene against its VH channel warped by a known similarity
transform, the pair of ``sarfeat register --example``, and shows the result as
a checkerboard: tiles of the fixed image alternate with tiles of the
registered one, so that any misalignment breaks the lines and edges at the
tile borders.

VV and VH are acquired together but have independent speckle and different
backscatter, so the pair is a fair test even though the warp is synthetic.
The scene contains modified Copernicus Sentinel data.
"""

# %%
# A pair with a known transform
# -----------------------------
#
# ``truth`` maps fixed-image (x, y) = (col, row) to moving-image (x, y), the
# direction of ``sarfeat.RegistrationResult.transform``.
# :func:`skimage.transform.warp` wants the opposite map, from the output
# (moving) grid back to where VH lies; pixels from outside the scene are NaN,
# which sarfeat treats as no-data.

import matplotlib.pyplot as plt
import numpy as np
from skimage.feature import plot_matched_features
from skimage.transform import SimilarityTransform, warp
from skimage.util import compare_images

import sarfeat
from sarfeat.data import load_sar_scene
from sarfeat.metrics import correct_match_counts, registration_rmse
from sarfeat.viz import display_image, display_rgb

scene = load_sar_scene("labrador")  # bundled: 256 x 256 x (VV, VH) intensity
fixed = scene[..., 0]
truth = SimilarityTransform(scale=0.8, rotation=np.deg2rad(10), translation=(30, -10))
moving = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan, preserve_range=True)
moving = moving.astype(np.float32)

# %%
# Register
# --------
#
# One call, with the bundled weights. ``rng=0`` fixes RANSAC's sampling so
# that the result is reproducible.

result = sarfeat.register(fixed, moving, rng=0)

d = result.diagnostics
print(f"coarse stage: {d['coarse_inliers']} inliers of {d['coarse_candidates']} matches")
print(f"fine stage:   {d['fine_inliers']} inliers of {d['fine_candidates']} voted matches")
print(f"confidence {result.confidence:.2f}, inlier residual RMS {d['residual_rms']:.2f} px, "
      f"{result.seconds:.1f} s")

# %%
# How good is it? :mod:`sarfeat.metrics` compares the estimate with the truth:
# RMSE over a 20 x 20 grid of the fixed image (a success is below 3 px), and
# how many of the inlier matches are within 3 px of where the truth puts them
# (NCM, and CMR, their fraction).

rmse = registration_rmse(result.transform, truth, fixed.shape, moving.shape)
ncm, cmr = correct_match_counts(result.keypoints_fixed, result.keypoints_moving,
                                result.inlier_matches, truth)
print(f"RMSE against the truth: {rmse:.2f} px; NCM {ncm}, CMR {cmr:.2f}")
print("estimated:\n", np.round(result.transform.params, 3))
print("truth:\n", np.round(truth.params, 3))

# %%
# The inlier matches
# ------------------
#
# ``inlier_matches`` index ``keypoints_fixed`` and ``keypoints_moving``
# ((row, col)), so they go to :func:`skimage.feature.plot_matched_features`
# as they are. The images are drawn as sarfeat's own plots draw them
# (:mod:`sarfeat.viz`): :func:`~sarfeat.viz.display_image` gives an image as
# the network sees it, in dB, stretched between its 1st and 99th percentiles
# (:func:`sarfeat.normalize_sar`), NaN on no-data, which
# :func:`~sarfeat.viz.display_rgb` draws in steel blue
# (:data:`~sarfeat.viz.NODATA_COLOR`): here, where the warped VH has no data.

fixed_shown = display_image(fixed, mark_nodata=True)
moving_shown = display_image(moving, mark_nodata=True)

fig, ax = plt.subplots(figsize=(8, 4.2))
plot_matched_features(
    display_rgb(fixed_shown), display_rgb(moving_shown), keypoints0=result.keypoints_fixed,
    keypoints1=result.keypoints_moving, matches=result.inlier_matches, ax=ax,
    keypoints_color="yellow", matches_color="lime", only_matches=True,
)
ax.set_title(f"{len(result.inlier_matches)} inlier matches: VV (left), warped VH (right)")
ax.set_axis_off()
fig.tight_layout()

# %%
# Checkerboard before and after
# -----------------------------
#
# Before registration the two images disagree everywhere; after it the
# fields, shores and ridges run on across the tile borders. Steel blue marks
# where the moving image, or the registered VH, has no data.

registered = display_image(result.warped, mark_nodata=True)
before = compare_images(fixed_shown, moving_shown, method="checkerboard", n_tiles=(8, 8))
after = compare_images(fixed_shown, registered, method="checkerboard", n_tiles=(8, 8))

fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
for ax, image, title in (
    (axes[0], registered, "VH registered onto VV"),
    (axes[1], before, "checkerboard before"),
    (axes[2], after, f"checkerboard after (RMSE {rmse:.2f} px)"),
):
    ax.imshow(display_rgb(image))
    ax.set_title(title)
    ax.set_axis_off()
fig.tight_layout()

plt.show()

# sphinx_gallery_thumbnail_number = 2
