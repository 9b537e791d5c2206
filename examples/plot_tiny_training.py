"""
A tiny training run
===================

:mod:`sarfeat.training` trains the Fast-R2D2 network on pairs of images with
a known pixel-to-pixel correspondence. This example fine-tunes sarfeat's
bundled weights for a few dozen iterations on the bundled Sentinel-1 scene,
to show the pieces of a run: the pairs, the trainer, the loss terms and the
export of weights that :class:`sarfeat.SARR2D2Detector` loads. A real run
takes thousands of iterations (``python -m sarfeat.training``, see the
training guide); this one takes seconds and does not aim to improve
anything.

The scene contains modified Copernicus Sentinel data.
"""

# %%
# Training pairs
# --------------
#
# :class:`~sarfeat.training.pairs.SingleImagePairs` draws pairs from
# single-date scenes: a crop of one channel and the matching crop of another
# channel (independent speckle) under a random affine warp. Each sample holds
# the two crops in [0, 1] (dB, stretched) and the ``flow``: for every pixel
# of image 1, its (x, y) in image 2 (NaN where it leaves image 2).

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import sarfeat
from sarfeat.data import DEFAULT_WEIGHTS, fetch, load_sar_scene
from sarfeat.training.pairs import SingleImagePairs
from sarfeat.training.trainer import TrainConfig, Trainer
from sarfeat.training.validation import HELD_OUT_WARPS, held_out_mma

torch.manual_seed(0)
scene = load_sar_scene("labrador")
pairs = SingleImagePairs([scene], crop_size=64, seed=0)
# pairs are a pure function of (seed, index); show one of the first few in which most
# pixels of image 1 are also in image 2
sample = max((pairs[i] for i in range(8)), key=lambda s: s["flow"][0].isfinite().float().mean())
image1, image2, flow = sample["image1"][0], sample["image2"][0], sample["flow"]

# a few pixels of image 1 and where the flow sends them
rows, cols = np.mgrid[8:64:16, 8:64:16].reshape(2, -1)
x2, y2 = flow[0, rows, cols].numpy(), flow[1, rows, cols].numpy()
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
axes[0].imshow(image1, cmap="gray")
axes[0].scatter(cols, rows, c=np.arange(len(rows)), cmap="tab20", s=25)
axes[1].imshow(image2, cmap="gray")
axes[1].scatter(x2, y2, c=np.arange(len(rows)), cmap="tab20", s=25)
axes[0].set_title("image 1 (VV crop)")
axes[1].set_title("image 2 (VH, warped)")
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()

# %%
# Train
# -----
#
# :class:`~sarfeat.training.trainer.TrainConfig` holds every setting of a run;
# ``init`` starts from the bundled weights instead of random ones.
# :meth:`~sarfeat.training.trainer.Trainer.step` runs one optimiser step and
# returns the loss terms (``Trainer.fit`` runs them all, with checkpoints that
# resume exactly). Crops of 64 px in batches of 2 keep this example fast.

workdir = Path(tempfile.mkdtemp(prefix="sarfeat-tiny-run-"))
config = TrainConfig(
    output=str(workdir), iterations=20, batch_size=2, crop_size=64,
    init=str(fetch(DEFAULT_WEIGHTS)), checkpoint_every=0, validate_every=0,
)
trainer = Trainer(config, pairs)
# batches this small are little work to share between threads, and several threads slow
# down badly when other jobs busy the CPU: train on one, then restore the setting
threads = torch.get_num_threads()
torch.set_num_threads(1)
try:
    history = [trainer.step() for _ in range(config.iterations)]
finally:
    torch.set_num_threads(threads)
print(f"{trainer.iteration} iterations, last total loss {history[-1]['total']:.3f}")

# %%
# The total is the paper's weighted sum: 1 x reliability (average precision of
# the descriptors) + 2 x cosim + 1.5 x peaky + 1 x sharpen-peak. With batches
# this small the terms are noisy from one step to the next.

fig, ax = plt.subplots(figsize=(6, 3.5))
for name in history[0]:
    ax.plot([values[name] for values in history], label=name,
            linewidth=2 if name == "total" else 1)
ax.set_xlabel("iteration")
ax.set_ylabel("loss")
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()

# %%
# Export and use the weights
# --------------------------
#
# :meth:`~sarfeat.training.trainer.Trainer.export` writes the network in
# sarfeat's safe checkpoint format, with the run's configuration as
# provenance. Here it also records the detection thresholds of the weights
# it started from (``python -m sarfeat.training`` calibrates new ones). The
# file goes to the detector like any other checkpoint.

start = sarfeat.load_checkpoint(fetch(DEFAULT_WEIGHTS))
thresholds = start.metadata["detector"]
path = trainer.export(workdir / "final.pt", {"detector": thresholds})
tuned = sarfeat.load_checkpoint(path)
print(f"wrote {path.name}, {path.stat().st_size / 1e6:.1f} MB; thresholds {thresholds}")

detector = sarfeat.SARR2D2Detector(path, min_size=128)
detector.detect_and_extract(scene[..., 0])
print(f"fine-tuned weights: {len(detector.keypoints)} keypoints on VV")

# %%
# Matching accuracy before and after, measured as during training (MMA@3 of
# one channel against the other under a known warp) but on the training scene
# itself and one warp only, which says only that the weights still work:
# judge real runs on held-out data, as ``python -m sarfeat.training`` does.

for name, net in (("bundled", start), ("fine-tuned", tuned)):
    scores = held_out_mma(net.eval(), scene=scene, warps=HELD_OUT_WARPS[:1], both_orders=False,
                          **thresholds)
    print(f"{name:10s} MMA@3 {scores['mma3']:.3f} over {scores['matches']:.0f} matches")

plt.show()

# sphinx_gallery_thumbnail_number = 2
