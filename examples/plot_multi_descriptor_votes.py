"""
Descriptor votes in the fine stage
==================================

The fine stage of :class:`sarfeat.CoarseFineMatcher` describes every keypoint
with several descriptors (:class:`sarfeat.MultiDescriptorExtractor`) and lets
each of them vote for the matches it believes in. This example counts the
votes of every candidate pair of the fine stage and checks each pair against
the known transform of the pair of images.

The pair is the bundled Sentinel-1 scene, VV against VH warped by a known
similarity transform. The scene contains modified Copernicus Sentinel data.
"""

# %%
# The pair
# --------

import matplotlib.pyplot as plt
import numpy as np
from skimage.feature import match_descriptors
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.data import load_sar_scene
from sarfeat.metrics import match_errors
from sarfeat.viz import display_image, display_rgb

scene = load_sar_scene("labrador")
vv = scene[..., 0]
truth = SimilarityTransform(scale=0.95, rotation=np.deg2rad(-6), translation=(10, 12))
vh = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan, preserve_range=True)
vh = vh.astype(np.float32)

# %%
# Each descriptor on its own
# --------------------------
#
# :class:`~sarfeat.MultiDescriptorExtractor` computes three descriptors at the
# same Fast-R2D2 keypoints: the network's own (``'r2d2'``), a histogram of
# gradient orientations computed with the speckle-robust ratio of exponentially
# weighted averages (``'ratio_hog'``, as in SAR-SIFT) and a normalised
# log-intensity patch (``'log_patch'``). A descriptor that cannot describe a
# keypoint (too near the border or no-data) says so in ``masks``; matching one
# descriptor means taking the rows it described.

extractors = [sarfeat.MultiDescriptorExtractor("sarfeat-sar-v1", min_size=128) for _ in range(2)]
for extractor, image in zip(extractors, (vv, vh)):
    extractor.detect_and_extract(image)
first, second = extractors

for name in first.descriptors:
    rows1 = np.flatnonzero(first.masks[name])
    rows2 = np.flatnonzero(second.masks[name])
    found = match_descriptors(first.descriptors[name][rows1], second.descriptors[name][rows2],
                              cross_check=True)
    matches = np.column_stack([rows1[found[:, 0]], rows2[found[:, 1]]])
    correct = match_errors(first.keypoints, second.keypoints, matches, truth) <= 3
    print(f"{name:10s} {len(matches):4d} mutual nearest neighbours over the whole image, "
          f"{correct.sum():4d} correct ({100 * correct.mean():.0f} %)")

# %%
# Votes
# -----
#
# In the fine stage, the candidates of a fixed-image keypoint are only the
# moving-image keypoints that the coarse model brings within ``radius``
# pixels of it. Each descriptor then votes, in both directions, for the
# nearest candidate in its own descriptor space: a pair gets between 0 and 6
# votes. By default, pairs with at least 4 votes (a majority) go on to
# RANSAC; here ``vote_threshold=1`` keeps every voted pair so that all of
# them can be compared with the truth, and ``final_radius=None`` skips the
# matcher's last local search around its own fine model, so that the pairs
# are those of the search around the coarse model.

matcher = sarfeat.CoarseFineMatcher(vote_threshold=1, final_radius=None, rng=0)
matcher.match(vv, vh)
errors = match_errors(matcher.keypoints1, matcher.keypoints2, matcher.matches, truth)
correct = errors <= 3

counts = np.arange(1, 2 * len(matcher.descriptor_names) + 1)
print("votes  pairs  correct")
for k in counts:
    chosen = matcher.votes == k
    share = 100 * correct[chosen].mean() if chosen.any() else 0
    print(f"{k:5d}  {chosen.sum():5d}  {share:5.0f} %")

# %%
# Left, how many candidate pairs got each number of votes and how many of
# them are right; right, the error of every pair under the known transform
# (dots, jittered sideways) and the median error for each number of votes.
# A single vote is one descriptor's nearest candidate in one direction, which
# speckle easily decides; descriptors that see the image differently (learned
# features, ratio gradients, log intensities) rarely agree by chance, so the
# pairs they all vote for sit closest to the truth. RANSAC, with its 3 px
# threshold, then removes most of the wrong pairs that remain.

fig, (ax_votes, ax_error) = plt.subplots(1, 2, figsize=(9, 3.4))
right = [np.sum(correct & (matcher.votes == k)) for k in counts]
wrong = [np.sum(~correct & (matcher.votes == k)) for k in counts]
ax_votes.bar(counts, right, color="tab:green", label="correct (within 3 px)")
ax_votes.bar(counts, wrong, bottom=right, color="tab:red", label="wrong")
ax_votes.axvline(len(matcher.descriptor_names) + 0.5, color="tab:blue", linewidth=1)
ax_votes.set_xlabel("votes of a candidate pair (blue: default threshold)")
ax_votes.set_ylabel("pairs")
ax_votes.legend(fontsize=8)

jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(errors))
ax_error.scatter(matcher.votes + jitter, errors, s=8, c=np.where(correct, "tab:green", "tab:red"))
medians = [np.median(errors[matcher.votes == k]) if np.any(matcher.votes == k) else np.nan
           for k in counts]
ax_error.plot(counts, medians, marker="_", markersize=20, linestyle="none", color="black",
              label="median")
ax_error.axhline(3, color="gray", linestyle=":", linewidth=1)
ax_error.set_xlabel("votes of a candidate pair")
ax_error.set_ylabel("error under the true transform (px)")
ax_error.legend(fontsize=8)
fig.tight_layout()

# %%
# Where the agreed pairs are
# --------------------------
#
# The fixed-image keypoints of the pairs with a majority of votes, coloured
# by their votes, over the VV image as sarfeat's plots draw it
# (:func:`sarfeat.viz.display_image`: normalised, no-data in steel blue).

majority = matcher.votes >= len(matcher.descriptor_names) + 1
points = matcher.keypoints1[matcher.matches[majority, 0]]
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.imshow(display_rgb(display_image(vv, mark_nodata=True)))
dots = ax.scatter(points[:, 1], points[:, 0], c=matcher.votes[majority], cmap="viridis",
                  s=18, vmin=counts[0], vmax=counts[-1])
fig.colorbar(dots, ax=ax, label="votes")
ax.set_title(f"{majority.sum()} pairs with at least {len(matcher.descriptor_names) + 1} votes")
ax.set_axis_off()
fig.tight_layout()

plt.show()
