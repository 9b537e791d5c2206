"""Rotation invariance on real SAR channel pairs: issue 18's table, re-measured in one run.

For each bundled scene, its first channel is matched against its last one
warped by a similarity about the scene's centre (scale 0.9, a turn by each
angle, then a small shift; NaN outside), and the last against the first
likewise (:func:`sarfeat.metrics.warped_channel_errors`: mutual nearest
neighbours of ``detect_and_extract``, ``min_size=128``). The figure is MMA@3,
the fraction of those matches within 3 px of the known warp, with the number
of matches beside it.

Rows:

- ``labrador``: Sentinel-1 VV/VH, Labrador (a training scene);
- ``shanghai``: Sentinel-1 VV/VH, Shanghai, on its own line: it is unseen
  data (never trained, distilled, calibrated or tuned on), the row that says
  how the detector does on a scene it has not met;
- ``sentinel1``: both Sentinel-1 scenes pooled (the issue's first row);
- ``sanfrancisco``: AIRSAR HH/VV, San Francisco (a training scene);
- ``shanghai_acceptance``: Shanghai VV against VH warped by scale 0.8, 10
  degrees and (30, -10) px, one direction (the acceptance pair of the
  training issue).

Columns: the default detector (rotation invariant; its descriptor, the polar
one of :mod:`sarfeat.polar_descriptor`, is invariant by construction), the
same keypoints with ``descriptor='patch'`` (the patch turned to the gradient
orientation, the default before issue 18) and ``upright=True`` (the network's
128-D descriptor, no orientation), at 10, 60 and 135 degrees.

Run (about two minutes on a 2-core CPU)::

    PYTHONPATH=. SARFEAT_DATA_DIR=../shared/data python benchmarks/eval_rotation.py

``--json FILE`` writes the figures; ``--weights``/``--precision`` pass
through to :class:`sarfeat.SARR2D2Detector`; ``--orientation FILE...`` adds
the default detector with each learned orientation
(:mod:`sarfeat.learned_orientation`), as it is and averaged over quarter turns;
``--learned-polar FILE`` (or ``tuned``) the default's keypoints described by a
learned polar descriptor (:mod:`sarfeat.learned_polar`, figures there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

try:  # run from a checkout without installing sarfeat
    import sarfeat  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ANGLES = (10, 60, 135)
#: Scale and shift (x, y) px of every warp, beside the turn.
SCALE = 0.9
SHIFT = (6.0, -4.0)
#: scene name -> channels (first, last) of sarfeat.data.load_sar_scene
SCENES = {"labrador": "Sentinel-1 VV/VH", "shanghai": "Sentinel-1 VV/VH (unseen)",
          "sanfrancisco": "AIRSAR HH/VV"}
#: The training issue's acceptance warp of Shanghai: scale, degrees, (x, y) shift.
ACCEPTANCE = (0.8, 10.0, (30.0, -10.0))
CONFIGS = {"default": {}, "v1": {"weights": "sarfeat-sar-v1"}, "patch": {"descriptor": "patch"},
           "upright": {"upright": True}}


def _summary(errors: np.ndarray) -> dict:
    """MMA@3 of ``errors`` (NaN without a match: no ratio, not 0) and their count."""
    return {"mma3": float(np.mean(errors <= 3)) if len(errors) else float("nan"),
            "matches": int(len(errors))}


def acceptance_errors(detector, cube: np.ndarray) -> np.ndarray:
    """Errors of channel 0 against the last channel warped by :data:`ACCEPTANCE`, one way."""
    from skimage.feature import match_descriptors
    from skimage.transform import warp

    from sarfeat.metrics import match_errors, turn_about_centre

    scale, degrees, shift = ACCEPTANCE
    transform = turn_about_centre(cube.shape[:2], degrees, scale=scale, shift=shift)
    detector.detect_and_extract(cube[..., 0])
    keypoints, descriptors = detector.keypoints, detector.descriptors
    moved = warp(cube[..., -1], transform.inverse, order=1, cval=np.nan,
                 preserve_range=True).astype(np.float32)
    detector.detect_and_extract(moved)
    matches = match_descriptors(descriptors, detector.descriptors, cross_check=True)
    return match_errors(keypoints, detector.keypoints, matches, transform)


def rotation_table(detector, angles=ANGLES) -> dict:
    """MMA@3 and match counts of one detector: {row: {angle: {'mma3', 'matches'}}}.

    ``detector`` is anything with ``detect_and_extract``, ``keypoints`` and
    ``descriptors``, configured with ``min_size=128`` by the caller.
    """
    from sarfeat.data import load_sar_scene
    from sarfeat.metrics import turn_about_centre, warped_channel_errors

    table, sentinel = {}, {angle: [] for angle in angles}
    for scene in SCENES:
        cube = load_sar_scene(scene)
        row = {}
        for angle in angles:
            warp = turn_about_centre(cube.shape[:2], angle, scale=SCALE, shift=SHIFT)
            errors = warped_channel_errors(detector, cube, [warp])
            row[angle] = _summary(errors)
            if scene != "sanfrancisco":
                sentinel[angle].append(errors)
        table[scene] = row
        if scene == "shanghai":
            table["shanghai_acceptance"] = {ACCEPTANCE[1]: _summary(
                acceptance_errors(detector, cube))}
    table["sentinel1"] = {angle: _summary(np.concatenate(sentinel[angle])) for angle in angles}
    return table


class LearnedPatchDetector:
    """The default detector's keypoints and orientations, described by a trained PatchNet."""

    def __init__(self, path: str, **options) -> None:
        from sarfeat import SARR2D2Detector
        from sarfeat.patch_descriptor import LearnedPatchDescriptor

        self.detector = SARR2D2Detector(**options)
        self.descriptor = LearnedPatchDescriptor.load(path)

    def detect_and_extract(self, image: np.ndarray) -> None:
        from sarfeat import normalize_sar

        found = self.detector
        found.detect_and_extract(image)
        self.keypoints = found.keypoints
        self.descriptors = self.descriptor.describe(
            normalize_sar(image).image, found.keypoints, found.scales, found.orientations)


def evaluate(configs: dict | None = None, angles=ANGLES, patch_descriptor: str | None = None,
             invariant_descriptor: str | None = None, learned_polar: str | None = None,
             **options) -> dict:
    """:func:`rotation_table` of each detector configuration ({name: SARR2D2Detector options}),
    of ``LearnedPatchDetector(patch_descriptor)`` as ``'learned'`` and of the learned
    invariant descriptor (``eval_invariant_descriptor.InvariantDetector``) as
    ``'invariant'`` when given, and of a learned polar descriptor
    (:mod:`sarfeat.learned_polar`, the same way) as ``'learned_polar'``."""
    from sarfeat import SARR2D2Detector

    configs = CONFIGS if configs is None else configs
    results = {name: rotation_table(SARR2D2Detector(**{"min_size": 128, **options, **config}),
                                    angles)
               for name, config in configs.items()}
    if patch_descriptor:
        results["learned"] = rotation_table(
            LearnedPatchDetector(patch_descriptor, **{"min_size": 128, **options}), angles)
    if invariant_descriptor:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from eval_invariant_descriptor import InvariantDetector

        results["invariant"] = rotation_table(
            InvariantDetector(invariant_descriptor, **{"min_size": 128, **options}), angles)
    if learned_polar:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from eval_invariant_descriptor import InvariantDetector

        results["learned_polar"] = rotation_table(
            InvariantDetector(learned_polar, **{"min_size": 128, **options}), angles)
    return results


def orientation_configs(paths) -> dict:
    """Detector options of each learned orientation file, once as it is and once with
    ``turns=4``."""
    from sarfeat.learned_orientation import LearnedOrientation

    configs = {}
    for path in paths:
        name = Path(path).stem
        configs[name] = {"orientation": str(path)}
        configs[f"{name} x4"] = {"orientation": LearnedOrientation.load(path, turns=4)}
    return configs


ROWS = ("sentinel1", "labrador", "shanghai", "sanfrancisco", "shanghai_acceptance")


def format_table(results: dict) -> str:
    """The figures as a Markdown table, one line per row and angle."""
    names = list(results)
    lines = ["| row | angle | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for row in ROWS:
        for angle in results[names[0]][row]:
            cells = [f"{results[n][row][angle]['mma3']:.3f} ({results[n][row][angle]['matches']})"
                     for n in names]
            lines.append(f"| {row} | {angle} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="weights of both configurations (default: sarfeat's)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--patch-descriptor",
                        help="a PatchNet file (sarfeat.training.patch_descriptor): adds a "
                             "'learned' column, the default's keypoints described by it")
    parser.add_argument("--invariant-descriptor",
                        help="an .npz of sarfeat.training.invariant_descriptor: adds an "
                             "'invariant' column, the default's keypoints described by it")
    parser.add_argument("--learned-polar",
                        help="an .npz of sarfeat.learned_polar, or 'tuned': adds a "
                             "'learned_polar' column, the default's keypoints described by it")
    parser.add_argument("--orientation", nargs="*", default=[],
                        help="learned orientation .npz files (sarfeat.training.orientation): "
                             "adds a column per file, the default detector with that orientation "
                             "('NAME'), and with it averaged over quarter turns ('NAME x4')")
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), default=list(CONFIGS),
                        help="configurations to run (default: all)")
    args = parser.parse_args(argv)
    options = {"precision": args.precision, "runtime": args.runtime}
    if args.weights:
        options["weights"] = args.weights
    configs = {name: CONFIGS[name] for name in args.only}
    configs.update(orientation_configs(args.orientation))
    results = evaluate(configs,
                       patch_descriptor=args.patch_descriptor,
                       invariant_descriptor=args.invariant_descriptor,
                       learned_polar=args.learned_polar, **options)
    print(f"MMA@3 (matches); warp: scale {SCALE}, shift {SHIFT} px, both directions")
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
