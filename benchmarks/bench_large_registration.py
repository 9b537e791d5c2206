"""Registration of a large synthetic pair: time and peak memory, sarfeat against OpenCV SIFT.

The scene is random multi-scale texture (log-normal, so structure at every
scale and nowhere a repeat), the fixed image that scene times unit-mean
Gamma(4) speckle, the moving image the scene warped by a known affine map
(scale 0.97, 4 degrees, 2 degrees of shear, a shift) times independent
speckle; both float32 intensities, NaN outside. Each method runs in a fresh
process that loads the two images from ``.npy`` files, so its peak resident
memory (``VmHWM``, the child's own high-water mark; ``ru_maxrss`` would also count
the parent's memory at the fork) is its own: the images, the method and its
libraries.

- ``sarfeat``: ``sarfeat.register(fixed, moving, rng=0, progress=False)``.
- ``OpenCV SIFT``: the strongest 20,000 keypoints of ``cv2.SIFT_create`` on the
  8-bit images (sarfeat's normalisation, timed too), FLANN (kd-tree) matching
  with Lowe's ratio 0.8, ``cv2.estimateAffine2D`` (RANSAC, 3 px).

Accuracy is the RMSE of each transform on a 20 x 20 grid against the truth.
Times are also given per megapixel (constant when time grows in proportion to
the pixels), with the machine's one-minute load average after each run.

Run from the repository root (about a minute per method and size on an idle
2-core CPU; machines shared with other work are several times slower)::

    PYTHONPATH=. python benchmarks/bench_large_registration.py --sizes 4096 8192 \\
        --json large.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/, sarfeat/
from benchmarks.common import peak_rss_mib  # noqa: E402

#: The known warp, fixed (x, y) -> moving (x, y), about the image centre.
WARP = {"scale": 0.97, "rotation": 4.0, "shear": 2.0, "shift": (23.0, -17.0)}


def warp_matrix(size: int) -> np.ndarray:
    """The 3x3 matrix of :data:`WARP` for a ``size`` x ``size`` image."""
    from skimage.transform import AffineTransform

    centre = (size - 1) / 2
    linear = AffineTransform(scale=WARP["scale"], rotation=np.deg2rad(WARP["rotation"]),
                             shear=np.deg2rad(WARP["shear"])).params
    to_origin = AffineTransform(translation=(-centre, -centre)).params
    back = AffineTransform(translation=np.add(centre, WARP["shift"])).params
    return back @ linear @ to_origin


def scene(size: int, seed: int = 0) -> np.ndarray:
    """Log-normal multi-scale texture, float32, mean about 1."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = np.zeros((size, size), np.float32)
    for sigma, weight in ((1.5, 0.6), (4.0, 1.0), (12.0, 1.4), (36.0, 1.6)):
        noise = rng.standard_normal((size, size), dtype=np.float32)
        smooth = ndimage.gaussian_filter(noise, sigma, output=np.float32)
        smooth *= weight / smooth.std()
        field += smooth
        del noise, smooth
    field *= 0.5
    np.exp(field, out=field)
    return field


def large_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fixed, moving, truth) of :data:`WARP` on a ``size`` x ``size`` synthetic scene."""
    from skimage.transform import ProjectiveTransform, warp

    rng = np.random.default_rng(seed + 1)
    truth = warp_matrix(size)
    base = scene(size, seed)
    moving = warp(base, ProjectiveTransform(matrix=np.linalg.inv(truth)), order=1, cval=np.nan,
                  preserve_range=True).astype(np.float32)
    moving *= rng.gamma(4.0, 0.25, moving.shape).astype(np.float32)
    base *= rng.gamma(4.0, 0.25, base.shape).astype(np.float32)
    return base, moving, truth


#: Environment variable that carries ``--weights`` to the child processes.
WEIGHTS_ENV = "SARFEAT_BENCH_WEIGHTS"


def _run_sarfeat(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    from sarfeat import register

    weights = os.environ.get(WEIGHTS_ENV) or None
    return register(fixed, moving, weights=weights, rng=0, progress=False).transform.params


def _run_sift(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    import cv2

    from sarfeat import normalize_sar

    images = []
    for image in (fixed, moving):
        normalized = normalize_sar(image).image
        images.append(np.round(np.nan_to_num(normalized, nan=0.0) * 255).astype(np.uint8))
    sift = cv2.SIFT_create(nfeatures=20000)
    (k1, d1), (k2, d2) = (sift.detectAndCompute(image, None) for image in images)
    flann = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 50})
    pairs = [m for m, n in flann.knnMatch(d1, d2, k=2) if m.distance < 0.8 * n.distance]
    source = np.float32([k1[m.queryIdx].pt for m in pairs])
    target = np.float32([k2[m.trainIdx].pt for m in pairs])
    matrix, _ = cv2.estimateAffine2D(source, target, method=cv2.RANSAC,
                                     ransacReprojThreshold=3.0)
    return np.r_[matrix, [[0.0, 0.0, 1.0]]]


def _child(method: str, folder: str) -> None:
    """Run one method on the saved pair; print its JSON line."""
    fixed = np.load(Path(folder) / "fixed.npy")
    moving = np.load(Path(folder) / "moving.npy")
    started, cpu = time.perf_counter(), time.process_time()
    matrix = (_run_sarfeat if method == "sarfeat" else _run_sift)(fixed, moving)
    seconds = time.perf_counter() - started
    peak = peak_rss_mib() * 2**20
    print(json.dumps({"matrix": matrix.tolist(), "seconds": seconds,
                      "cpu_seconds": time.process_time() - cpu, "peak_bytes": peak}))


def measure(size: int, methods=("sarfeat", "OpenCV SIFT")) -> dict:
    """Time, CPU time, peak memory and RMSE of each method on a ``size`` pair."""
    from sarfeat.metrics import registration_rmse

    fixed, moving, truth = large_pair(size)
    row = {"size": size}
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "fixed.npy", fixed)
        np.save(Path(folder) / "moving.npy", moving)
        del fixed, moving
        for method in methods:
            key = "sarfeat" if method == "sarfeat" else "sift"
            out = subprocess.run([sys.executable, __file__, "--child", key, folder],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                row[method] = {"error": out.stderr.strip().splitlines()[-1:]}
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["rmse"] = registration_rmse(np.array(result.pop("matrix")), truth,
                                               (size, size), (size, size))
            megapixels = size * size / 1e6
            result["seconds_per_megapixel"] = result["seconds"] / megapixels
            result["cpu_seconds_per_megapixel"] = result["cpu_seconds"] / megapixels
            result["load_average"] = os.getloadavg()[0]  # the machine's load over the last minute
            row[method] = result
    if "error" not in row.get("sarfeat", {"error": 1}) and \
            "error" not in row.get("OpenCV SIFT", {"error": 1}):
        row["time_ratio"] = row["sarfeat"]["seconds"] / row["OpenCV SIFT"]["seconds"]
        row["cpu_ratio"] = row["sarfeat"]["cpu_seconds"] / row["OpenCV SIFT"]["cpu_seconds"]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096])
    parser.add_argument("--no-sift", action="store_true", help="skip the OpenCV SIFT peer")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--weights", default=None,
                        help="sarfeat's weights (default: the default weights), "
                             "e.g. sarfeat-sar-lite")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.weights:
        os.environ[WEIGHTS_ENV] = args.weights
    if args.child:
        _child(*args.child)
        return 0
    methods = ("sarfeat",) if args.no_sift else ("sarfeat", "OpenCV SIFT")
    rows = []
    for size in args.sizes:
        row = measure(size, methods)
        rows.append(row)
        for method in methods:
            r = row[method]
            if "error" in r:
                print(f"{size:6d} {method:12s} failed: {r['error']}")
                continue
            print(f"{size:6d} {method:12s} {r['seconds']:8.1f} s (CPU {r['cpu_seconds']:.1f} s, "
                  f"{r['cpu_seconds_per_megapixel']:.2f} s/MP) "
                  f"peak {r['peak_bytes'] / 2**30:.2f} GiB  RMSE {r['rmse']:.2f} px  "
                  f"load {r['load_average']:.1f}")
        if "time_ratio" in row:
            print(f"{size:6d} sarfeat / OpenCV SIFT: {row['time_ratio']:.1f}x wall, "
                  f"{row['cpu_ratio']:.1f}x CPU")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
