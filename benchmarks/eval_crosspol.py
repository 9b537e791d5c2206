"""Registration accuracy on the cross-polarised Labrador pair, tie point by tie point.

The bundled Sentinel-1 Labrador scene holds VV and VH of one acquisition, so
VV against VH warped by a known transform has an exact truth. Two reports:

- ``tiepoints``: for the identity and each warp of
  ``benchmark_registration.WARPS``, the matcher's voted matches with the
  sub-pixel refinement off, measured against the truth: the RANSAC inliers'
  mean offset (moving minus truth, x and y, px), their scatter, median error,
  the same for the stronger and weaker half by the detector's response at the
  fixed keypoint, the RMSE that the inliers' mean offset alone would give, and
  the registration RMSE with the refinement off and on;
- ``rmse``: :func:`sarfeat.register` RMSE of the Labrador warps, the
  development pairs and the turned pairs of ``eval_registration.py`` (the
  figures that decide whether a matcher change helps the cross-polarised
  pair without hurting the others), for a given RANSAC seed;
- ``warps``: :func:`sarfeat.register` RMSE of VV against VH under ``--count``
  random warps (scale 0.8-1.25, turned up to 30 degrees either way, shifted up
  to 30 px; ``--seed`` draws them), with ``--every-window`` the sub-pixel
  refit as it was before windows were chosen by their correlation (every
  window used, no share needed): a larger sample than the five fixed warps.

Run from the repository root::

    SARFEAT_DATA_DIR=../shared/data PYTHONPATH=. python benchmarks/eval_crosspol.py tiepoints
    SARFEAT_DATA_DIR=../shared/data PYTHONPATH=. python benchmarks/eval_crosspol.py rmse \\
        --seed 0 --json rmse0.json
    SARFEAT_DATA_DIR=../shared/data PYTHONPATH=. python benchmarks/eval_crosspol.py warps \\
        --count 30 --seed 7 [--every-window]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.benchmark_registration import (  # noqa: E402
    WARPS, development_pair, score, synthetic_pair,
)


def _offsets(residuals: np.ndarray) -> dict:
    """Count, mean offset (x, y), scatter (x, y) and median length of (N, 2) residuals."""
    return {"n": len(residuals), "mean": residuals.mean(axis=0).round(2).tolist(),
            "sd": residuals.std(axis=0).round(2).tolist(),
            "median_error": round(float(np.median(np.hypot(*residuals.T))), 2)}


def tiepoint_rows() -> list[dict]:
    """One row per warp (and the identity) of the Labrador VV/VH pair; see the module doc."""
    from scipy.spatial import cKDTree
    from skimage.transform import AffineTransform

    from sarfeat import CoarseFineMatcher
    from sarfeat.data import load_sar_scene
    from sarfeat.matching.geometry import apply_matrix
    from sarfeat.metrics import registration_rmse

    scene = load_sar_scene("labrador")
    pairs = {"identity": (scene[..., 0], scene[..., 1], np.eye(3))}
    pairs.update({name: synthetic_pair("labrador", name) for name in WARPS})
    keypoint_only, refined = CoarseFineMatcher(rng=0, subpixel=False), CoarseFineMatcher(rng=0)
    detector = keypoint_only._detector(**keypoint_only.fine_settings.detector_settings())
    rows = []
    for name, (fixed, moving, truth) in pairs.items():
        found = keypoint_only.match_result(fixed, moving)
        first = found.keypoints1[found.matches[:, 0]].astype(float)
        second = found.keypoints2[found.matches[:, 1], ::-1].astype(float)
        residuals = second - apply_matrix(truth, first[:, ::-1])
        inliers = found.inliers
        detector.detect_and_extract(keypoint_only._normalized(fixed, "image1"))
        distance, index = cKDTree(np.asarray(detector.keypoints, float)).query(first)
        response = np.where(distance < 0.05, np.asarray(detector.responses, float)[index], np.nan)
        known = inliers & np.isfinite(response)
        strong = known & (response > np.median(response[known]))
        moved = truth.copy()
        moved[:2, 2] += residuals[inliers].mean(axis=0)
        shape = fixed.shape, moving.shape
        rows.append({
            "pair": name, "voted": len(inliers), "inliers": _offsets(residuals[inliers]),
            "strong": _offsets(residuals[strong]), "weak": _offsets(residuals[known & ~strong]),
            "mean_offset_alone_rmse": registration_rmse(AffineTransform(matrix=moved), truth,
                                                        *shape),
            "rmse_keypoints": registration_rmse(found.model, truth, *shape),
            "rmse_refined": registration_rmse(refined.match_result(fixed, moving).model, truth,
                                              *shape),
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def rmse_rows(seed: int) -> dict:
    """register() RMSE (px, inf when refused) of the Labrador warps, development pairs and
    turned pairs, with the matcher's RANSAC seed ``seed``."""
    import benchmarks.benchmark_registration as registration
    from benchmarks.eval_registration import ROTATION_PAIRS, ROTATIONS, _turned
    from sarfeat import CoarseFineMatcher
    from sarfeat.data import DEVELOPMENT_PAIRS

    registration._matcher = lambda weights=None: CoarseFineMatcher(weights, rng=seed)
    pairs = {f"labrador/{name}": lambda name=name: synthetic_pair("labrador", name)
             for name in WARPS}
    pairs.update({pair: lambda pair=pair: development_pair(pair) for pair in DEVELOPMENT_PAIRS})
    for pair in ROTATION_PAIRS:
        for degrees in ROTATIONS:
            def turned(pair=pair, degrees=degrees):
                fixed, moving, reference = development_pair(pair)
                image, turn = _turned(moving, degrees)
                return fixed, image, turn @ reference
            pairs[f"{pair}{degrees}"] = turned
    rows = {}
    for name, load in pairs.items():
        rows[name] = score(*load())["rmse"]
        print(f"{name:22s} {rows[name]:.3f}", flush=True)
    return rows


def warp_rows(count: int, seed: int, every_window: bool) -> list[dict]:
    """RMSE of VV against VH under ``count`` random warps; see the module doc."""
    from skimage.transform import AffineTransform, warp

    import sarfeat
    from sarfeat.data import load_sar_scene
    from sarfeat.matching import subpixel
    from sarfeat.metrics import registration_rmse

    if every_window:  # the refit before min_correlation: benchmarks only
        defaults = [subpixel.SubpixelSettings(min_correlation=-1.0, min_correlated_share=0.0)
                    if isinstance(value, subpixel.SubpixelSettings) else value
                    for value in subpixel.refine_by_correlation.__defaults__]
        subpixel.refine_by_correlation.__defaults__ = tuple(defaults)
    scene = load_sar_scene("labrador")
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        truth = AffineTransform(scale=(rng.uniform(0.8, 1.25),) * 2,
                                rotation=np.deg2rad(rng.uniform(-30, 30)),
                                translation=rng.uniform(-30, 30, 2))
        moving = warp(scene[..., 1], truth.inverse, order=1, cval=np.nan,
                      preserve_range=True).astype(np.float32)
        try:
            result = sarfeat.register(scene[..., 0], moving)
            rmse = float(registration_rmse(result.transform, truth.params,
                                           scene.shape[:2], moving.shape))
        except ValueError:  # refused
            rmse = None
        rows.append({"warp": index, "rmse_px": rmse})
        print(index, "refused" if rmse is None else f"{rmse:.3f} px", flush=True)
    done = [row["rmse_px"] for row in rows if row["rmse_px"] is not None]
    if done:
        print(f"{len(done)} of {count} registered: median {np.median(done):.3f} px, "
              f"mean {np.mean(done):.3f} px, max {np.max(done):.3f} px")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", choices=("tiepoints", "rmse", "warps"))
    parser.add_argument("--seed", type=int, default=0,
                        help="the matcher's rng (rmse), the warps' (warps)")
    parser.add_argument("--count", type=int, default=30, help="warps drawn (warps)")
    parser.add_argument("--every-window", action="store_true",
                        help="warps: the sub-pixel refit on every window, as before")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    if args.report == "warps":
        rows = warp_rows(args.count, args.seed, args.every_window)
    else:
        rows = tiepoint_rows() if args.report == "tiepoints" else rmse_rows(args.seed)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
