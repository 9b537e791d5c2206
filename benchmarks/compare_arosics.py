"""sarfeat against AROSICS on GeoTIFF pairs with a known warp (docs/registration.rst).

One command, from the repository root, with AROSICS installed in another venv::

    SARFEAT_DATA_DIR=../shared/data python benchmarks/compare_arosics.py \\
        --arosics-python /path/to/venv-with-arosics/bin/python --out /tmp/compare

Without ``--arosics-python`` only sarfeat's column is measured (AROSICS's: "not run").

The pairs are those of tests/test_cli_geotiff.py plus a pure shift: the bundled
Sentinel-1 scene, VV fixed (10 m, EPSG:32633), VH moving (independent speckle)
under a known warp. sarfeat runs through ``python -m sarfeat register``; AROSICS
through benchmarks/arosics_probe.py (global COREG: one shift; COREG_LOCAL: a grid
of local shifts). Errors are in pixels of the moving file: sarfeat and AROSICS
global by the RMSE of their fixed -> moving map over a 20 x 20 grid; AROSICS
local by the median error of its valid tie points' shifts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: What the AROSICS columns say without --arosics-python.
NOT_RUN = "not run (no --arosics-python)"


def build(folder: Path) -> dict:
    """name -> (fixed path, moving path, truth 3x3, AROSICS window, sarfeat options)."""
    from skimage.transform import AffineTransform

    sys.path.insert(0, str(ROOT / "tests"))
    import test_cli_geotiff as pairs  # the pairs of the tests (needs rasterio and pytest)

    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")
    vv, vh = scene[..., 0].astype(float), scene[..., 1].astype(float)
    fixed = folder / "fixed.tif"
    pairs.write_geotiff(fixed, vv.astype(np.float32), crs=pairs.UTM, transform=pairs.FIXED_GEO,
                        nodata=-9999.0)
    shift = AffineTransform(translation=(4.3, -2.6)).params
    moving = folder / "moving_shift.tif"
    pairs.write_geotiff(moving, pairs.moved(vh, shift, vv.shape, -9999.0), crs=pairs.UTM,
                        transform=pairs.FIXED_GEO, nodata=-9999.0)
    out = {"shift": (fixed, moving, shift, 128, [])}
    path, truth, options = pairs.same_grid_pair(folder, vv, vh)
    out["turn 2 deg + shift, 3 bands int16"] = (fixed, path, truth, 128, options)
    path, truth, options = pairs.coarse_pair(folder, vv, vh)
    out["20 m vs 10 m"] = (Path(options[1]), path, truth, 256, [])
    path, truth, _ = pairs.geographic_pair(folder, vv, vh)
    out["EPSG:4326 vs 32633"] = (fixed, path, truth, 128, [])
    return out


def run_sarfeat(fixed, moving, prefix: Path, options: list) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "sarfeat", "register", str(fixed), str(moving),
                           "-o", f"{prefix}.sarfeat.tif", "--json", f"{prefix}.sarfeat.json",
                           "-q", "--overwrite", *options], cwd=ROOT, capture_output=True,
                          text=True)  # --overwrite: a rerun into the same --out
    seconds = time.perf_counter() - started
    report = json.loads(Path(f"{prefix}.sarfeat.json").read_text())
    if done.returncode:
        return {"error": report.get("error"), "seconds": seconds}
    return {"matrix": np.array(report["transform_fixed_to_moving"]), "seconds": seconds}


def run_arosics(python: str | None, fixed, moving, prefix: Path, window: int) -> dict:
    if python is None:  # sarfeat's column alone
        return {"global": {"error": NOT_RUN}, "local": {"error": NOT_RUN}}
    probe = ROOT / "benchmarks" / "arosics_probe.py"
    done = subprocess.run([python, str(probe), str(fixed), str(moving), str(prefix),
                           str(window)], capture_output=True, text=True, timeout=1800)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"global": {"error": done.stderr[-300:]}, "local": {"error": done.stderr[-300:]}}


def local_error(result: dict, fixed, moving, truth) -> tuple[float, int]:
    """Median error (moving px) of AROSICS's valid local shifts against the truth."""
    from skimage.transform import AffineTransform

    from sarfeat.io import map_coordinates, read_raster

    ref, mov = read_raster(fixed), read_raster(moving)
    points = np.column_stack([result["X"], result["Y"]])
    if not len(points):
        return float("nan"), 0
    inverse = ~ref.transform
    pixels = np.column_stack([inverse.a * points[:, 0] + inverse.b * points[:, 1] + inverse.c,
                              inverse.d * points[:, 0] + inverse.e * points[:, 1] + inverse.f])
    pixels -= 0.5
    q = AffineTransform(matrix=truth)(pixels)
    claimed = map_coordinates(mov, q, ref.crs)
    truth_shift = claimed - points  # where the target's georeferencing puts the ground, minus
    estimate = -np.column_stack([result["dx"], result["dy"]])
    size = abs(ref.transform.a)
    return float(np.median(np.hypot(*(estimate - truth_shift).T)) / size), len(points)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arosics-python",
                        help="the Python of a venv with AROSICS (without it, sarfeat alone)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sarfeat-vs-arosics"))
    args = parser.parse_args(argv)
    if args.arosics_python is not None and not Path(args.arosics_python).is_file():
        parser.error(f"--arosics-python {args.arosics_python}: no such file (leave it out to "
                     f"measure sarfeat alone)")
    from sarfeat.io import read_raster
    from sarfeat.metrics import registration_rmse

    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (fixed, moving, truth, window, options) in build(args.out).items():
        prefix = args.out / "".join(c if c.isalnum() else "_" for c in name)
        fixed_shape, moving_shape = read_raster(fixed).shape, read_raster(moving).shape
        ours = run_sarfeat(fixed, moving, prefix, options)
        ours_rmse = registration_rmse(ours["matrix"], truth, fixed_shape, moving_shape) \
            if "matrix" in ours else float("inf")
        theirs = run_arosics(args.arosics_python, fixed, moving, prefix, window)
        glob = theirs.get("global", {})
        if glob.get("ok"):
            ref, mov = read_raster(fixed), read_raster(moving)
            glob_rmse = _global_rmse(glob, ref, mov, truth)
        else:
            glob_rmse = float("inf")
        local = theirs.get("local", {})
        local_err, local_n = local_error(local, fixed, moving, truth) if local.get("ok") \
            else (float("nan"), 0)
        rows.append((name, ours_rmse, ours["seconds"], glob_rmse, glob.get("seconds"),
                     glob.get("error", ""), local_err, local_n, local.get("seconds"),
                     local.get("error", "")))
    print("| pair | sarfeat RMSE px (s) | AROSICS global RMSE px (s) | AROSICS local median "
          "px, valid points (s) |")
    print("|---|---|---|---|")
    for name, o, os_, g, gs, ge, le, ln, ls, lerr in rows:
        g_text = (f"{g:.2f} ({gs:.1f})" if np.isfinite(g)
                  else "not run" if ge == NOT_RUN else f"failed: {ge[:80]}")
        l_text = (f"{le:.2f}, {ln} ({ls:.1f})" if ln
                  else "not run" if lerr == NOT_RUN else f"no valid point {lerr[:60]}")
        print(f"| {name} | {o:.2f} ({os_:.1f}) | {g_text} | {l_text} |")


def _global_rmse(glob: dict, ref, mov, truth) -> float:
    """RMSE of AROSICS's one shift (its x/y_shift_map, reference CRS) against the truth."""
    from sarfeat.io import pixel_map
    from sarfeat.metrics import registration_rmse

    prior = pixel_map(ref, mov)  # fixed px -> moving px by the target's own georeferencing
    # AROSICS moves the target by -(x_shift_map, y_shift_map): a fixed point p is found in the
    # target where its georeferencing puts p + that shift
    shift_px = np.array([glob["x_shift_map"] / ref.transform.a,
                         glob["y_shift_map"] / ref.transform.e])
    to_shifted = np.array([[1, 0, -shift_px[0]], [0, 1, -shift_px[1]], [0, 0, 1.0]])
    estimate = prior @ to_shifted
    return registration_rmse(estimate, truth, ref.shape, mov.shape)


if __name__ == "__main__":
    main()
