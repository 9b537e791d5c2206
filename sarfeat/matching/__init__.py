"""Coarse-to-fine matching of two SAR images: :class:`CoarseFineMatcher`.

The method of DESIGN.md section 6 (Norouzi et al. 2024), in two stages.

**Coarse stage.** Both images are downsampled with a Gaussian prefilter
(:func:`skimage.transform.rescale` with anti-aliasing) so that the longest side
is ``coarse_size`` pixels; Fast-R2D2 keypoints and descriptors (a three-level
pyramid, full to half size) are matched by mutual nearest neighbour with
Lowe's ratio test and a model (affine, or a similarity for
``model='similarity'``) is fitted by RANSAC (``ransac_threshold`` coarse
pixels, ``sarfeat.matching.models.ransac``); it is scaled back to full
resolution. Image 1 is described once, whatever the number of turns tried.

*Rotation.* The R2D2 network is not rotation invariant (with the published
weights matching breaks down near 19 degrees), so rotation is handled here, in
the coarse stage, not by the network. Image 1 is matched against image 2 turned
by each angle of ``rotations`` (by default the four right angles, exact
resamplings), and the hypothesis with the most RANSAC inliers is kept; the turn
is composed back into the model, which always maps the original images. The
search stops at the first *strong* hypothesis (``strong_inliers`` inliers, at
least ``min_coarse_inliers`` making up half of the matches, or 2.5 times the
inliers of every other turn once the right angles are tried); the first turn
of ``rotations`` (0 degrees) comes first, so an upright pair costs one coarse
match. Next come the ``estimated_turns`` best turns of an orientation estimate
(the circular cross-correlation of the two images' gradient-orientation
histograms, ``estimate_turns``; an estimate within
``refine_angle`` of a right angle is tried at the right angle), then the rest
of ``rotations``: a turned pair whose estimate is right costs two or three
coarse matches instead of up to eight. A hypothesis estimates the
residual turn: when it is more than ``refine_angle`` degrees from the angle the
hypothesis was found at, image 2 is turned by the estimate and matched once
more (a pair turned by 15 degrees is found at 0 and refined at 15). When no
right angle gives a strong hypothesis, intermediate turns every ``angle_step``
degrees are tried too (30 by default, so that every angle is within 15 degrees
of a tried one, inside the network's tolerance), nearest to the best so far
first. Weak pairs pay for the search; upright and right-angle pairs do not.

*Identity prior.* SAR products of one area are often roughly co-registered
already (geocoded, or from one orbit), and on such pairs with large changes the
coarse stage can fail. When the coarse stage has no strong hypothesis, the fine
stage is also run around the identity (``identity_prior``), and the result
with more fine inliers wins.

**Fine stage.** The part of image 1 that the prior maps into image 2 is cut
into patches of at most ``patch_size`` pixels a side, each given to the network
with a halo of context and with its own keypoint budget (``fine_keypoints``),
which spreads keypoints over the whole overlap. Image 2 is cut the same way
over the prior's image of that region, reaching ``radius`` beyond it; when the
prior turns by more than 10 degrees or scales by more than 20 %, image 2 is
first resampled into image 1's frame through the prior, so that the network
sees upright content at image 1's scale (the resampling is composed into the
coordinates: keypoints are reported in image 2's own pixels). Keypoints are
detected at full resolution (``fine_min_scale`` = 1: one pyramid level, since
the prior has already brought the scales together) and described by every
descriptor of a :class:`~sarfeat.descriptors.MultiDescriptorExtractor`.

The candidates of an image-1 keypoint are the image-2 keypoints that the prior
brings back within ``radius`` pixels of it (a k-d tree query). Every
descriptor votes in both directions: each image-1 keypoint gives a vote to its
nearest candidate in descriptor space, and each image-2 keypoint to the nearest
image-1 keypoint it is a candidate of; with ``local_ratio`` < 1 a keypoint
votes only when its nearest candidate is clearly nearer than the second
(Lowe's test among the local candidates, which silences periodic texture such
as field strips). A pair's score is its number of votes, at most twice the
number of descriptors. Pairs with at least ``vote_threshold`` votes (by default
a majority: the number of descriptors plus one, which is the mutual nearest
neighbour for the R2D2 descriptor alone) go to RANSAC (``fine_threshold``
pixels).

*RANSAC* (``sarfeat.matching.models``) is vectorised: minimal samples are
drawn in batches of up to 256, solved in closed form and scored on every match
at once by their MSAC cost (squared residuals truncated at the threshold: with
clustered support, consensus sets of nearly equal size can give affine models
pixels apart away from the matches, and the truncated cost prefers the tightest
fit); every new best model is refined by least squares on its inliers until
they are stable (local optimisation), and at least 256 samples are drawn
before the 99.9 % confidence stop. With ``rng=None`` the seed is fixed (0), as
in OpenCV's RANSAC, so that results are reproducible.

*Model selection.* ``model`` is the richest model allowed: a translation, a
rigid motion and a similarity (and the affine map, for ``'affine'``) are each
fitted the same way, and Torr's GRIC keeps the one whose fit pays for its
parameters (``sarfeat.matching.models``). On a pair that differs by a shift, an affine
fit to matches bunched in part of the image extrapolates pixels off elsewhere.

*Guided rounds.* When the fine model moves part of the overlap by more than
half the radius away from the prior, the local search was off-centre there;
the fine stage runs again around the fine model (up to twice) and is kept when
it finds at least 25 % more inliers. This is what turns a rough identity prior
into an accurate model on a pair that is scaled or turned by a few degrees.

*Last local search.* Around the fine model, the local search runs once more
within ``final_radius`` pixels: with fewer candidates per keypoint, votes are less
ambiguous and more true matches reach the threshold. The selected model is
refitted on the new inliers and kept when they are at least as many.

*Work done once.* The fine stage keeps the features of every patch it has
described during one ``match``: a second prior, a guided round or the last
local search reuses the patches it shares with an earlier one (on a grid
anchored at each image's origin) and runs the network only on new ones
(``diagnostics['patches_described']`` and ``['patches_reused']``). Patches are
read (and, for a turned or scaled pair, resampled) one at a time from images
that are normalised window by window, so a large scene never needs a
normalised or resampled copy of a whole image. The fine stage runs row of
patches by row of patches: as soon as both sides of a candidate pair are
described, its descriptor distances are computed and remembered, and the
descriptors of finished patches are dropped beyond a byte budget
(``store``); a later search that needs a dropped patch
describes it again (``['patches_redescribed']``). Memory therefore stays
bounded by a few rows of patches, not by the scene, and the results are those
of keeping everything. With ``progress`` a tqdm bar shows the patches.

*Optical against SAR.* With ``modality='optical-sar'`` (or ``'sar-optical'``, or
``'optical'`` for two optical images) the matcher hands the pair to
:class:`~sarfeat.matching.dense.DenseStructuralMatcher`
(:mod:`~sarfeat.matching.dense`), which compares dense orientation-energy maps
(:mod:`sarfeat.structural`) instead of keypoint descriptors.

The stages live in ``coarse`` (rotation search and
coarse model), ``fine`` (tiling, local search, votes and
fine model), ``models`` (RANSAC, refinement, GRIC) and
``geometry`` (pure geometry); :class:`CoarseFineMatcher`
(``matcher``) runs them in order: its parameters are
reconciled in ``options``, the inputs normalised in
``inputs``, each match's coarse stage driven by
``coarse_driver`` and its fine stage (priors, guided rounds,
last local search) by ``fine_driver``, into a
:class:`~sarfeat.matching.result.MatchResult`.
"""

from .coarse import CoarseSettings
from .dense import DenseStructuralMatcher, parse_modality
from .dense_threads import set_dense_threads
from .fine import FineSettings
from .matcher import MATCHER_SETS, CoarseFineMatcher, MatchResult
from .models import MODELS


__all__ = ["CoarseFineMatcher", "CoarseSettings", "DenseStructuralMatcher", "FineSettings",
           "MatchResult", "MODELS", "MATCHER_SETS", "parse_modality", "set_dense_threads"]
