"""Run AROSICS (global COREG and COREG_LOCAL) on one GeoTIFF pair; print JSON.

Runs in a Python that has AROSICS (not sarfeat's): see compare_arosics.py.
Usage: python arosics_probe.py REFERENCE TARGET OUT_PREFIX WINDOW
"""
from __future__ import annotations

import json
import sys
import time
import warnings


def main() -> None:
    """Run both modes on the pair given on the command line; print their results as JSON."""
    warnings.simplefilter("ignore")
    from arosics import COREG, COREG_LOCAL

    ref, tgt, out, ws = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    res = {}
    t = time.perf_counter()
    try:
        cr = COREG(ref, tgt, path_out=out + ".global.tif", ws=(ws, ws), q=True, fmt_out="GTIFF")
        cr.calculate_spatial_shifts()
        cr.correct_shifts()
        res["global"] = dict(ok=bool(cr.success), x_shift_px=cr.x_shift_px,
                             y_shift_px=cr.y_shift_px, x_shift_map=cr.x_shift_map,
                             y_shift_map=cr.y_shift_map,
                             updated_map_info=[str(v) for v in cr.updated_map_info],
                             seconds=time.perf_counter() - t)
    except Exception as e:
        res["global"] = dict(ok=False, error=f"{type(e).__name__}: {e}",
                             seconds=time.perf_counter() - t)
    t = time.perf_counter()
    try:
        crl = COREG_LOCAL(ref, tgt, grid_res=max(16, ws // 4), window_size=(ws, ws),
                          path_out=out + ".local.tif", q=True, fmt_out="GTIFF", CPUs=1)
        crl.correct_shifts()
        table = crl.CoRegPoints_table
        good = table[table["OUTLIER"] == False] if "OUTLIER" in table else table  # noqa: E712
        good = good[good["X_SHIFT_M"] != -9999]
        res["local"] = dict(ok=True, points=len(table), valid=len(good),
                            X=good["X_MAP"].tolist(), Y=good["Y_MAP"].tolist(),
                            dx=good["X_SHIFT_M"].tolist(), dy=good["Y_SHIFT_M"].tolist(),
                            seconds=time.perf_counter() - t)
    except Exception as e:
        res["local"] = dict(ok=False, error=f"{type(e).__name__}: {e}",
                            seconds=time.perf_counter() - t)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
