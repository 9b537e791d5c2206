"""A large Sentinel-2-like optical map and a Sentinel-1-like scene with a known offset.

Neither real scene is in the data folder, so both are built from the one Sen1Floods11
chip (512 px, Sentinel-2 L1C and Sentinel-1 VV on one grid; evaluation only, never
shipped): the chip is laid out tile by tile over a square canvas, each tile turned or
flipped at random (one of the eight symmetries of the square, the same for the optical
and the SAR tile) so that the canvas does not repeat.

``make`` writes, under ``--folder``:

- ``optical.tif``: ``SIDE`` x ``SIDE`` px, 4 bands (B2, B3, B4, B8) uint16, nodata 0,
  UTM zone 30N (EPSG:32630) at 10 m, tiled and deflate-compressed, written window by
  window (as a Sentinel-2 tile: 10980 px).
- ``sar.tif``: the SAR canvas (VV as linear intensity, float32, nodata NaN) in
  EPSG:4326 at 0.0001 deg x 0.000125 deg (about 11 m), about 0.82 x 0.73 of the optical
  tile's side, with a wedge of no-data along one edge (as a GRD swath's), its
  georeferencing off by ``--offset`` metres (east, north) in UTM: the content at map
  point m is labelled m + offset.
- ``chip.tif``: a 512 px window of the same SAR canvas, in EPSG:32630 at 10 m, off by
  the same offset (a chip to place inside the large optical map).
- ``truth.json``: the offset and the files.

``check`` reads a ``--json`` report of ``sarfeat register`` (or a ``NAME.json`` of
``register-stack``) and prints how far the transform reported is from the truth, in
metres, over the matched overlap (across the two CRSs that transform is an affine fit of
a curved map: tens of metres of it are the fit's); with ``--output`` it also measures the
registered output against the SAR canvas on the optical grid, where a perfect
registration puts it.

Run from the repository root::

    SARFEAT_DATA_DIR=/work/data_all PYTHONPATH=. python benchmarks/large_optical_sar.py \\
        make --side 10980 --folder /tmp/large
    PYTHONPATH=. python benchmarks/large_optical_sar.py check /tmp/large r.json --output out.tif \\
        --tie-points ties.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: The chip's files (SAR: VV, VH in dB; optical: Sentinel-2 L1C, 13 bands).
CHIP = ("optical_sar/sen1floods11/Spain_7370579_S1Hand.tif",
        "optical_sar/sen1floods11/Spain_7370579_S2Hand.tif")
#: Sentinel-2 bands B2, B3, B4, B8 in the chip's 13.
OPTICAL_BANDS = (1, 2, 3, 7)
#: The optical map's CRS and top-left corner (metres).
UTM = "EPSG:32630"
ORIGIN = (600000.0, 4300000.0)
PIXEL = 10.0
#: The SAR scene's pixel size in degrees (longitude, latitude).
SAR_PIXEL = (0.000125, 0.0001)


def _chip() -> tuple[np.ndarray, np.ndarray]:
    """(optical (4, 512, 512) uint16, SAR VV (512, 512) float32 linear intensity)."""
    from sarfeat.data import fetch
    from sarfeat.io import read_raster

    sar, optical = (read_raster(fetch(name)).data for name in CHIP)
    optical = np.clip(optical[list(OPTICAL_BANDS)], 1, None).astype(np.uint16)
    return optical, (10.0 ** (sar[0] / 10.0)).astype(np.float32)


def _symmetry(array: np.ndarray, k: int) -> np.ndarray:
    """One of the square's eight symmetries of the last two axes."""
    turned = np.rot90(array, k % 4, axes=(-2, -1))
    return turned[..., ::-1] if k >= 4 else turned


def _layout(side: int, chip: int, seed: int = 0) -> np.ndarray:
    """The symmetry of each tile of the canvas."""
    n = -(-side // chip)
    return np.random.default_rng(seed).integers(0, 8, size=(n, n))


def _canvas_rows(source: np.ndarray, layout: np.ndarray, row: int, side: int) -> np.ndarray:
    """One row of tiles (all columns) of the canvas made of ``source`` (..., chip, chip)."""
    tiles = [_symmetry(source, k) for k in layout[row]]
    return np.concatenate(tiles, axis=-1)[..., :side]


def _write_optical(path: Path, optical: np.ndarray, layout: np.ndarray, side: int) -> None:
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    chip = optical.shape[-1]
    profile = dict(driver="GTiff", width=side, height=side, count=optical.shape[0],
                   dtype="uint16", crs=UTM, nodata=0, tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate",
                   transform=Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1]))
    with rasterio.open(path, "w", **profile) as out:
        for r in range(layout.shape[0]):
            rows = _canvas_rows(optical, layout, r, side)
            height = min(chip, side - r * chip)
            out.write(rows[:, :height], window=Window(0, r * chip, side, height))


def _sar_canvas(sar: np.ndarray, layout: np.ndarray, side: int) -> np.ndarray:
    return np.concatenate([_canvas_rows(sar, layout, r, side) for r in range(layout.shape[0])],
                          axis=0)[:side]


def _write_sar(path: Path, canvas: np.ndarray, side: int, offset: tuple[float, float]) -> list:
    """The SAR scene in EPSG:4326, georeferenced ``offset`` metres off; its shape."""
    import rasterio
    from affine import Affine
    from rasterio.warp import Resampling, reproject, transform_bounds

    labelled = Affine(PIXEL, 0, ORIGIN[0] + offset[0], 0, -PIXEL, ORIGIN[1] + offset[1])
    west, south, east, north = transform_bounds(
        UTM, "EPSG:4326", ORIGIN[0], ORIGIN[1] - side * PIXEL, ORIGIN[0] + side * PIXEL,
        ORIGIN[1])
    # a scene over the middle and lower right of the tile, part of it outside
    width = int(0.73 * (east - west) / SAR_PIXEL[0])
    height = int(0.82 * (north - south) / SAR_PIXEL[1])
    left = west + 0.2 * (east - west)
    top = north - 0.12 * (north - south)
    transform = Affine(SAR_PIXEL[0], 0, left, 0, -SAR_PIXEL[1], top)
    scene = np.full((height, width), np.nan, np.float32)
    reproject(canvas, scene, src_transform=labelled, src_crs=UTM, src_nodata=np.nan,
              dst_transform=transform, dst_crs="EPSG:4326", dst_nodata=np.nan,
              resampling=Resampling.bilinear, num_threads=1)
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    scene[cols < 0.15 * width - 0.1 * rows * width / height] = np.nan  # a swath's slanted edge
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="float32",
                   crs="EPSG:4326", nodata=np.nan, tiled=True, blockxsize=512, blockysize=512,
                   compress="deflate", transform=transform)
    with rasterio.open(path, "w", **profile) as out:
        out.write(scene, 1)
    return [height, width]


def _write_chip(path: Path, canvas: np.ndarray, side: int, offset: tuple[float, float]) -> dict:
    """A 512 px SAR window at 40 % of the canvas, in the optical CRS, ``offset`` off."""
    import rasterio
    from affine import Affine

    r0 = c0 = int(0.4 * side)
    chip = canvas[r0:r0 + 512, c0:c0 + 512]
    transform = Affine(PIXEL, 0, ORIGIN[0] + c0 * PIXEL + offset[0], 0, -PIXEL,
                       ORIGIN[1] - r0 * PIXEL + offset[1])
    with rasterio.open(path, "w", driver="GTiff", width=chip.shape[1], height=chip.shape[0],
                       count=1, dtype="float32", crs=UTM, nodata=np.nan,
                       transform=transform) as out:
        out.write(chip, 1)
    return {"row0": r0, "col0": c0}


def make(side: int, folder: Path, offset: tuple[float, float], seed: int) -> None:
    """Write the optical map, the SAR scene, the SAR chip and the truth under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    optical, sar = _chip()
    layout = _layout(side, optical.shape[-1], seed)
    _write_optical(folder / "optical.tif", optical, layout, side)
    canvas = _sar_canvas(sar, layout, side)
    shape = _write_sar(folder / "sar.tif", canvas, side, offset)
    placed = _write_chip(folder / "chip.tif", canvas, side, offset)
    truth = {"offset_east_north_m": list(offset), "optical_side": side, "sar_shape": shape,
             "chip_window": placed, "seed": seed}
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    print(json.dumps(truth))


def _true_moving(folder: Path, report: dict, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(2, N) moving pixels that show the ground of fixed pixels (xs, ys), by the truth."""
    import rasterio
    from rasterio.warp import transform as transform_points

    dx, dy = json.loads((folder / "truth.json").read_text())["offset_east_north_m"]
    with rasterio.open(report["fixed"]) as f, rasterio.open(report["moving"]) as m:
        fixed_t, moving_t, moving_crs = f.transform, m.transform, m.crs
    east, north = fixed_t * (xs + 0.5, ys + 0.5)
    # the moving pixel labelled with the map point + offset shows the fixed pixel's ground
    lon, lat = transform_points(UTM, moving_crs, east + dx, north + dy)
    col, row = ~moving_t * (np.asarray(lon), np.asarray(lat))
    return np.stack([np.asarray(col) - 0.5, np.asarray(row) - 0.5])


def check(folder: Path, report: Path) -> dict:
    """How far the report's fixed-to-moving transform is from the truth (metres), at the
    fixed pixel centres of the matched window (a 21 x 21 lattice); how far its shift at the
    centre (``shift_map_units``) and its ``updated_geotransform`` are (metres)."""
    import rasterio
    from rasterio.warp import transform as transform_points

    truth = json.loads((folder / "truth.json").read_text())
    found = json.loads(report.read_text())
    if found.get("status") != "registered":
        return {"status": found.get("status"), "error": found.get("error")}
    total = np.asarray(found["transform_fixed_to_moving"], float)
    with rasterio.open(found["fixed"]) as f, rasterio.open(found["moving"]) as m:
        fixed_t, moving_t, moving_crs, moving_shape = f.transform, m.transform, m.crs, m.shape
    w = found["fixed_window_matched"]
    ys, xs = np.meshgrid(np.linspace(w["row0"], w["row1"] - 1, 21),
                         np.linspace(w["col0"], w["col1"] - 1, 21), indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    east, north = fixed_t * (xs + 0.5, ys + 0.5)
    dx, dy = truth["offset_east_north_m"]
    expected = _true_moving(folder, found, xs, ys)
    got = total[:2] @ np.stack([xs, ys, np.ones_like(xs)])
    # the error in metres: the moving pixels' difference at the moving grid's pixel size
    gx, gy = moving_t * (got[0] + 0.5, got[1] + 0.5)
    ge, gn = transform_points(moving_crs, UTM, np.asarray(gx), np.asarray(gy))
    error = np.hypot(np.asarray(ge) - (east + dx), np.asarray(gn) - (north + dy))
    moving_px = np.hypot(*(got - expected))
    out = {"status": "registered", "error_m_mean": float(error.mean()),
           "error_m_max": float(error.max()), "error_moving_px_max": float(moving_px.max()),
           "confidence": found.get("confidence"), "seconds": found.get("seconds"),
           "transform_fit_error_px": found.get("transform_fit_error_px")}
    shift = found["geography"]["shift_map_units"]
    out["shift_map_units_error_m"] = float(np.hypot(shift["east"] - dx, shift["north"] - dy))
    updated = found["geography"].get("updated_geotransform")
    if updated:  # the moving pixels over the window where it puts them, against the truth
        last = np.array(moving_shape)[::-1, None] - 1
        inside = np.all((expected > 0) & (expected < last), axis=0)
        col, row = expected[:, inside] + 0.5
        placed = np.array(updated["affine"][:6]).reshape(2, 3) @ np.stack(
            [col, row, np.ones_like(col)])
        pe, pn = transform_points(updated["crs"], UTM, placed[0], placed[1])
        miss = np.hypot(np.asarray(pe) - east[inside], np.asarray(pn) - north[inside])
        out["updated_geotransform"] = {"crs": updated["crs"],
                                       "error_m_mean": float(miss.mean()),
                                       "error_m_max": float(miss.max())}
    return out


def check_tie_points(folder: Path, report: Path, ties: Path) -> dict:
    """How far the tie points' moving pixels (``--tie-points`` CSV) are from those that show
    their fixed pixels' ground by the truth (moving pixels), and how far from that error
    their ``residual_px`` is (how well a residual tells a tie point's error)."""
    import csv

    with open(ties, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    column = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    expected = _true_moving(folder, json.loads(report.read_text()), column["fixed_col"],
                            column["fixed_row"])
    error = np.hypot(column["moving_col"] - expected[0], column["moving_row"] - expected[1])
    return {"tie_points": len(rows), "tie_error_px_mean": float(error.mean()),
            "tie_error_px_median": float(np.median(error)), "tie_error_px_max": float(error.max()),
            "residual_minus_error_px_max": float(np.abs(column["residual_px"] - error).max())}


def check_output(folder: Path, output: Path, windows: int = 3, side: int = 512) -> dict:
    """How far the registered output (``-o``) lies from the SAR canvas on the optical grid,
    which is where a perfect registration puts it: the shift (pixels, phase correlation of
    the log intensities, 1/20 px) of ``windows`` x ``windows`` windows of ``side`` px spread
    over the part of the output that holds data."""
    import rasterio
    from rasterio.windows import Window
    from skimage.registration import phase_cross_correlation

    truth = json.loads((folder / "truth.json").read_text())
    optical, sar = _chip()
    canvas = _sar_canvas(sar, _layout(truth["optical_side"], sar.shape[-1], truth["seed"]),
                         truth["optical_side"])
    shifts = []
    with rasterio.open(output) as out:
        rows, cols = np.nonzero(out.dataset_mask(out_shape=(64, 64)))
        scale = np.array(out.shape) / 64
        low = np.array([rows.min(), cols.min()]) * scale + side
        high = (np.array([rows.max(), cols.max()]) + 1) * scale - 2 * side
        for y in np.linspace(low[0], high[0], windows).astype(int):
            for x in np.linspace(low[1], high[1], windows).astype(int):
                found = out.read(1, window=Window(x, y, side, side))
                if not np.isfinite(found).all():
                    continue
                shift = phase_cross_correlation(np.log(canvas[y:y + side, x:x + side]),
                                                np.log(found), upsample_factor=20)[0]
                shifts.append(np.hypot(*shift))
    shifts = np.array(shifts)
    return {"output_windows": int(shifts.size), "output_shift_px_mean": float(shifts.mean()),
            "output_shift_px_max": float(shifts.max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--side", type=int, default=10980)
    m.add_argument("--folder", type=Path, required=True)
    m.add_argument("--offset", type=float, nargs=2, default=(37.0, -23.0),
                   metavar=("EAST_M", "NORTH_M"))
    m.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("folder", type=Path)
    c.add_argument("report", type=Path)
    c.add_argument("--output", type=Path, default=None,
                   help="also measure the registered output against the SAR canvas")
    c.add_argument("--tie-points", type=Path, default=None,
                   help="also measure the tie points (CSV) against the truth")
    args = parser.parse_args(argv)
    if args.command == "make":
        make(args.side, args.folder, tuple(args.offset), args.seed)
    else:
        found = check(args.folder, args.report)
        if args.output is not None:
            found.update(check_output(args.folder, args.output))
        if args.tie_points is not None:
            found.update(check_tie_points(args.folder, args.report, args.tie_points))
        print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
