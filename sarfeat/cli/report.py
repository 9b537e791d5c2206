"""What ``sarfeat register`` writes besides the image: the JSON report and the tie points."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np

from ..georeferencing import georeferenced_pixels
from ..io import Raster, atomic_path, map_coordinates
from .common import jsonable

if TYPE_CHECKING:
    from ..registration import PairInputs as Inputs

__all__ = ["Inputs", "registration_report", "failure_report", "given_options", "tie_points",
           "write_json", "write_tie_points", "updated_geotransform", "TIE_POINT_SUFFIXES",
           "raster_pixel_size", "registered_pixels", "transform_fit_error",
           "transform_fit_note", "FIT_GRID", "FIT_NOTE_PX"]

TIE_POINT_SUFFIXES = (".csv", ".geojson")
CONVENTION = ("3x3 matrices on homogeneous (x, y, 1) = (col, row, 1) pixel coordinates, integer "
              "at pixel centres; fixed_to_moving maps fixed pixels to the moving file's own "
              "pixels (the inverse_map of skimage.transform.warp)")
#: Points a side of the lattice of the matched fixed window over which the transform's fit of
#: a curved map (two CRSs) is measured.
FIT_GRID = 21
#: Moving pixels of that fit's error over which ``register -v`` says it.
FIT_NOTE_PX = 0.5


def __getattr__(name: str):
    """``Inputs``: :class:`sarfeat.registration.PairInputs`, imported when first asked for
    (the command line starts without the matcher)."""
    if name == "Inputs":
        from ..registration import PairInputs

        return PairInputs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def given_options(args, names) -> dict:
    """The options ``names`` (argparse destinations) of ``args`` as given (their defaults
    where not given, 'auto' unresolved: a report's ``network`` says what ran), so that a
    run can be repeated from its report."""
    return {name: getattr(args, name) for name in names}


def _corner(matrix: np.ndarray) -> np.ndarray:
    """A pixel-centre matrix as one on pixel corners (rasterio's convention)."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    return shift @ matrix @ np.linalg.inv(shift)


def updated_geotransform(fixed: Raster, total: np.ndarray) -> np.ndarray:
    """The moving file's corrected geotransform (2x3, pixel corners, in the fixed CRS)."""
    t = fixed.transform
    geo = np.array([[t.a, t.b, t.c], [t.d, t.e, t.f], [0, 0, 1.0]])
    corrected = geo @ np.linalg.inv(_corner(total))
    return corrected[:2] / corrected[2, 2]


def _apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    homogeneous = np.column_stack([xy, np.ones(len(xy))]) @ np.asarray(matrix).T
    return homogeneous[:, :2] / homogeneous[:, 2:]


def raster_pixel_size(raster: Raster) -> float:
    """A georeferenced raster's pixel size in map units: the square root of its
    geotransform's area per pixel (a rotated grid's too)."""
    t = raster.transform
    return float(np.sqrt(abs(t.a * t.e - t.b * t.d)))


def _matched_pixel_size(inputs: Inputs, matched: np.ndarray) -> float:
    """Map units (fixed CRS) per pixel of the moving image as matched, whose pixels the
    residuals are in: the fixed grid's for a georeferenced moving image (matched on that
    grid), else its own, sized by ``matched`` (the matched fixed -> moving pixels)."""
    size = raster_pixel_size(inputs.fixed)
    if inputs.moving.georeferenced:
        return size
    return size / float(np.sqrt(abs(np.linalg.det(matched[:2, :2]))))


def registered_pixels(inputs: Inputs, total: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Where the registration puts pixels ``xy`` (N, 2) of the fixed file in the moving
    file's own pixels: ``total``, or, for files in two CRSs (:attr:`Inputs.curved`), the exact
    map between them at the place the registration moves ``xy`` to on the fixed grid
    (:meth:`Inputs.correction`), as ``-o`` resamples them; ``total`` is its affine fit."""
    if not inputs.curved:
        return _apply(total, xy)
    corrected = _apply(inputs.correction(total), xy)
    return georeferenced_pixels(inputs.fixed, inputs.moving, corrected)


def _overlap_lattice(inputs: Inputs, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fixed pixels, their :func:`registered_pixels`) at a ``FIT_GRID`` lattice of the matched
    fixed window, those that land within the moving file (all, where none does)."""
    r0, r1, c0, c1 = inputs.window
    xy = np.stack(np.meshgrid(np.linspace(c0, c1 - 1, FIT_GRID),
                              np.linspace(r0, r1 - 1, FIT_GRID)), -1).reshape(-1, 2)
    moved = registered_pixels(inputs, total, xy)
    rows, cols = inputs.moving.shape
    inside = np.all((moved >= -0.5) & (moved <= (cols - 0.5, rows - 0.5)), axis=1)
    return (xy[inside], moved[inside]) if inside.any() else (xy, moved)


def transform_fit_error(inputs: Inputs, total: np.ndarray) -> dict | None:
    """How far ``total``, an affine (or projective) matrix, departs from the map it stands for
    between the pixels of files in two CRSs (:func:`registered_pixels`), in moving pixels:
    mean and max over the overlap; None for files in one CRS, where it is that map."""
    if not inputs.curved:
        return None
    xy, moved = _overlap_lattice(inputs, total)
    error = np.hypot(*(_apply(total, xy) - moved).T)
    return {"mean": float(error.mean()), "max": float(error.max()), "points": len(error),
            "frame": "pixels of the moving file: transform_fixed_to_moving, an affine fit, "
                     "minus the exact map between the two CRSs corrected by the registration "
                     f"(which -o and the tie points follow), at a {FIT_GRID} x {FIT_GRID} "
                     "lattice of fixed_window_matched, where it falls in the moving file"}


def transform_fit_note(inputs: Inputs, total: np.ndarray) -> str | None:
    """A line saying how far ``total`` departs from the exact map between files in two CRSs
    (:func:`transform_fit_error`), when it is over ``FIT_NOTE_PX``; else None."""
    fit = transform_fit_error(inputs, total)
    if fit is None or fit["max"] <= FIT_NOTE_PX:
        return None
    return (f"note: the report's transform is an affine fit of the map between the two CRSs, "
            f"off by up to {fit['max']:.1f} moving px over the overlap (mean "
            f"{fit['mean']:.1f}); -o and the tie points follow the exact map")


def _moving_crs_geotransform(inputs: Inputs, total: np.ndarray) -> dict:
    """The moving file's corrected geotransform in its own CRS (files in two CRSs: no
    geotransform in the fixed CRS places its pixels), fitted over the overlap."""
    xy, moved = _overlap_lattice(inputs, total)
    # the ground of fixed pixel p, shown at moving pixel moved(p), lies at the moving pixel
    # where the moving file's own georeferencing puts p
    own = georeferenced_pixels(inputs.fixed, inputs.moving, xy)
    design = np.column_stack([moved, np.ones(len(moved))])
    solution, *_ = np.linalg.lstsq(design, own, rcond=None)
    fit = np.vstack([solution.T, [0.0, 0.0, 1.0]])
    t = inputs.moving.transform
    geo = (np.array([[t.a, t.b, t.c], [t.d, t.e, t.f], [0, 0, 1.0]]) @ _corner(fit))[:2]
    return {"crs": inputs.moving.crs.to_string(), "affine": geo.ravel(),
            "gdal": [geo[0, 2], geo[0, 0], geo[0, 1], geo[1, 2], geo[1, 0], geo[1, 1]],
            "fit_error_px": float(np.hypot(*(_apply(fit, moved) - own).T).max()),
            "meaning": "geotransform (pixel corners) that places the moving file's own pixels "
                       "where they belong, in the moving file's CRS (across two CRSs none in "
                       "the fixed CRS can), within fit_error_px of the exact map over the "
                       "overlap"}


def _geography(inputs: Inputs, total: np.ndarray, rms_px: float | None,
               matched: np.ndarray) -> dict:
    """Shift and RMSE in map units, and the corrected geotransform (fixed georeferenced);
    ``matched``: the transform of the matched pixels (fixed -> moving)."""
    fixed, moving = inputs.fixed, inputs.moving
    centre = np.array([[(fixed.shape[1] - 1) / 2, (fixed.shape[0] - 1) / 2]])
    # in one frame, the fixed pixels: where the registration puts the fixed centre, against
    # where the georeferencing alone puts it (the identity without georeferencing)
    placed = _apply(inputs.correction(total), centre) if inputs.curved else \
        _apply(np.linalg.inv(inputs.georeferencing), _apply(total, centre))
    shift_px = placed[0] - centre[0]
    out = {"shift_px_at_centre": {
        "x": shift_px[0], "y": shift_px[1], "length": float(np.hypot(*shift_px)),
        "frame": "fixed pixels: the correction that the registration adds to the "
                 "georeferencing (to the identity without it) at the fixed image's centre"}}
    if not fixed.georeferenced:
        return out
    out.update(fixed_crs=fixed.crs.to_string(), fixed_geotransform=list(fixed.transform)[:6],
               map_units=fixed.crs.linear_units if fixed.crs.is_projected else "degrees",
               rmse_map_units=None if rms_px is None
               else rms_px * _matched_pixel_size(inputs, matched))
    if moving.georeferenced:
        true = map_coordinates(fixed, centre)[0]
        claimed = map_coordinates(moving, registered_pixels(inputs, total, centre),
                                  fixed.crs)[0]
        east, north = claimed - true
        out.update(moving_crs=moving.crs.to_string(),
                   moving_geotransform=list(moving.transform)[:6],
                   shift_map_units={"east": east, "north": north,
                                    "length": float(np.hypot(east, north)),
                                    "meaning": "where the moving file's georeferencing puts "
                                               "the centre of the fixed image, minus where "
                                               "the fixed file puts it"})
    if total[2, :2].any():
        out["updated_geotransform"] = None  # projective: no geotransform can express it
    elif inputs.curved:
        out["updated_geotransform"] = _moving_crs_geotransform(inputs, total)
    else:
        geo = updated_geotransform(fixed, total)
        out["updated_geotransform"] = {
            "crs": fixed.crs.to_string(), "affine": geo.ravel(),
            "gdal": [geo[0, 2], geo[0, 0], geo[0, 1], geo[1, 2], geo[1, 0], geo[1, 1]],
            "meaning": "geotransform (pixel corners) that places the moving file's own pixels "
                       "where they belong, in the fixed CRS"}
    return out


def registration_report(result, total: np.ndarray, inputs: Inputs, head: dict,
                        extra: dict | None = None) -> dict:
    """The JSON report of a registration (``head``: inputs and options).

    ``model`` (in ``head``) is the model asked for; ``model_returned`` is the one the
    transform was fitted as (``diagnostics['selected_model']``): a simpler one chosen by
    model selection, or an optical pair's similarity or affine map. ``network`` is what
    ran the keypoint network (runtime, precision and device, as chosen from 'auto'), null
    for a pair with an optical image, which is matched without it. For files in two CRSs,
    ``transform_fit_error_px`` says how far ``transform_fixed_to_moving`` (an affine fit)
    departs from the map it stands for (:func:`transform_fit_error`).
    """
    d = result.diagnostics
    fit = transform_fit_error(inputs, total)
    report = {
        **head, "status": "registered",
        "model_returned": d.get("selected_model") or head.get("model"),
        "network": d.get("network"),
        "fixed_shape": list(inputs.fixed.shape), "moving_shape": list(inputs.moving.shape),
        "transform_fixed_to_moving": total, "transform_moving_to_fixed": np.linalg.inv(total),
        "transform_convention": CONVENTION,
        **({} if fit is None else {"transform_fit_error_px": fit}),
        "georeferencing_prior": inputs.prior, "moving_resampled_for_matching": inputs.resampled,
        "fixed_window_matched": _window(inputs),
        "confidence": result.confidence, "coarse_failed": result.coarse_failed,
        "seconds": result.seconds,
        "matches": {k: d.get(k) for k in ("coarse_candidates", "coarse_inliers",
                                          "fine_candidates", "fine_inliers")},
        "residuals_px": {"median": d.get("residual_median"), "rms": d.get("residual_rms"),
                         "frame": _residual_frame(inputs)},
        "geography": _geography(inputs, total, d.get("residual_rms"), result.transform.params),
        "diagnostics": {k: v for k, v in d.items() if k != "failure"},
    }
    report.update(extra or {})
    return jsonable(report)


def _residual_frame(inputs: Inputs) -> str:
    """The pixels that the inliers' residuals are measured in: the moving image's as
    matched, the fixed grid's only when it was brought onto that grid (a georeferenced
    moving image beside a fixed image without georeferencing is matched as it is)."""
    if inputs.resampled:
        return ("pixels of the fixed grid, on which the moving image was matched (the tie "
                "points' residual_px are in the moving file's own pixels)")
    if inputs.fixed.georeferenced and inputs.moving.georeferenced:
        return "pixels of the moving file, which lies on the fixed grid"
    return "pixels of the moving file"


def _window(inputs: Inputs) -> dict:
    """The part of the fixed image that was matched (rows, cols; end excluded)."""
    r0, r1, c0, c1 = inputs.window
    return {"row0": r0, "row1": r1, "col0": c0, "col1": c1}


def failure_report(head: dict, error: BaseException, total: np.ndarray | None = None,
                   network: dict | None = None) -> dict:
    """The JSON report of a registration that failed: the reason and the failing image.

    ``total``: the transform found when the failure came after it (writing the
    output), kept so that the work is not lost. ``network``: what ran the keypoint
    network, as in a successful report; by default the one of the matcher that found no
    model or no coarse keypoint (:attr:`sarfeat.RegistrationError.diagnostics`), null when
    none ran.
    """
    text = " ".join(str(error).split()) or type(error).__name__
    if network is None:
        network = (getattr(error, "diagnostics", None) or {}).get("network")
    report = {**head, "status": "failed", "error": text, "error_type": type(error).__name__,
              "failed_image": getattr(error, "image", None), "network": network}
    if total is not None:
        report.update(failed_after_registration=True, transform_fixed_to_moving=total,
                      transform_moving_to_fixed=np.linalg.inv(total),
                      transform_convention=CONVENTION)
    return jsonable(report)


def tie_points(result, inputs: Inputs, total: np.ndarray, votes=None, max_votes=None) -> dict:
    """The inlier tie points as columns: pixels and map coordinates, residuals, score.

    The moving pixels are the matched ones in the moving file's own pixels (across two CRSs
    through the exact map between them, not ``inputs.prior``'s affine fit of it), and the
    residuals, in those pixels, are measured against :func:`registered_pixels`.
    """
    pairs = result.inlier_matches
    matched_fixed = result.keypoints_fixed[pairs[:, 0], ::-1].astype(float)
    fixed_xy = _apply(np.linalg.inv(inputs.crop), matched_fixed)  # the fixed file's pixels
    matched_xy = result.keypoints_moving[pairs[:, 1], ::-1].astype(float)
    moving_xy = inputs.moving_file_pixels(matched_xy)  # across CRSs by the exact map
    # in the moving file's pixels: where the registration puts the fixed point, minus it
    residual = registered_pixels(inputs, total, fixed_xy) - moving_xy
    matched_residual = np.hypot(*(result.transform(matched_fixed) - matched_xy).T)
    columns = {"id": np.arange(len(pairs)), "fixed_col": fixed_xy[:, 0],
               "fixed_row": fixed_xy[:, 1], "moving_col": moving_xy[:, 0],
               "moving_row": moving_xy[:, 1], "residual_col": residual[:, 0],
               "residual_row": residual[:, 1], "residual_px": np.hypot(*residual.T)}
    for name, raster, xy in (("fixed", inputs.fixed, fixed_xy), ("moving", inputs.moving,
                                                                  moving_xy)):
        if raster.georeferenced:
            mapped = map_coordinates(raster, xy)
            columns[f"{name}_x"], columns[f"{name}_y"] = mapped[:, 0], mapped[:, 1]
    if inputs.fixed.georeferenced:
        columns["residual_map"] = matched_residual * _matched_pixel_size(
            inputs, result.transform.params)
    if votes is not None:
        chosen = np.asarray(votes)[result.inliers]
        columns["votes"] = chosen
        columns["score"] = chosen / (max_votes or max(1, int(chosen.max(initial=1))))
    return columns


def write_json(path: Path, report: dict) -> None:
    """Write ``report`` to ``path`` through a temporary file."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=1), encoding="utf-8")


def write_tie_points(path: Path, columns: dict, fixed: Raster) -> None:
    """Tie points as CSV, or as GeoJSON points at the fixed map coordinates (by suffix)."""
    names = list(columns)
    rows = [dict(zip(names, values)) for values in zip(*(np.asarray(columns[n]).tolist()
                                                          for n in names))]
    with atomic_path(path) as temporary:
        if path.suffix.lower() == ".csv":
            with open(temporary, "w", newline="", encoding="utf-8") as stream:
                writer = csv.DictWriter(stream, fieldnames=names)
                writer.writeheader()
                writer.writerows(rows)
            return
        xy = np.column_stack([columns["fixed_col"], columns["fixed_row"]])
        collection = {"type": "FeatureCollection", "features": []}
        if fixed.georeferenced:  # RFC 7946: longitude, latitude (WGS 84)
            from rasterio.crs import CRS

            xy = map_coordinates(fixed, xy, CRS.from_epsg(4326))
        else:
            collection["note"] = "the fixed image has no georeferencing: geometry in pixels"
        collection["features"] = [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
             "properties": row} for point, row in zip(xy.tolist(), rows)]
        temporary.write_text(json.dumps(jsonable(collection)), encoding="utf-8")
