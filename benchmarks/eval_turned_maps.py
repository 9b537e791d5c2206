"""Accuracy of the rotation-invariant detector's keypoint maps: quarter-turn average or distilled.

The rotation-invariant :class:`sarfeat.SARR2D2Detector` finds keypoints on the
network's maps averaged over the image's four quarter turns
(``turned_maps='average'``: four runs of Fast-R2D2) or on those of a small
network distilled to give that average in one run (``'distilled'``). This
script measures what the second keeps of the first, on the three bundled SAR
scenes (the AIRSAR San Francisco scene, HH against VV; Sentinel-1 Labrador and
Shanghai, VV against VH; Shanghai was never used in training or distillation):

- **MMA@3**: the first channel against the last turned about the scene's
  centre by each angle, and the last against the first, pooled over both
  directions (:func:`sarfeat.metrics.warped_channel_errors`: mutual nearest
  neighbours, fraction within 3 px of the known turn);
- **quarter-turn repeatability**: the fraction of the keypoints of a channel
  found again within 1 px on the channel turned by 90, 180 and 270 degrees
  (exactly 1 for the average, up to ties).

Run (about a minute)::

    PYTHONPATH=. SARFEAT_DATA_DIR=../shared/data python benchmarks/eval_turned_maps.py

``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

SCENES = ("sanfrancisco", "labrador", "shanghai")
ANGLES = (0, 30, 45, 90, 135, 180)


def evaluate(turned_maps: str, scenes=SCENES, angles=ANGLES, **options) -> dict:
    """MMA@3 per scene and angle, pooled, and quarter-turn repeatability, for one map source."""
    from sarfeat import SARR2D2Detector
    from sarfeat.data import load_sar_scene
    from sarfeat.metrics import quarter_turn_repeatability, turn_about_centre, warped_channel_errors

    detector = SARR2D2Detector(turned_maps=turned_maps, **{"min_size": 128, **options})
    result = {"turned_maps": turned_maps, "scenes": {}}
    pooled = {angle: [] for angle in angles}
    for scene in scenes:
        cube = load_sar_scene(scene)
        per_angle = {}
        for angle in angles:
            errors = warped_channel_errors(detector, cube,
                                           [turn_about_centre(cube.shape[:2], angle)])
            pooled[angle].append(errors)
            per_angle[angle] = {"mma3": float(np.mean(errors <= 3)) if len(errors)
                                else float("nan"), "matches": int(len(errors))}  # no ratio
        result["scenes"][scene] = {
            "mma3": per_angle,
            "quarter_turn_repeatability": quarter_turn_repeatability(detector, cube[..., 0]),
        }
    every = np.concatenate([e for angle in angles for e in pooled[angle]])
    result["pooled_mma3"] = {angle: float(np.mean(np.concatenate(pooled[angle]) <= 3))
                             for angle in angles}
    result["pooled_mma3_all"] = float(np.mean(every <= 3))
    result["matches"] = int(len(every))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", nargs="+", default=["average", "distilled"],
                        choices=["average", "distilled"])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--distilled-weights",
                        help="a checkpoint of a distilled turned-maps network to evaluate "
                             "instead of the registry's")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    results = []
    for source in args.sources:
        options = {"precision": args.precision, "runtime": args.runtime}
        if source == "distilled" and args.distilled_weights:
            options["weights"] = args.distilled_weights
        result = evaluate(source, **options)
        results.append(result)
        print(f"turned_maps={source}: pooled MMA@3 {result['pooled_mma3_all']:.3f} "
              f"over {result['matches']} matches")
        for angle, value in result["pooled_mma3"].items():
            print(f"  {angle:>4} deg: {value:.3f}")
        for scene, figures in result["scenes"].items():
            angles = " ".join(f"{v['mma3']:.2f}" for v in figures["mma3"].values())
            print(f"  {scene:>13}: MMA@3 by angle {angles}; quarter-turn repeatability "
                  f"{figures['quarter_turn_repeatability']:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
