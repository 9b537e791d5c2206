"""Honesty on unrelated pairs: how often a method returns a transform for two images that do
not show the same place (every such transform is wrong by definition).

The pairs are the benchmark's own, mismatched by a deterministic derangement:

- ``optical-sar``: the fixed optical image of pair ``i`` of :mod:`eval_optical_sar`'s pair
  builders (:func:`optical_sar_pairs.development_pairs` for ``--set 3mos``,
  :func:`optical_sar_pairs.canvas_pairs` for ``--set canvas``) against the moving SAR image
  of pair ``j``: ``j`` is the first index from ``i + shift`` on (cyclically) whose tile
  shares no ground with tile ``i`` (:func:`shares_ground`: Sen1Floods11's nine tiles
  overlap by half, and a tile with VV and with VH shows one place). The 3MOS and S1S2 tiles
  are used from the ``'tune'`` split only; Sen1Floods11 and BigEarthNet have a
  ``'held_out'`` split alone and are evaluated, never tuned on.
- ``sar-sar``: image 1 of development pair ``i`` (:data:`sarfeat.data.DEVELOPMENT_PAIRS`,
  never the paper's test pairs) against image 2 of development pair ``i + shift``.

``--shifts 0`` gives the true pairs themselves (the same code path), so that the scores
of the answers returned on unrelated pairs can be set beside those of true ones. Methods:
``sarfeat`` (:func:`sarfeat.register`, ``modality='optical-sar'`` for the optical-SAR
pairs), ``sarfeat-any-turn`` (SAR-SAR: every 15 degrees of the whole circle, as
``sarfeat register --turns any``), and the peers of :mod:`eval_optical_sar`, OpenCV SIFT
and AKAZE with RANSAC (:func:`eval_optical_sar.register_opencv`: a transform when RANSAC
keeps at least 6 inliers). Each row keeps the refusal's reason and, for sarfeat, the
figures its checks read (global score, whole-overlap score and its runner-up, agreeing
templates, the gray values' information peak; SAR-SAR: inliers and confidence).
A pair that the global search's score refuses has no figure of the later checks; with
``--past-global`` it is matched again with that check off (:func:`figures_past_global`),
so that every row holds the figure of every check (its decision stays register's), and
``--table`` prints their distributions for each kind of answer (:func:`check_table`).

Long runs: ``--jsonl`` writes each row as a line of JSON as soon as it is measured (a run
stopped early keeps its rows), ``--skip`` leaves out the pairs that have a row in earlier
files (to resume a run, or run the rest of a partial one) and ``--share K/N`` runs every
N-th of the pairs left, from the K-th, so that N processes share one run
(:func:`pair_chooser`).

Run ``OMP_NUM_THREADS=1 SARFEAT_DATA_DIR=<data> PYTHONPATH=. python
benchmarks/eval_unrelated.py --part optical-sar --step 2 --json out.json``; see
benchmarks/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_optical_sar import register_opencv  # noqa: E402
from optical_sar_pairs import (SEN1FLOODS11_TILE_CORNERS, TILE, canvas_pairs,  # noqa: E402
                               development_pairs)

import sarfeat  # noqa: E402
from sarfeat.cli.register import WHOLE_CIRCLE  # noqa: E402
from sarfeat.data import DEVELOPMENT_PAIRS, load_pair, load_reference_transform  # noqa: E402
from sarfeat.matching import CoarseFineMatcher  # noqa: E402
from sarfeat.matching.dense import dense_matcher_for, structure_result  # noqa: E402
from sarfeat.metrics import registration_rmse  # noqa: E402

#: The optical-SAR pair sets: (pair set, tile source, split). Only the tuning split of the
#: sources that have one; Sen1Floods11 and BigEarthNet are evaluation data (held out alone).
OPTICAL_SAR_SETS = (("3mos", "3mos", "tune"), ("canvas", "3mos", "tune"),
                    ("3mos", "s1s2", "tune"), ("3mos", "sen1floods11", "held_out"),
                    ("3mos", "bigearthnet", "held_out"))
#: Figures of sarfeat's optical-SAR diagnostics kept per row.
DENSE_FIGURES = ("coarse_score", "verify_weighted", "verify_second", "fine_candidates",
                 "fine_inliers", "inlier_ratio", "gray_offset", "gray_information")
#: Figures of sarfeat's SAR-SAR diagnostics kept per row.
KEYPOINT_FIGURES = ("coarse_inliers", "fine_inliers", "prior")
#: Short names of the refusals, by a phrase of their message.
REASONS = (("no turn and scale stands out", "global score"),
           ("placed templates agree", "templates"),
           ("correlates too weakly", "whole-overlap score"),
           ("peak does not stand out", "whole-overlap margin"),
           ("gray values agree best", "gray check"),
           ("no template could be placed", "no template"),
           ("no consistent transform", "no consistent transform"))
#: The figures of :func:`check_table`: a row's value of each (its name, how it is read).
CHECK_FIGURES = (
    ("global score", lambda row: row.get("coarse_score")),
    ("whole-overlap score", lambda row: row.get("verify_weighted")),
    ("margin over next peak %", lambda row: None if row.get("verify_weighted") is None
     or row.get("verify_second") is None else 100 * (row["verify_weighted"]
                                                     - row["verify_second"])
     / max(row["verify_weighted"], 1e-9)),
    ("agreeing templates", lambda row: row.get("fine_inliers")),
    ("agreeing share", lambda row: row.get("inlier_ratio")),
    ("gray information", lambda row: row.get("gray_information")))


def shares_ground(name1: str, name2: str) -> bool:
    """Whether two tile pairs of :func:`optical_sar_pairs.split_tiles` show common ground.

    The same tile does; so does a Sen1Floods11 tile with any tile it overlaps (its nine
    tiles, ``SF11_<polarisation>_<k>``, are cut at :data:`SEN1FLOODS11_TILE_CORNERS`,
    neighbours overlapping by half) and a BigEarthNet patch with itself in the other
    polarisation (``BEN_<polarisation>_<tag>``).
    """
    def ground(name: str) -> str:
        return re.sub(r"^(SF11|BEN)_(VV|VH)_", r"\1_", name)

    first, second = ground(name1), ground(name2)
    if first.startswith("SF11_") and second.startswith("SF11_"):
        (y1, x1), (y2, x2) = (SEN1FLOODS11_TILE_CORNERS[int(name.rsplit("_", 1)[1])]
                              for name in (first, second))
        return abs(y1 - y2) < TILE and abs(x1 - x2) < TILE
    return first == second


def partner(names: list[str], index: int, shift: int) -> int | None:
    """The index of the pair whose moving image goes with pair ``index``'s fixed one: the
    first from ``index + shift`` on, cyclically, that shares no ground with it (``shift``
    0: ``index`` itself, the true pair); None when every other pair shares ground."""
    if shift == 0:
        return index
    for step in range(len(names) - 1):
        other = (index + shift + step) % len(names)
        if other != index and not shares_ground(names[index], names[other]):
            return other
    return None


def reason(message: str) -> str:
    """The short name of a refusal (:data:`REASONS`), else its message's first words."""
    for phrase, short in REASONS:
        if phrase in message:
            return short
    return " ".join(message.split()[:8])


def _figures(diagnostics: dict | None, names) -> dict:
    diagnostics = diagnostics or {}
    found = {}
    for name in names:
        value = diagnostics.get(name)
        found[name] = (round(float(value), 4) if isinstance(value, (int, float, np.floating))
                       and not isinstance(value, bool) else value)
    return found


def run_sarfeat(fixed, moving, figures, **options) -> tuple[np.ndarray | None, str, dict]:
    """(fixed -> moving matrix or None, refusal message or '', figures of the diagnostics)."""
    try:
        result = sarfeat.register(fixed, moving, rng=0, progress=False, **options)
    except sarfeat.RegistrationError as error:
        return None, str(error), _figures(error.diagnostics, figures)
    found = _figures(result.diagnostics, figures)
    found.update(confidence=round(float(result.confidence), 4),
                 inliers=int(len(result.inlier_matches)))
    return result.transform.params, "", found


def figures_past_global(fixed, moving) -> dict:
    """The figures (:data:`DENSE_FIGURES`) of an optical-SAR pair matched as
    :func:`sarfeat.register` matches it, but with the global search's score check off
    (``min_coarse_score=-1``): a pair that check refused then has the figures of the fine
    stage's checks too, which do not read that score."""
    dense = dense_matcher_for(CoarseFineMatcher(modality="optical-sar", rng=0), False)
    dense.min_coarse_score = -1.0  # a correlation: every global score passes
    structure_result(dense, fixed, moving)
    return _figures(dense.diagnostics, DENSE_FIGURES)


def run_method(method: str, fixed, moving, modality: str, past_global: bool = False
               ) -> tuple:
    """One method on one pair: (matrix or None, refusal message, figures, cpu s, wall s).
    ``past_global``: sarfeat's optical-SAR figures of a pair refused by the global score
    are :func:`figures_past_global`'s (with ``past_global: True``)."""
    cpu, wall = time.process_time(), time.perf_counter()
    if method in ("sift", "akaze"):
        matrix, message, figures = register_opencv(fixed, moving, method), "", {}
    elif modality == "sar":
        options = ({"rotations": WHOLE_CIRCLE, "angle_step": None}
                   if method == "sarfeat-any-turn" else {})
        matrix, message, figures = run_sarfeat(fixed, moving, KEYPOINT_FIGURES, **options)
    else:
        matrix, message, figures = run_sarfeat(fixed, moving, DENSE_FIGURES,
                                               modality="optical-sar")
        if past_global and matrix is None and reason(message) == "global score":
            figures = dict(figures_past_global(fixed, moving), past_global=True)
    return (matrix, message, figures, time.process_time() - cpu,
            time.perf_counter() - wall)


def optical_sar_pairs(pair_set: str, tiles: str, split: str, step: int = 1, start: int = 0):
    """(names, fixed images, moving images, truths) of one optical-SAR set, every ``step``-th
    pair from pair ``start`` on (the builders of :mod:`optical_sar_pairs`, as
    :mod:`eval_optical_sar` uses them)."""
    build = canvas_pairs if pair_set == "canvas" else development_pairs
    chosen = [pair for index, pair in enumerate(build(split, tiles=tiles))
              if index >= start and (index - start) % step == 0]
    return ([p[0] for p in chosen], [p[1] for p in chosen], [p[2] for p in chosen],
            [p[3].params for p in chosen])


def sar_sar_pairs(step: int = 1):
    """(names, images 1, images 2, references) of the development pairs, every ``step``-th."""
    names = list(DEVELOPMENT_PAIRS[::step])
    images = [load_pair(name) for name in names]
    return (names, [i[0] for i in images], [i[1] for i in images],
            [load_reference_transform(name) for name in names])


def row_key(row: dict) -> tuple:
    """What names a row's run: (group, shift, fixed, moving, method)."""
    return row["group"], row["shift"], row["fixed"], row["moving"], row["method"]


def read_rows(path: Path) -> list[dict]:
    """The rows of a ``--json`` file (its ``rows``) or of a ``--jsonl`` file (a row a line).

    Raises
    ------
    ValueError
        When a line of a JSON-lines file is not a row (a JSON object with a ``group``).
    """
    text = path.read_text()
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and "rows" in whole:
        return whole["rows"]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not a row of JSON ({error})") from None
        if not isinstance(row, dict) or "group" not in row:
            raise ValueError(f"{path}, line {number}: not a row (no 'group'): {line[:60]}")
        rows.append(row)
    return rows


def pair_chooser(done: set | None = None, share: tuple[int, int] = (0, 1)
                 ) -> Callable[[tuple], bool]:
    """A function of a run's :func:`row_key` that says whether to run it: not when ``done``
    holds it, and of the others only every ``share[1]``-th, from the ``share[0]``-th (in
    the order asked), so that processes ``(0, n)``... ``(n - 1, n)`` share one run."""
    part, parts = share
    if not 0 <= part < parts:
        raise ValueError(f"share must be K/N with 0 <= K < N, got {part}/{parts}")
    done = set() if done is None else done
    left = [0]  # runs not done met so far

    def choose(key: tuple) -> bool:
        if key in done:
            return False
        left[0] += 1
        return (left[0] - 1) % parts == part

    return choose


def evaluate(group: str, pairs, shifts, methods, modality: str, rows: list,
             limit: int | None = None, out=sys.stdout, past_global: bool = False,
             choose: Callable[[tuple], bool] | None = None, checkpoint=None) -> None:
    """Every method on the mismatched pairs of ``pairs`` for each shift: append a dict per
    (pair, method) to ``rows`` and print it as a line of JSON to ``out`` and to
    ``checkpoint`` (an open file, or None) (``past_global``: see :func:`run_method`;
    ``choose``: which runs (:func:`row_key`) to make, all when None)."""
    names, fixed, moving, truths = pairs
    for shift in shifts:
        for index in range(len(names) if limit is None else min(limit, len(names))):
            other = partner(names, index, shift)
            if other is None:
                continue
            for method in methods:
                if choose is not None and not choose((group, shift, names[index],
                                                      names[other], method)):
                    continue
                matrix, message, figures, cpu, wall = run_method(
                    method, fixed[index], moving[other], modality, past_global)
                row = {"group": group, "shift": shift, "fixed": names[index],
                       "moving": names[other], "method": method,
                       "returned": matrix is not None,
                       "reason": ("" if matrix is not None else
                                  reason(message) if message else "no RANSAC model"),
                       "message": message, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                       **figures}
                if shift == 0 and matrix is not None:  # a true pair: how right it is
                    row["rmse"] = round(float(registration_rmse(
                        matrix, truths[index], fixed[index].shape, moving[other].shape)), 3)
                rows.append(row)
                for stream in (out, checkpoint):
                    if stream is not None:
                        print(json.dumps(row, default=str), file=stream, flush=True)


def summary(rows: list) -> dict:
    """Per (group, shift kind, method): pairs, returned, refused, refusal reasons, median
    cpu s; shift 0 (true pairs) also counts those returned within 3 px."""
    found = {}
    for row in rows:
        kind = "true" if row["shift"] == 0 else "unrelated"
        found.setdefault((row["group"], kind, row["method"]), []).append(row)
    report = {}
    for (group, kind, method), chosen in sorted(found.items()):
        entry = {"pairs": len(chosen), "returned": sum(r["returned"] for r in chosen),
                 "refused": sum(not r["returned"] for r in chosen),
                 "reasons": dict(Counter(r["reason"] for r in chosen if not r["returned"])),
                 "median_cpu_s": round(float(np.median([r["cpu_s"] for r in chosen])), 2)}
        if kind == "true":
            entry["within_3px"] = sum(r.get("rmse", np.inf) <= 3 for r in chosen)
        report[f"{group} {kind} {method}"] = entry
    return report


def answer_kind(row: dict) -> str:
    """'right' (a true pair returned within 3 px), 'off' (returned further), 'true refused',
    'unrelated returned' or 'unrelated refused'."""
    if row["shift"] == 0:
        if not row["returned"]:
            return "true refused"
        return "right" if row.get("rmse", np.inf) <= 3 else "off"
    return "unrelated " + ("returned" if row["returned"] else "refused")


def check_table(rows: list) -> dict:
    """For each figure of :data:`CHECK_FIGURES` and each kind of answer
    (:func:`answer_kind`) of sarfeat's rows: how many rows have it, and its least, 10th
    percentile, median, 90th percentile and largest value."""
    table = {}
    for name, read in CHECK_FIGURES:
        for kind in ("right", "off", "true refused", "unrelated returned", "unrelated refused"):
            values = [read(row) for row in rows if row["method"] == "sarfeat"
                      and answer_kind(row) == kind]
            values = np.array([v for v in values if v is not None], float)
            if len(values):
                table[f"{name}, {kind}"] = {"rows": len(values), **{
                    label: round(float(np.percentile(values, q)), 3) for label, q in
                    (("least", 0), ("p10", 10), ("median", 50), ("p90", 90), ("most", 100))}}
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("optical-sar", "sar-sar", "all"), default="all")
    parser.add_argument("--sets", default=",".join(f"{s}:{t}" for s, t, _ in OPTICAL_SAR_SETS),
                        help="comma-separated SET:TILES of the optical-SAR part (of "
                             + ", ".join(f"{s}:{t}" for s, t, _ in OPTICAL_SAR_SETS) + ")")
    parser.add_argument("--shifts", default="1,2",
                        help="comma-separated derangement shifts; 0: the true pairs")
    parser.add_argument("--step", type=int, default=1, help="every STEP-th pair only")
    parser.add_argument("--start", type=int, default=0,
                        help="with --step: pairs START, START + STEP... of each optical-SAR set")
    parser.add_argument("--limit", type=int, default=None, help="first N pairs of a set only")
    parser.add_argument("--methods", default="sarfeat,sift,akaze",
                        help="comma-separated, of sarfeat, sarfeat-any-turn (SAR-SAR only), "
                             "sift, akaze")
    parser.add_argument("--json", type=Path, default=None, help="write rows and summary here")
    parser.add_argument("--past-global", action="store_true",
                        help="a pair refused by the global score: the figures of the fine "
                             "stage's checks too (matched again with that check off)")
    parser.add_argument("--jsonl", type=Path, default=None,
                        help="write each row here too, a line of JSON each, as it is measured")
    parser.add_argument("--skip", type=Path, nargs="+", default=None, metavar="JSON",
                        help="leave out the pairs (and methods) that have a row in these "
                             "--json or --jsonl files")
    parser.add_argument("--share", default="0/1", metavar="K/N",
                        help="run every N-th of the pairs (not skipped), from the K-th "
                             "(0 <= K < N), so that N processes share a run")
    parser.add_argument("--table", type=Path, nargs="+", default=None, metavar="JSON",
                        help="print the figures' distributions of the rows of earlier --json "
                             "or --jsonl files (together) and run nothing")
    args = parser.parse_args(argv)
    if args.table is not None:
        rows = [row for path in args.table for row in read_rows(path)]
        print(json.dumps(check_table(rows), indent=1))
        return 0
    shifts = [int(s) for s in args.shifts.split(",")]
    methods = args.methods.split(",")
    unknown = set(methods) - {"sarfeat", "sarfeat-any-turn", "sift", "akaze"}
    if unknown or args.step < 1 or args.start < 0 or any(s < 0 for s in shifts):
        parser.error(f"bad --methods {sorted(unknown)}, --step or --shifts")
    for path in (args.json, args.jsonl):
        if path is not None and path.exists():
            parser.error(f"{path} exists: not overwritten")
    if not re.fullmatch(r"\d+/\d+", args.share):
        parser.error(f"--share must be K/N, got {args.share!r}")
    try:
        choose = pair_chooser({row_key(row) for path in args.skip or () for row in
                               read_rows(path)},
                              tuple(int(n) for n in args.share.split("/")))
    except (ValueError, KeyError) as error:
        parser.error(f"--share or --skip: {error!r}")
    splits = {f"{s}:{t}": split for s, t, split in OPTICAL_SAR_SETS}
    for name in args.sets.split(",") if args.part in ("optical-sar", "all") else ():
        if name not in splits:
            parser.error(f"unknown set {name!r}; choose from {sorted(splits)}")
    checkpoint = None if args.jsonl is None else args.jsonl.open("x")
    rows: list = []
    if args.part in ("optical-sar", "all"):
        for name in args.sets.split(","):
            pair_set, tiles = name.split(":")
            evaluate(name, optical_sar_pairs(pair_set, tiles, splits[name], args.step,
                                                 args.start), shifts,
                     [m for m in methods if m != "sarfeat-any-turn"], "optical", rows,
                     args.limit, past_global=args.past_global, choose=choose,
                     checkpoint=checkpoint)
    if args.part in ("sar-sar", "all"):
        evaluate("sar-sar", sar_sar_pairs(), shifts, methods, "sar", rows, args.limit,
                 choose=choose, checkpoint=checkpoint)
    if checkpoint is not None:
        checkpoint.close()
    report = summary(rows)
    if args.past_global:
        report["figures"] = check_table(rows)
    print(json.dumps(report, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": report, "rows": rows}, indent=1,
                                        default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
