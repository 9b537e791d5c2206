"""Optical-SAR registration on the 3MOS development pairs: sarfeat against peers.

``--set 3mos`` (the default): each pair is an optical 3MOS tile (fixed) and its
co-registered SAR tile turned by up to 90 degrees, scaled by 0.7-1.4 and shifted
by up to 20 px (the moving image; see :mod:`optical_sar_pairs`). Methods:

- ``sarfeat``: :func:`sarfeat.register` with ``modality='optical-sar'``; a
  refused pair (:class:`sarfeat.RegistrationError`) returns no transform;
  ``sarfeat-upright`` (not in the default list) the same, told the pair is
  upright (``rotations=(0,), angle_step=None``: the search of georeferenced
  pairs; for the nine real pairs of StaRainJ and CFOG, none of which is turned);
  ``sarfeat-any-turn`` (not in the default list either) every 15 degrees of the
  whole circle (``sarfeat register --turns any`` with an optical image; the
  default search stops at +-90 degrees); ``sarfeat-widest`` the whole circle and
  the scales 0.5-2 (``--turns any --scales wide``); ``sarfeat-wide-scales``
  the scales 0.5-2 alone (for ``--scale-range 0.5 2``: the warps' scales);
  ``sarfeat-narrow-scales`` the scales 0.71-1.41 that the default searched
  until the ninth session (:data:`NARROW_SCALES`, for comparison);
  ``sarfeat-told-pose`` told the pair's turn and scale as two georeferenced
  images tell them, with their errors: the truth's turn and scale, off by up to
  ``TOLD_TURN_ERROR`` degrees and ``TOLD_SCALE_ERROR`` octaves (drawn per pair,
  seeded by its name; :func:`told_pose`); the search then finds the shift and
  refines turn and scale about the told ones (a real pair is told those of its truth);
  ``sarfeat-affine`` and ``sarfeat-told-pose-affine``: ``sarfeat`` and
  ``sarfeat-told-pose`` with ``dense_model='affine'`` (the polish stretched into an
  affine map where that correlates clearly better), for the stretched pairs of
  ``--stretch S`` (each similarity after a stretch ``[[1 + p, q], [q, 1 - p]]`` of
  the optical tile, p and q uniform in +-S); ``sarfeat-two-way``: ``sarfeat``
  checked by the pair the other way round, told the answer's turn and scale
  (:func:`register_two_way`; a check measured, not the matcher's);
- ``sift``, ``akaze``: OpenCV SIFT / AKAZE on 8-bit views, ratio test 0.8,
  ``cv2.estimateAffine2D`` with RANSAC at 3 px; they return a transform when
  RANSAC finds one with at least 6 inliers.
- ``rift2`` (optional, not in the default list): a Python port of RIFT2 (Li et
  al., 2023), run from a checkout outside sarfeat named by the environment
  variable ``RIFT2_PYTHON_DIR`` (:func:`load_rift2`). The port measured,
  RicPedre/RIFT2-python at ab6d95f, has no licence: sarfeat neither ships nor
  depends on it, and runs it for evaluation only. Its default detector and
  descriptor on the same 8-bit views, its own nearest-neighbour matching as in
  its demo (ratio 0.95, not mutual); the transform is then estimated exactly
  as for the OpenCV peers (``cv2.estimateAffine2D``, RANSAC at 3 px, at least
  6 inliers: :func:`peer_affine`) instead of the port's MAGSAC homography, so
  that all peers share one estimator and one acceptance rule. Its description
  runs in one process (its joblib pool is made sequential): 7-13 CPU s per
  256 x 256 pair (median 8.7). Besides sarfeat's own packages it needs
  ``joblib``, ``pyyaml`` and ``matplotlib`` (``pyfftw`` for speed).

``--set canvas``: the same tiles the other way round, as EOSS's pairs are made
and as issue 21 describes its acceptance pairs (optical images 155-511 px
against 256 px SAR; :func:`optical_sar_pairs.canvas_pairs`):
the optical tile (fixed) turned by up to 90 degrees and scaled by 0.5-2 onto a
canvas of 256 x scale pixels with black corners, the SAR tile (moving) as it
is; pixel sizes differ by up to 2 either way. The error is measured in SAR
pixels, as for the other pairs (moving image).

With ``--alignment FILE`` (the JSON of ``check_3mos_alignment.py``), pairs whose
tiles are themselves 3 px or more apart in the data are counted as published
and also reported apart (``wrong_returned_on_misaligned_tiles``), and every
answer is scored a second time against the **re-aligned truth**: the published
one moved by the tile pair's re-aligned offset where it has one (the mutual
information offset of the unwarped tiles, confirmed by the structure offset;
:func:`realigned_truth`). The summary then has a ``realigned`` block beside the
published figures, and each pair's row a sixth entry, its RMSE against it; and
a ``sure_truth`` block: the re-aligned figures of the pairs whose two alignment
measures agree within 1.5 px (:func:`sure_truth_pairs`), where a 3 px criterion
judges the answer rather than the truth.

``--set real``: the 30 real optical-SAR pairs of three public repositories
(:mod:`real_optical_sar_pairs`; evaluation only, never tuning), the optical
image fixed, the SAR image moving, at native size (291-1011 px); the error is
the RMSE of the returned transform against the truth over the published
landmarks or control points (sarfeat's grid when a pair has none), and the
reason of every sarfeat refusal is printed and kept in the JSON.

Per method: pairs registered within 3 px (RMSE on sarfeat's 20 x 20 grid,
:func:`sarfeat.metrics.registration_rmse`), median RMSE of those, wrong
transforms returned (RMSE above 3 px), refusals, and CPU seconds per pair
(``time.process_time`` of the call, which a shared machine disturbs less than
wall time; wall seconds are printed too).

Run ``SARFEAT_DATA_DIR=<folder with optical_sar/3mos> python
benchmarks/eval_optical_sar.py --split held_out [--limit N] [--upscale 2]``, or
``SARFEAT_DATA_DIR=<folder with optical_sar/starainj, optical_sar/cfog and
optical_sar/eoss> python benchmarks/eval_optical_sar.py --set real``;
add RIFT2 with ``RIFT2_PYTHON_DIR=<checkout> ... --methods sarfeat,sift,akaze,rift2``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import sys
import time
import zlib
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_3mos_alignment import truth_is_sure  # noqa: E402
from optical_sar_pairs import (SCALE_RANGE, TILE_SOURCES, canvas_pairs,  # noqa: E402
                               development_pairs)
from real_optical_sar_pairs import (CFOG_PAIRS, EOSS_PAIRS, PAIR_NAMES,  # noqa: E402
                                    STARAINJ_PAIRS, landmark_rmse, real_pairs)

import sarfeat  # noqa: E402
from sarfeat.cli.register import WHOLE_CIRCLE  # noqa: E402
from sarfeat.matching.dense import WIDE_SCALES  # noqa: E402
from sarfeat.matching.geometry import rotation_scale  # noqa: E402
from sarfeat.metrics import registration_rmse  # noqa: E402

#: Least RANSAC inliers for a peer to return a transform.
PEER_MIN_INLIERS = 6


def _to_uint8(image: np.ndarray) -> np.ndarray:
    valid = np.isfinite(image)
    low, high = np.percentile(image[valid], [1, 99])
    out = np.clip((np.where(valid, image, low) - low) / max(high - low, 1e-6) * 255, 0, 255)
    return out.astype(np.uint8)


def peer_affine(source: np.ndarray, target: np.ndarray):
    """The peers' one estimator: 3x3 affine source -> target, or None.

    ``cv2.estimateAffine2D`` with RANSAC at 3 px; None when it finds no model
    or fewer than :data:`PEER_MIN_INLIERS` inliers.
    """
    import cv2

    matrix, inliers = cv2.estimateAffine2D(np.float32(source), np.float32(target),
                                           method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if matrix is None or inliers is None or inliers.sum() < PEER_MIN_INLIERS:
        return None
    return np.vstack([matrix, [0, 0, 1]])


def register_opencv(fixed: np.ndarray, moving: np.ndarray, kind: str):
    """(3x3 fixed -> moving matrix or None) by OpenCV SIFT or AKAZE + RANSAC."""
    import cv2

    feature = cv2.SIFT_create() if kind == "sift" else cv2.AKAZE_create()
    norm = cv2.NORM_L2 if kind == "sift" else cv2.NORM_HAMMING
    k1, d1 = feature.detectAndCompute(_to_uint8(fixed), None)
    k2, d2 = feature.detectAndCompute(_to_uint8(moving), None)
    if d1 is None or d2 is None or len(k1) < 3 or len(k2) < 3:
        return None
    pairs = cv2.BFMatcher(norm).knnMatch(d1, d2, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 3:
        return None
    source = np.float32([k1[m.queryIdx].pt for m in good])
    target = np.float32([k2[m.trainIdx].pt for m in good])
    return peer_affine(source, target)


def register_sarfeat(fixed: np.ndarray, moving: np.ndarray, refusals: list | None = None,
                     **options):
    """(3x3 fixed -> moving matrix or None) by sarfeat; a refusal's message goes to ``refusals``.

    ``options`` go to :func:`sarfeat.register` (``sarfeat-upright``: ``rotations=(0,),
    angle_step=None``, the search of a pair known to be upright).
    """
    try:
        result = sarfeat.register(fixed, moving, modality="optical-sar", rng=0, progress=False,
                                  **options)
    except sarfeat.RegistrationError as error:
        if refusals is not None:
            refusals.append(str(error))
        return None
    return result.transform.params


#: Largest gap (px, RMSE on the SAR image's grid) between an answer and the reverse
#: registration told its pose that ``sarfeat-two-way`` accepts.
TWO_WAY_GAP = 2.0


def register_two_way(fixed: np.ndarray, moving: np.ndarray, refusals: list | None = None,
                     gap: float = TWO_WAY_GAP):
    """``sarfeat``, then the pair the other way round (``modality='sar-optical'``) told the
    turn and scale of the answer's inverse: the answer is kept when the two agree within
    ``gap`` px on the SAR image's grid, else refused (a check tried in the twenty-first
    session and not kept in the matcher: ``benchmarks/README.md``)."""
    matrix = register_sarfeat(fixed, moving, refusals)
    if matrix is None:
        return None
    inverse = np.linalg.inv(matrix)
    angle, scale = rotation_scale(inverse)[:2]
    try:
        reverse = sarfeat.register(moving, fixed, modality="sar-optical", rng=0,
                                   progress=False, rotations=(float(angle),),
                                   angle_step=None, dense_scales=(float(scale),))
    except sarfeat.RegistrationError as error:
        if refusals is not None:
            refusals.append(f"the reverse registration refused: {error}")
        return None
    apart = registration_rmse(reverse.transform.params, inverse, moving.shape, fixed.shape)
    if apart > gap:
        if refusals is not None:
            refusals.append(f"the reverse registration is {apart:.2f} px from the answer")
        return None
    return matrix


#: Environment variable naming a checkout of a Python RIFT2 port (``src/RIFT2.py``).
RIFT2_ENV = "RIFT2_PYTHON_DIR"


def load_rift2():
    """The ``RIFT2`` class and ``match_keypoints_nn`` of the checkout in ``$RIFT2_PYTHON_DIR``.

    The checkout's root goes on ``sys.path`` and its ``src.RIFT2`` and
    ``src.matcher_functions`` modules are imported, as its ``demo.py`` does.

    Raises
    ------
    RuntimeError
        When the variable is unset, does not name such a checkout, or the port
        does not import (a package it needs is missing).
    """
    folder = os.environ.get(RIFT2_ENV, "")
    how = (f"set {RIFT2_ENV} to a checkout of a Python RIFT2 port with src/RIFT2.py and "
           "src/matcher_functions.py (e.g. git clone https://github.com/RicPedre/RIFT2-python; "
           "it has no licence: evaluation only, sarfeat neither ships nor depends on it), "
           "with joblib, pyyaml and matplotlib installed")
    if not folder:
        raise RuntimeError(f"method 'rift2' needs the RIFT2 port: {how}")
    root = Path(folder).expanduser().resolve()
    if not (root / "src" / "RIFT2.py").is_file():
        raise RuntimeError(f"{RIFT2_ENV}={folder} has no src/RIFT2.py: {how}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        rift2 = importlib.import_module("src.RIFT2")
        matcher = importlib.import_module("src.matcher_functions")
    except ImportError as error:
        raise RuntimeError(f"the RIFT2 port in {root} does not import ({error}): {how}") \
            from error
    return rift2.RIFT2, matcher.match_keypoints_nn


def register_rift2(fixed: np.ndarray, moving: np.ndarray):
    """(3x3 fixed -> moving matrix or None) by the RIFT2 port, then RANSAC as the OpenCV peers.

    The port's default pipeline on the 8-bit views, its nearest-neighbour
    matching with ratio 0.95 (its demo's setting), then
    ``cv2.estimateAffine2D`` with RANSAC at 3 px and at least
    :data:`PEER_MIN_INLIERS` inliers (:func:`peer_affine`, as the OpenCV peers), so
    that the comparison is fair. The port's joblib pool runs sequentially (one
    core, and CPU time is then counted) and its prints and progress bars are
    kept off the benchmark's output.
    """
    import joblib

    rift2_class, match_nn = load_rift2()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            joblib.parallel_config(backend="sequential"):
        k1, d1, k2, d2 = rift2_class()(_to_uint8(fixed), _to_uint8(moving))
    if len(k1) < 3 or len(k2) < 3:
        return None
    source, target, _ = match_nn(d1, d2, k1, k2, lowes_ratio=0.95, mutual=False)
    if len(source) < 3:
        return None
    return peer_affine(source, target)


#: The dense matcher's default scales until the ninth session: 0.71-1.41, quarter octaves.
NARROW_SCALES = (2 ** -0.5, 2 ** -0.25, 1.0, 2 ** 0.25, 2 ** 0.5)
#: Largest errors of a turn (degrees) and scale (octaves) told as georeferencing tells them
#: (``sarfeat-told-pose``): a degree, and 2 % of scale.
TOLD_TURN_ERROR = 1.0
TOLD_SCALE_ERROR = math.log2(1.02)


def told_pose(name: str, truth: np.ndarray) -> dict:
    """The options of ``sarfeat-told-pose`` for one pair: the turn and scale of ``truth``
    (fixed -> moving), each off by a random error within ``TOLD_TURN_ERROR`` degrees and
    ``TOLD_SCALE_ERROR`` octaves, drawn from a generator seeded by the pair's name."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    angle, scale = rotation_scale(np.asarray(truth, float))[:2]
    return {"rotations": (float(angle + rng.uniform(-TOLD_TURN_ERROR, TOLD_TURN_ERROR)),),
            "angle_step": None,
            "dense_scales": (float(scale * 2 ** rng.uniform(-TOLD_SCALE_ERROR,
                                                            TOLD_SCALE_ERROR)),)}


#: Options of the sarfeat methods.
SARFEAT_OPTIONS = {"sarfeat": {}, "sarfeat-upright": {"rotations": (0.0,), "angle_step": None},
                   "sarfeat-any-turn": {"rotations": WHOLE_CIRCLE, "angle_step": None},
                   "sarfeat-widest": {"rotations": WHOLE_CIRCLE, "angle_step": None,
                                      "dense_scales": WIDE_SCALES},
                   "sarfeat-wide-scales": {"dense_scales": WIDE_SCALES},
                   "sarfeat-narrow-scales": {"dense_scales": NARROW_SCALES},
                   "sarfeat-affine": {"dense_model": "affine"}}
#: Methods told each pair's turn and scale (:func:`told_pose`), with these further options.
TOLD_OPTIONS = {"sarfeat-told-pose": {}, "sarfeat-told-pose-affine": {"dense_model": "affine"}}
METHODS = {**{name: partial(register_sarfeat, **options)
              for name, options in SARFEAT_OPTIONS.items()},
           **{name: None for name in TOLD_OPTIONS},  # need the pair's truth: run_pair calls them
           "sarfeat-two-way": register_two_way,
           "sift": lambda f, m: register_opencv(f, m, "sift"),
           "akaze": lambda f, m: register_opencv(f, m, "akaze"),
           "rift2": register_rift2}


def realigned_truth(truth: np.ndarray, offset, canvas: bool, upscale: int = 1) -> np.ndarray:
    """The truth of a 3MOS pair with its tiles re-aligned: ``offset`` (dy, dx), tile
    pixels, says that optical pixel (y, x) shows what SAR pixel (y + dy, x + dx)
    does (:func:`check_3mos_alignment.realigned_offset`).

    A canvas pair's moving image is the SAR tile itself (the shift follows the
    truth); a 3MOS pair's is the SAR tile warped (the shift comes first, on the
    optical tile's grid). ``upscale`` enlarged both tiles.
    """
    shift = np.eye(3)
    shift[:2, 2] = (offset[1] * upscale, offset[0] * upscale)
    return shift @ truth if canvas else truth @ shift


def _error(matrix, truth, fixed_shape, moving_shape, points) -> float | None:
    """RMSE of a returned matrix (None: refused) against ``truth``, over ``points`` when
    given, else on sarfeat's 20 x 20 grid."""
    if matrix is None:
        return None
    if points is None:
        return registration_rmse(matrix, truth, fixed_shape, moving_shape)
    return landmark_rmse(matrix, truth, points)


def run_pair(name: str, fixed: np.ndarray, moving: np.ndarray, truth: np.ndarray, methods,
             rows: dict, points: np.ndarray | None = None,
             realigned: np.ndarray | None = None) -> None:
    """Every method on one pair: append (name, rmse or None when refused, cpu s, wall s,
    sarfeat's refusal message or '', rmse against ``realigned`` or None) to
    ``rows[method]``.

    The error is the RMSE against ``truth`` over ``points`` (fixed (x, y)) when
    given, else on sarfeat's 20 x 20 grid (:func:`registration_rmse`);
    ``realigned`` (the re-aligned truth, None: ``truth``) gives the sixth entry.
    """
    for method in methods:  # interleaved: one pair at a time for every method
        refusals = []
        cpu, wall = time.process_time(), time.perf_counter()
        if method in SARFEAT_OPTIONS:
            matrix = register_sarfeat(fixed, moving, refusals, **SARFEAT_OPTIONS[method])
        elif method == "sarfeat-two-way":
            matrix = register_two_way(fixed, moving, refusals)
        elif method in TOLD_OPTIONS:
            matrix = register_sarfeat(fixed, moving, refusals, **told_pose(name, truth),
                                      **TOLD_OPTIONS[method])
        else:
            matrix = METHODS[method](fixed, moving)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rmse = _error(matrix, truth, fixed.shape, moving.shape, points)
        rmse_realigned = (rmse if realigned is None
                          else _error(matrix, realigned, fixed.shape, moving.shape, points))
        note = refusals[0] if refusals else ""
        rows[method].append((name, rmse, cpu, wall, note, rmse_realigned))
        again = ("" if realigned is None or rmse is None
                 else f" (re-aligned {rmse_realigned:.2f})")
        print(f"{name:24s} {method:15s} "
              f"{'refused' if rmse is None else f'rmse {rmse:8.2f}'}{again} cpu {cpu:6.2f} s "
              f"wall {wall:6.2f} s{f' ({note})' if note else ''}", flush=True)


def scatter_nodata(image: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A float32 copy of ``image`` with ``fraction`` of its pixels, drawn at random, NaN
    (no-data scattered as masked layover or dropped samples leave it)."""
    holed = np.array(image, dtype=np.float32)
    holed[rng.random(holed.shape[:2]) < fraction] = np.nan
    return holed


def evaluate(split: str, limit: int | None, upscale: int, methods, step: int = 1,
             scale_range: tuple[float, float] = SCALE_RANGE, canvas: bool = False,
             offsets: dict | None = None, scattered_nodata: float = 0.0,
             stretch: float = 0.0, seed: int | None = None, tiles: str = "3mos") -> dict:
    """Per method: per pair (name, rmse or None when refused, cpu s, wall s, refusal,
    rmse against the re-aligned truth); ``canvas``: :func:`canvas_pairs` instead of
    :func:`development_pairs`; ``offsets``: pair name -> re-aligned offset (dy, dx)
    (:func:`load_alignment`; a pair without one keeps its published truth);
    ``scattered_nodata``: that share of each image's pixels made NaN
    (:func:`scatter_nodata`, seeded by the pair's index); ``stretch``: affine
    development pairs (``development_pairs(stretch=...)``); ``seed``: the warps' seed
    (None: each pair set's own, the pairs every figure is measured on); ``tiles``: the
    tile pairs' source (``'3mos'``, ``'s1s2'`` or ``'sen1floods11'``,
    :func:`optical_sar_pairs.split_tiles`)."""
    rows = {name: [] for name in methods}
    seeded = {} if seed is None else {"seed": seed}
    pairs = (canvas_pairs(split, upscale=upscale, tiles=tiles, **seeded) if canvas else
             development_pairs(split, upscale=upscale, scale_range=tuple(scale_range),
                               stretch=stretch, tiles=tiles, **seeded))
    for index, (name, fixed, moving, truth) in enumerate(pairs):
        if limit is not None and index >= limit * step:
            break
        if index % step:
            continue
        offset = (offsets or {}).get(name)
        realigned = (None if offset is None else
                     realigned_truth(truth.params, offset, canvas, upscale))
        if scattered_nodata:
            rng = np.random.default_rng(index)
            fixed = scatter_nodata(fixed, scattered_nodata, rng)
            moving = scatter_nodata(moving, scattered_nodata, rng)
        run_pair(name, fixed, moving, truth.params, methods, rows, realigned=realigned)
    return rows


def real_pair_names(source: str = "all") -> tuple[str, ...]:
    """The real pairs of one source (``'starainj'``, ``'cfog'``, ``'eoss'``) or ``'all'``."""
    sources = {"starainj": STARAINJ_PAIRS, "cfog": CFOG_PAIRS, "eoss": EOSS_PAIRS}
    if source == "all":
        return tuple(PAIR_NAMES)
    if source not in sources:
        raise ValueError(f"source must be 'all' or one of {sorted(sources)}, got {source!r}")
    return tuple(sources[source])


def evaluate_real(limit: int | None, methods, source: str = "all") -> dict:
    """:func:`evaluate` on the real pairs (:mod:`real_optical_sar_pairs`) of ``source``
    (:func:`real_pair_names`), optical fixed."""
    rows = {name: [] for name in methods}
    for index, pair in enumerate(real_pairs(real_pair_names(source))):
        if limit is not None and index >= limit:
            break
        points = pair.optical_points if len(pair.optical_points) else None
        run_pair(pair.name, pair.optical, pair.sar, pair.truth, methods, rows, points)
    return rows


def load_alignment(path: Path) -> tuple[frozenset, dict]:
    """The JSON of ``check_3mos_alignment.py``: the tile pairs misaligned in the
    data, and pair name -> re-aligned offset (dy, dx) of those that have one."""
    rows = json.loads(Path(path).read_text())
    misaligned = frozenset(row["pair"] for row in rows if row["misaligned"])
    offsets = {row["pair"]: tuple(row["realigned_offset"]) for row in rows
               if row.get("realigned_offset") is not None}
    return misaligned, offsets


def sure_truth_pairs(path: Path) -> frozenset:
    """The pairs of the JSON of ``check_3mos_alignment.py`` whose truth is sure (its two
    measures agree within 1.5 px: :func:`check_3mos_alignment.truth_is_sure`)."""
    return frozenset(row["pair"] for row in json.loads(Path(path).read_text())
                     if truth_is_sure(row))


def summary(rows, misaligned: frozenset = frozenset(), column: int = 1) -> dict:
    """The figures of one method; ``misaligned`` names pairs whose tiles are themselves
    apart (:mod:`check_3mos_alignment`): counted as published, and listed. ``column``:
    the rows' entry holding the error (1: against the published truth, 5: against
    the re-aligned one).

    A returned transform whose error is not a number (NaN: a point sent to infinity)
    is wrong, not left out: ``within_3px + wrong_returned + refused == pairs``. With no
    pair, the share and the medians are None (no figure), not 0."""
    errors = [row[column] for row in rows]
    within = [r for r in errors if r is not None and r <= 3]

    def wrong(error) -> bool:
        return error is not None and not error <= 3  # NaN too

    def median(values, digits: int):
        return round(float(np.median(values)), digits) if len(values) else None

    return {
        "pairs": len(rows),
        "within_3px": len(within),
        "share_within_3px": round(len(within) / len(rows), 3) if rows else None,
        "median_rmse_registered": median(within, 2),
        "wrong_returned": sum(wrong(r) for r in errors),
        "refused": sum(r is None for r in errors),
        "median_cpu_s": median([row[2] for row in rows], 2),
        "median_wall_s": median([row[3] for row in rows], 2),
        "pairs_on_misaligned_tiles": sum(row[0] in misaligned for row in rows),
        "wrong_returned_on_misaligned_tiles": sum(
            wrong(row[column]) for row in rows if row[0] in misaligned),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="pair_set", choices=("3mos", "canvas", "real"),
                        default="3mos",
                        help="3mos: synthetic warps of 3MOS SAR tiles; canvas: 3MOS optical "
                             "tiles turned and scaled onto black-cornered canvases; real: the "
                             "real pairs of real_optical_sar_pairs.py (evaluation only)")
    parser.add_argument("--tiles", choices=TILE_SOURCES, default="3mos",
                        help="the tile pairs of --set 3mos or canvas: 3mos (the 3MOS preview "
                             "strips), s1s2 (the Sentinel-1 / Sentinel-2 fragments of "
                             "VolkovVl/Optical-SAR-dataset, 10 m), sen1floods11 (the "
                             "terrain-corrected chip of Sen1Floods11) or bigearthnet (the "
                             "BigEarthNet example patches, 120 px: evaluation only, "
                             "--split held_out; --upscale 2 for 240 px)")
    parser.add_argument("--source", choices=("all", "starainj", "cfog", "eoss"), default="all",
                        help="the real pairs of one source only (--set real only)")
    parser.add_argument("--split", choices=("tune", "held_out"), default="held_out",
                        help="3MOS split (--set 3mos or canvas)")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only")
    parser.add_argument("--step", type=int, default=1, help="every STEP-th pair only")
    parser.add_argument("--scale-range", type=float, nargs=2, default=SCALE_RANGE,
                        metavar=("LOW", "HIGH"),
                        help="scales of the 3MOS warps (default 0.7 1.4; 0.5 2 goes beyond the "
                             "default search)")
    parser.add_argument("--upscale", type=int, default=1,
                        help="enlarge the tiles (2: 512 x 512 pairs, for timing)")
    parser.add_argument("--methods", default="sarfeat,sift,akaze",
                        help=f"comma-separated, of {', '.join(METHODS)} (rift2 needs "
                             f"{RIFT2_ENV}; about 8 CPU s per 256 x 256 pair)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--alignment", type=Path, default=None,
                        help="JSON of check_3mos_alignment.py: count the pairs on tiles "
                             "misaligned in the data apart, and score every answer "
                             "against the re-aligned truth too")
    parser.add_argument("--scattered-nodata", type=float, default=0.0, metavar="FRACTION",
                        help="make this share of each image's pixels NaN, at random (seeded "
                             "per pair): scattered no-data (--set 3mos or canvas)")
    parser.add_argument("--stretch", type=float, default=0.0, metavar="S",
                        help="affine 3MOS pairs: each similarity after a stretch [[1+p, q], "
                             "[q, 1-p]] of the optical tile, p and q uniform in +-S (--set "
                             "3mos; sarfeat-affine and sarfeat-told-pose-affine return affine "
                             "maps)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the warps (turns, scales, shifts, stretches) of --set "
                             "3mos or canvas: other draws of the same tiles (default: each "
                             "set's own, 21 and 7)")
    args = parser.parse_args(argv)
    misaligned, offsets = frozenset(), None
    if not 0 <= args.stretch < 0.5:
        parser.error(f"--stretch is in [0, 0.5), got {args.stretch}")
    if args.stretch and args.pair_set != "3mos":
        parser.error("--stretch applies to --set 3mos")
    if not 0 <= args.scattered_nodata < 1:
        parser.error(f"--scattered-nodata is a share in [0, 1), got {args.scattered_nodata}")
    if args.scattered_nodata and args.pair_set == "real":
        parser.error("--scattered-nodata applies to --set 3mos and --set canvas")
    if args.seed is not None and args.pair_set == "real":
        parser.error("--seed draws warps of the 3MOS tiles: it applies to --set 3mos and "
                     "--set canvas")
    if args.tiles != "3mos" and args.pair_set == "real":
        parser.error("--tiles chooses the tiles of --set 3mos and --set canvas")
    if args.tiles in ("sen1floods11", "bigearthnet") and args.split != "held_out":
        parser.error(f"--tiles {args.tiles} is evaluation data: it has no tuning split "
                     "(--split held_out)")
    if args.alignment is not None and args.pair_set == "real":
        parser.error("--alignment measures the 3MOS tiles: it applies to --set 3mos and "
                     "--set canvas, not to the real pairs")
    if args.alignment is not None:
        misaligned, offsets = load_alignment(args.alignment)
    methods = args.methods.split(",")
    unknown = [name for name in methods if name not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if "rift2" in methods:
        try:
            load_rift2()
        except RuntimeError as error:
            parser.error(str(error))
    if args.pair_set == "real":
        rows = evaluate_real(args.limit, methods, args.source)
    else:
        if not 0 < args.scale_range[0] <= args.scale_range[1]:
            parser.error(f"--scale-range needs 0 < LOW <= HIGH, got {args.scale_range}")
        rows = evaluate(args.split, args.limit, args.upscale, methods, args.step,
                        args.scale_range, canvas=args.pair_set == "canvas",
                        offsets=offsets, scattered_nodata=args.scattered_nodata,
                        stretch=args.stretch, seed=args.seed, tiles=args.tiles)
    report = {name: summary(rows[name], misaligned) for name in methods}
    if offsets is not None:  # never for the real pairs (a usage error above)
        report["realigned"] = {name: summary(rows[name], misaligned, column=5)
                               for name in methods}
        sure = sure_truth_pairs(args.alignment)
        report["sure_truth"] = {
            name: summary([row for row in rows[name] if row[0] in sure], misaligned, column=5)
            for name in methods}
    print(json.dumps(report, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": report, "pairs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
