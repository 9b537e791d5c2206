"""The optional RIFT2 peer of benchmarks/eval_optical_sar.py, without the port itself.

The port (no licence) is never installed with sarfeat: these tests check the clear error
when it is not provided, and the glue around it (import from the named checkout, the
transform's direction, the OpenCV peers' RANSAC rule) with a stand-in checkout whose
keypoints and descriptors are known.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
from scipy import ndimage

from benchmarks import eval_optical_sar
from sarfeat.cli.register import WHOLE_CIRCLE
from sarfeat.matching.dense import DENSE_SCALES, WIDE_SCALES

#: fixed (x, y) -> moving (x, y) of the stand-in port: a turn of 30 degrees, scale 1.2, shift.
_ANGLE, _SCALE, _SHIFT = np.deg2rad(30.0), 1.2, (14.0, -9.0)
TRUTH = np.array([[_SCALE * np.cos(_ANGLE), -_SCALE * np.sin(_ANGLE), _SHIFT[0]],
                  [_SCALE * np.sin(_ANGLE), _SCALE * np.cos(_ANGLE), _SHIFT[1]],
                  [0.0, 0.0, 1.0]])

# A stand-in with the port's interface: RIFT2()(img1, img2) -> (kp1, des1, kp2, des2) and
# match_keypoints_nn(des1, des2, kp1, kp2, lowes_ratio, mutual) -> (points1, points2, matches).
# Its keypoints in the second image are those of the first moved by TRUTH; the descriptors
# are one-hot, so nearest neighbours are exact.
_STAND_IN = {
    "src/RIFT2.py": f"""
        import cv2
        import numpy as np

        TRUTH = np.array({TRUTH.tolist()!r})


        class RIFT2:
            def __call__(self, img1, img2):
                assert img1.dtype == np.uint8 and img2.dtype == np.uint8
                xy = np.random.default_rng(0).uniform(20, 100, (30, 2))
                moved = xy @ TRUTH[:2, :2].T + TRUTH[:2, 2]
                des = np.eye(len(xy), dtype=np.float32)
                kp1 = [cv2.KeyPoint(float(x), float(y), 1) for x, y in xy]
                kp2 = [cv2.KeyPoint(float(x), float(y), 1) for x, y in moved]
                return kp1, des, kp2, des
        """,
    "src/matcher_functions.py": """
        import numpy as np


        def match_keypoints_nn(des1, des2, kp1, kp2, lowes_ratio=0.75, mutual=True):
            order = np.argmax(des1 @ des2.T, axis=1)
            points1 = np.float32([kp.pt for kp in kp1])
            points2 = np.float32([kp2[j].pt for j in order])
            return points1, points2, list(order)
        """,
}


@pytest.fixture
def stand_in_port(tmp_path, monkeypatch):
    """A checkout of the stand-in port, named by RIFT2_PYTHON_DIR; sys.path restored after."""
    for name, text in _STAND_IN.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    monkeypatch.setenv(eval_optical_sar.RIFT2_ENV, str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for module in ("src", "src.RIFT2", "src.matcher_functions"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    yield tmp_path
    for module in ("src", "src.RIFT2", "src.matcher_functions"):
        sys.modules.pop(module, None)


def test_rift2_without_the_port_fails_with_how_to_provide_it(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(eval_optical_sar.RIFT2_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        eval_optical_sar.main(["--methods", "sift,rift2"])
    assert exit_info.value.code == 2  # before any pair is read
    message = capsys.readouterr().err
    assert "RIFT2_PYTHON_DIR" in message and "src/RIFT2.py" in message
    assert "licence" in message
    # a folder that is not a checkout of the port
    monkeypatch.setenv(eval_optical_sar.RIFT2_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="no src/RIFT2.py"):
        eval_optical_sar.load_rift2()
    with pytest.raises(SystemExit):
        eval_optical_sar.main(["--methods", "sift,rift3"])
    assert "unknown methods ['rift3']" in capsys.readouterr().err


def test_rift2_peer_returns_the_fixed_to_moving_transform(stand_in_port):
    pytest.importorskip("cv2")
    pytest.importorskip("joblib")  # the port's own need; register_rift2 makes its pool sequential
    image = np.random.default_rng(1).uniform(0, 1, (128, 128)).astype(np.float32)
    matrix = eval_optical_sar.register_rift2(image, image)
    np.testing.assert_allclose(matrix, TRUTH, atol=1e-3)
    assert sys.modules["src.RIFT2"].__file__.startswith(str(stand_in_port))


def test_run_pair_measures_over_the_landmarks_and_keeps_sarfeat_refusals(monkeypatch):
    """--set real's glue: the error over the given points, and sarfeat's refusal message."""
    def refuse(*args, **kwargs):
        raise eval_optical_sar.sarfeat.RegistrationError("cannot register: too few templates")

    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -4.0], [0.0, 0.0, 1.0]])
    monkeypatch.setattr(eval_optical_sar.sarfeat, "register", refuse)
    monkeypatch.setitem(eval_optical_sar.METHODS, "sift", lambda fixed, moving: shift @ TRUTH)
    image = np.zeros((64, 80), np.float32)
    points = np.array([[10.0, 5.0], [60.0, 40.0], [30.0, 20.0]])
    rows = {"sarfeat": [], "sift": []}
    eval_optical_sar.run_pair("p", image, image, TRUTH, ["sarfeat", "sift"], rows, points)
    (name, rmse, _, _, note, again), = rows["sarfeat"]
    assert name == "p" and rmse is again is None and note == "cannot register: too few templates"
    assert rows["sift"][0][1] == pytest.approx(5.0) and rows["sift"][0][4] == ""
    summary = eval_optical_sar.summary(rows["sift"] + rows["sarfeat"])
    assert (summary["within_3px"], summary["wrong_returned"], summary["refused"]) == (0, 1, 1)


def _options_given_to_register(monkeypatch, method: str):
    """(the options ``method`` passes to ``sarfeat.register``, the rows of its run) on a
    stand-in pair, ``register`` replaced by a recorder that refuses."""
    seen = {}

    def record(fixed, moving, **options):
        seen.update(options)
        raise eval_optical_sar.sarfeat.RegistrationError("refused")

    monkeypatch.setattr(eval_optical_sar.sarfeat, "register", record)
    image = np.zeros((32, 32), np.float32)
    rows = {method: []}
    eval_optical_sar.run_pair("p", image, image, TRUTH, [method], rows)
    return seen, rows


@pytest.mark.parametrize("method, turns, scales", [
    ("sarfeat-upright", (0.0,), None), ("sarfeat-any-turn", WHOLE_CIRCLE, None),
    ("sarfeat-widest", WHOLE_CIRCLE, WIDE_SCALES)])
def test_sarfeat_variants_tell_register_what_to_search(monkeypatch, method, turns, scales):
    seen, rows = _options_given_to_register(monkeypatch, method)
    assert seen["rotations"] == turns and seen["angle_step"] is None
    assert seen.get("dense_scales") == scales  # None: the dense matcher's default
    assert seen["modality"] == "optical-sar" and rows[method][0][4] == "refused"
    # upright: the search of georeferenced pairs; any turn: every 15 degrees of the circle;
    # widest: that and scales 0.5-2 in quarter octaves
    assert len(turns) in (1, 24) and max(turns) in (0.0, 345.0)
    assert scales is None or (min(scales), max(scales), len(scales)) == (0.5, 2.0, 9)


@pytest.mark.parametrize("method, scales", [
    ("sarfeat", None), ("sarfeat-wide-scales", WIDE_SCALES),
    ("sarfeat-narrow-scales", eval_optical_sar.NARROW_SCALES)])
def test_sarfeat_scale_variants_keep_the_default_turns(monkeypatch, method, scales):
    seen, _ = _options_given_to_register(monkeypatch, method)
    assert "rotations" not in seen and seen.get("dense_scales") == scales
    # the scales that the default searched before (0.71-1.41) lie inside today's (0.59-2)
    if scales is not None:
        assert set(eval_optical_sar.NARROW_SCALES) < set(DENSE_SCALES) < set(WIDE_SCALES)


def test_told_pose_is_the_truths_turn_and_scale_within_georeferencing_errors(monkeypatch):
    seen, rows = _options_given_to_register(monkeypatch, "sarfeat-told-pose")
    assert seen["angle_step"] is None and len(seen["rotations"]) == 1
    assert len(seen["dense_scales"]) == 1 and rows["sarfeat-told-pose"][0][4] == "refused"
    turn, scale = seen["rotations"][0], seen["dense_scales"][0]
    # TRUTH turns by _ANGLE (radians) and scales by _SCALE, fixed -> moving
    off = (turn - np.degrees(_ANGLE) + 180) % 360 - 180
    assert 0 < abs(off) <= eval_optical_sar.TOLD_TURN_ERROR
    assert 0 < abs(np.log2(scale / _SCALE)) <= eval_optical_sar.TOLD_SCALE_ERROR + 1e-12
    # the same pair is told the same pose in every run; another pair another error
    told = eval_optical_sar.told_pose("p", TRUTH)
    assert told == {name: seen[name] for name in told}
    other = eval_optical_sar.told_pose("q", TRUTH)
    assert other["rotations"] != seen["rotations"]


def test_real_pairs_of_one_source():
    eoss = eval_optical_sar.real_pair_names("eoss")
    assert len(eoss) == 21 and all(name.startswith("eoss") for name in eoss)
    assert eval_optical_sar.real_pair_names("starainj") == tuple(f"SO{k}" for k in range(1, 7))
    everything = eval_optical_sar.real_pair_names()
    assert set(eoss) < set(everything) and len(everything) == 30
    with pytest.raises(ValueError, match="source must be"):
        eval_optical_sar.real_pair_names("sen12")



def test_development_warps_keep_to_the_scale_range_asked_for():
    from benchmarks.optical_sar_pairs import SCALE_RANGE, random_similarity

    for scale_range in (SCALE_RANGE, (0.5, 2.0)):
        scales = [random_similarity(np.random.default_rng([21, k]), scale_range=scale_range).scale
                  for k in range(200)]
        assert scale_range[0] <= min(scales) and max(scales) <= scale_range[1]
    # the same seed gives the same turn whatever the scale range
    first = random_similarity(np.random.default_rng(5))
    wide = random_similarity(np.random.default_rng(5), scale_range=(0.5, 2.0))
    assert first.rotation == pytest.approx(wide.rotation) and first.scale != wide.scale


def test_scale_range_must_be_ordered_and_positive(capsys):
    with pytest.raises(SystemExit) as exit_:
        eval_optical_sar.main(["--scale-range", "2", "0.5", "--methods", "sift"])
    assert exit_.value.code == 2 and "--scale-range" in capsys.readouterr().err


def _texture(shape=(96, 96), seed=3) -> np.ndarray:
    """A smooth random texture (bilinear resampling of it is nearly exact)."""
    from scipy import ndimage

    noise = np.random.default_rng(seed).normal(size=shape)
    return (100 + 40 * ndimage.gaussian_filter(noise, 3.0) / 0.1).astype(np.float64)


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.map_coordinates(image, [xy[:, 1], xy[:, 0]], order=1)


@pytest.mark.parametrize("canvas", [False, True])
def test_realigned_truth_follows_the_tiles_own_offset(canvas):
    """A SAR tile showing optical pixel (y, x) at (y + dy, x + dx): the re-aligned
    truth, not the published one, maps the fixed image onto the moving one."""
    from skimage.transform import SimilarityTransform, warp

    from benchmarks.optical_sar_pairs import onto_canvas

    dy, dx = 2.5, -4.0
    optical = _texture()
    # sar(y + dy, x + dx) = optical(y, x)
    sar = warp(optical, SimilarityTransform(translation=(-dx, -dy)), order=1,
               preserve_range=True, cval=np.nan)
    if canvas:  # the optical tile turned and scaled onto a canvas, the SAR tile as is
        fixed, truth = onto_canvas(optical, 30.0, 1.3, fill=np.nan)
        moving = sar
    else:  # the optical tile as is, the SAR tile moved by the truth
        truth = SimilarityTransform(rotation=np.deg2rad(20), scale=1.1,
                                    translation=(8, -5)).params
        fixed = optical
        moving = warp(sar, SimilarityTransform(matrix=truth).inverse, order=1,
                      preserve_range=True, cval=np.nan)
    realigned = eval_optical_sar.realigned_truth(truth, (dy, dx), canvas)
    points = np.random.default_rng(0).uniform(30, 66, (200, 2))
    if canvas:  # points of the canvas that show the tile's middle
        points = (np.linalg.inv(truth) @ np.c_[points, np.ones(len(points))].T).T[:, :2]
    values = _sample(np.nan_to_num(fixed), points)

    def moved(matrix):
        return (matrix @ np.c_[points, np.ones(len(points))].T).T[:, :2]

    assert np.abs(_sample(np.nan_to_num(moving), moved(realigned)) - values).mean() < 1.0
    assert np.abs(_sample(np.nan_to_num(moving), moved(truth)) - values).mean() > 10.0
    # enlarged tiles move by the offset enlarged
    twice = eval_optical_sar.realigned_truth(np.eye(3), (dy, dx), canvas, upscale=2)
    assert twice[:2, 2] == pytest.approx((2 * dx, 2 * dy))


def test_rows_and_summary_carry_the_realigned_error(monkeypatch):
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -4.0], [0.0, 0.0, 1.0]])
    monkeypatch.setitem(eval_optical_sar.METHODS, "sift", lambda fixed, moving: shift @ TRUTH)
    image = np.zeros((64, 80), np.float32)
    rows = {"sift": []}
    eval_optical_sar.run_pair("p", image, image, TRUTH, ["sift"], rows,
                              realigned=shift @ TRUTH)
    eval_optical_sar.run_pair("q", image, image, TRUTH, ["sift"], rows)
    (_, published, *_, again), (_, other, *_, same) = rows["sift"]
    assert published == pytest.approx(5.0) and again == pytest.approx(0.0, abs=1e-9)
    assert other == same == pytest.approx(5.0)  # no re-aligned truth: the published one
    figures = eval_optical_sar.summary(rows["sift"], column=5)
    assert (figures["within_3px"], figures["wrong_returned"]) == (1, 1)
    assert eval_optical_sar.summary(rows["sift"])["within_3px"] == 0


def test_summary_counts_every_pair_once_and_gives_no_figure_without_pairs():
    rows = [("a", 1.0, 2.0, 2.5, "", 1.0), ("b", float("nan"), 1.0, 1.5, "", float("nan")),
            ("c", None, 3.0, 3.5, "refused", None), ("d", 7.0, 4.0, 4.5, "", 7.0)]
    figures = eval_optical_sar.summary(rows, misaligned=frozenset({"b"}))
    # a NaN error was counted neither within 3 px, nor wrong, nor refused
    assert (figures["within_3px"], figures["wrong_returned"], figures["refused"]) == (1, 2, 1)
    assert figures["wrong_returned_on_misaligned_tiles"] == 1
    assert figures["share_within_3px"] == 0.25 and figures["median_cpu_s"] == 2.5
    empty = eval_optical_sar.summary([])  # a sure_truth block of no pair: was a share of 0.0
    assert (empty["pairs"], empty["share_within_3px"], empty["median_cpu_s"]) == (0, None, None)


def test_load_alignment_reads_flags_and_offsets(tmp_path):
    path = tmp_path / "alignment.json"
    path.write_text(json.dumps([
        {"pair": "a_0", "misaligned": True, "realigned_offset": [-3.1, 0.4]},
        {"pair": "a_1", "misaligned": False, "realigned_offset": None},
        {"pair": "a_2", "misaligned": False}]))  # written before re-aligned offsets
    misaligned, offsets = eval_optical_sar.load_alignment(path)
    assert misaligned == {"a_0"} and offsets == {"a_0": (-3.1, 0.4)}


def test_sure_truth_pairs_are_those_whose_two_measures_agree(tmp_path):
    from benchmarks import check_3mos_alignment as check

    rows = [{"pair": "near", "mi_subpixel": [0.2, -0.4], "structure_subpixel": [-0.5, 0.3]},
            {"pair": "moved", "mi_subpixel": [4.0, 1.0], "structure_subpixel": [4.9, 1.6]},
            {"pair": "unsure", "mi_subpixel": [-1.9, -8.0], "structure_subpixel": [-0.4, -6.0]},
            {"pair": "apart", "mi_subpixel": [0.5, -0.3], "structure_subpixel": [2.9, -0.3]},
            # both measures at the rim of the shifts tried: the best may lie beyond
            {"pair": "rim", "mi_subpixel": [1.1, 10.0], "structure_subpixel": [2.0, 10.0],
             "peak_at_rim": True}]
    assert [check.truth_is_sure(row) for row in rows] == [True, True, False, False, False]
    path = tmp_path / "alignment.json"
    path.write_text(json.dumps(rows))
    assert eval_optical_sar.sure_truth_pairs(path) == {"near", "moved"}


def test_a_peak_on_the_rim_of_the_shifts_tried_is_no_sure_truth():
    # a tile pair 13 px apart measured within 8 px: both measures stop at the rim, agreeing
    from benchmarks import check_3mos_alignment as check

    rng = np.random.default_rng(3)
    ground = ndimage.gaussian_filter(rng.random((300, 300)), 2.0) * 255
    optical = ground[20:276, 20:276].astype(np.float32)
    sar = (ground[20:276, 33:289] * rng.gamma(4.0, 0.25, (256, 256))).astype(np.float32)
    row = check.measure_tile(optical, sar, 8)
    assert row["peak_at_rim"] and not row["truth_sure"]
    wide = check.measure_tile(optical, sar, 16)  # found inside a wider reach: sure
    assert not wide["peak_at_rim"] and wide["truth_sure"]
    assert wide["mi_offset"] == [0, -13]


def test_the_report_gives_the_sure_truth_pairs_apart(monkeypatch, tmp_path, capsys):
    # an answer 1 px off on a tile whose truth is sure, one 6 px off on a tile whose two
    # measures disagree by 3 px: the sure_truth block counts the first alone
    rows = {"sift": [("sure_0", 1.0, 0.1, 0.1, "", 1.0), ("unsure_0", 6.0, 0.1, 0.1, "", 6.0)]}
    monkeypatch.setattr(eval_optical_sar, "evaluate", lambda *args, **kwargs: rows)
    path = tmp_path / "alignment.json"
    path.write_text(json.dumps([
        {"pair": "sure_0", "misaligned": False, "realigned_offset": None,
         "mi_subpixel": [0.1, 0.0], "structure_subpixel": [0.0, 0.2]},
        {"pair": "unsure_0", "misaligned": False, "realigned_offset": None,
         "mi_subpixel": [3.0, 0.0], "structure_subpixel": [0.0, 0.2]}]))
    assert eval_optical_sar.main(["--methods", "sift", "--alignment", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    realigned = report["realigned"]["sift"]
    assert (realigned["pairs"], realigned["wrong_returned"]) == (2, 1)
    sure = report["sure_truth"]["sift"]
    assert (sure["pairs"], sure["within_3px"], sure["wrong_returned"]) == (1, 1, 0)


def test_alignment_check_finds_a_known_offset_to_a_fraction_of_a_pixel():
    """Both measures of check_3mos_alignment on a tile pair apart by a known shift, and
    the rule that re-aligns a pair only where they agree."""
    from skimage.transform import SimilarityTransform, warp

    from benchmarks import check_3mos_alignment as check

    dy, dx = 3.0, -2.4
    optical = _texture((128, 128), seed=5)
    # sar(y + dy, x + dx) shows optical(y, x); gray values changed (not linearly)
    sar = warp(optical, SimilarityTransform(translation=(-dx, -dy)), order=1,
               preserve_range=True, mode="reflect")
    sar = np.exp(sar / 40.0)
    mi = check.mutual_information_offset(optical, sar, reach=5)
    structure = check.structure_offset(optical, sar, reach=5)
    assert mi[:2] == (3, -2) and structure[:2] == (3, -2)
    assert mi[3:] == pytest.approx((dy, dx), abs=0.4)
    assert structure[3:] == pytest.approx((dy, dx), abs=0.4)
    assert check.realigned_offset(mi, structure) == pytest.approx([dy, dx], abs=0.4)
    assert check.measure_tile(optical, sar, reach=5)["truth_sure"]
    # disagreeing measures, or tiles less than 1.5 px apart: the published alignment kept
    assert check.realigned_offset((0, 0, 0, 3.0, -2.4), (0, 0, 0, 0.5, 0.0)) is None
    assert check.realigned_offset((0, 0, 0, 1.0, 0.5), (0, 0, 0, 1.2, 0.4)) is None


def test_alignment_is_for_the_3mos_tiles_only(capsys, tmp_path):
    path = tmp_path / "alignment.json"
    path.write_text("[]")
    with pytest.raises(SystemExit) as exit_:
        eval_optical_sar.main(["--set", "real", "--alignment", str(path), "--methods", "sift"])
    assert exit_.value.code == 2 and "--alignment" in capsys.readouterr().err


def test_scattered_nodata_makes_that_share_nan_and_keeps_the_input():
    image = np.arange(200 * 300, dtype=np.uint8).reshape(200, 300)
    holed = eval_optical_sar.scatter_nodata(image, 0.05, np.random.default_rng(0))
    assert holed.dtype == np.float32 and image.dtype == np.uint8  # a copy, the input kept
    share = np.isnan(holed).mean()
    assert 0.04 < share < 0.06
    np.testing.assert_array_equal(holed[~np.isnan(holed)], image[~np.isnan(holed)])
    # colour: a pixel is no-data in every channel
    colour = eval_optical_sar.scatter_nodata(np.dstack([image] * 3), 0.05,
                                             np.random.default_rng(0))
    assert (np.isnan(colour).all(axis=-1) == np.isnan(colour).any(axis=-1)).all()


@pytest.mark.parametrize("arguments", [["--scattered-nodata", "1.5"],
                                       ["--set", "real", "--scattered-nodata", "0.01"]])
def test_scattered_nodata_is_a_share_for_the_3mos_pairs(capsys, arguments):
    with pytest.raises(SystemExit) as exit_:
        eval_optical_sar.main([*arguments, "--methods", "sift"])
    assert exit_.value.code == 2 and "--scattered-nodata" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [["--stretch", "0.6"], ["--stretch", "-0.1"],
                                       ["--set", "canvas", "--stretch", "0.03"]])
def test_stretch_is_a_small_share_for_the_3mos_pairs(capsys, arguments):
    with pytest.raises(SystemExit) as exit_:
        eval_optical_sar.main([*arguments, "--methods", "sift"])
    assert exit_.value.code == 2 and "--stretch" in capsys.readouterr().err


def test_stretch_about_centre_keeps_the_centre_and_lacks_only_the_similar_part():
    from benchmarks.optical_sar_pairs import stretch_about_centre

    stretch = stretch_about_centre(0.05, -0.02, shape=(101, 201))
    np.testing.assert_allclose(stretch @ [100, 50, 1], [100, 50, 1])  # the centre (x, y)
    linear = stretch[:2, :2]
    np.testing.assert_allclose(linear, linear.T)  # no turn in it
    assert np.trace(linear) == pytest.approx(2.0)  # no scale in it (to first order)
    assert linear[0, 0] - linear[1, 1] == pytest.approx(0.1)


def _asked_of_the_pair_generators(monkeypatch, option: str) -> list:
    """The values of ``option`` that main() will pass to either pair generator (both made to
    yield no pair), in the order of the calls."""
    asked = []

    def generator(split, **options):
        asked.append(options.get(option))
        return iter(())

    monkeypatch.setattr(eval_optical_sar, "development_pairs", generator)
    monkeypatch.setattr(eval_optical_sar, "canvas_pairs", generator)
    return asked


def test_seed_draws_other_warps_of_the_3mos_tiles(monkeypatch, capsys):
    # --seed reaches the pair generator of either set; without it each keeps its own
    asked = _asked_of_the_pair_generators(monkeypatch, "seed")
    for arguments in (["--seed", "101"], ["--set", "canvas", "--seed", "8"], []):
        eval_optical_sar.main([*arguments, "--methods", "sift"])
    assert asked == [101, 8, None]
    with pytest.raises(SystemExit) as exit_:
        eval_optical_sar.main(["--set", "real", "--seed", "3", "--methods", "sift"])
    assert exit_.value.code == 2 and "--seed" in capsys.readouterr().err


def test_tiles_choose_the_tile_pairs_of_either_generated_set(monkeypatch, capsys):
    # --tiles reaches the pair generator of --set 3mos and canvas (3mos when not given),
    # and is refused with the real pairs, which are not made from tiles
    asked = _asked_of_the_pair_generators(monkeypatch, "tiles")
    for arguments in (["--tiles", "s1s2"], ["--set", "canvas", "--tiles", "s1s2"], []):
        eval_optical_sar.main([*arguments, "--methods", "sift"])
    assert asked == ["s1s2", "s1s2", "3mos"]
    for arguments in (["--set", "real", "--tiles", "s1s2"], ["--tiles", "sen12"],
                      ["--tiles", "sen1floods11", "--split", "tune"],
                      ["--tiles", "bigearthnet", "--split", "tune"]):
        with pytest.raises(SystemExit) as exit_:
            eval_optical_sar.main([*arguments, "--methods", "sift"])
        assert exit_.value.code == 2 and "--tiles" in capsys.readouterr().err


def test_s1s2_tiles_are_split_by_fragment():
    # four 256 px tiles of each fragment's centre, every fragment in one split only
    from benchmarks.optical_sar_pairs import S1S2_TILE_CORNERS, s1s2_fragments, split_tiles
    from sarfeat.data import DataUnavailableError, fetch, file_sha256
    from sarfeat.io import read_image

    fragments = s1s2_fragments()
    assert len(fragments) == 100 and fragments == sorted(fragments)
    try:
        first = next(split_tiles("tune", "s1s2"))
    except DataUnavailableError:
        pytest.skip("optical_sar/s1s2 is not available (set SARFEAT_DATA_DIR to a folder "
                    "holding it)")
    index, k, name, optical, sar = first
    assert (index, k, name) == (0, 0, f"S1S2_{fragments[0]}_0")
    y, x = S1S2_TILE_CORNERS[0]
    whole = read_image(fetch(f"optical_sar/s1s2/opt/{fragments[0]}.png"))
    np.testing.assert_array_equal(optical, whole[y:y + 256, x:x + 256])
    assert optical.shape == sar.shape == (256, 256) and sar.dtype == np.float32
    seen = {}
    for split, count in (("tune", 50), ("held_out", 49)):
        names = [tile[2] for tile in split_tiles(split, "s1s2")]
        assert len(names) == len(set(names)) == 4 * count
        seen[split] = {name.split("_")[1] for name in names}
    assert not seen["tune"] & seen["held_out"]
    # the one duplicate in the data is left out: its optical file is 130's
    assert seen["tune"] | seen["held_out"] == set(fragments) - {"142"}
    assert file_sha256(fetch("optical_sar/s1s2/opt/142.png")) == \
        file_sha256(fetch("optical_sar/s1s2/opt/130.png"))
    with pytest.raises(ValueError, match="tiles must be"):
        next(split_tiles("tune", "sen12"))


def _evaluation_tiles(tiles: str, missing: str) -> list:
    """Every held-out tile pair of an evaluation-only source, after checking that it has no
    tuning split; skipped when ``missing`` (what to put under SARFEAT_DATA_DIR) is absent."""
    from benchmarks.optical_sar_pairs import split_tiles
    from sarfeat.data import DataUnavailableError

    with pytest.raises(ValueError, match="evaluation data"):
        next(split_tiles("tune", tiles))
    try:
        return list(split_tiles("held_out", tiles))
    except DataUnavailableError:
        pytest.skip(f"{missing} is not available (set SARFEAT_DATA_DIR to a folder holding it)")


def test_sen1floods11_tiles_are_evaluation_only_and_on_one_grid():
    # the chip's nine overlapping tiles with VV, then VH; no tuning split
    from benchmarks.optical_sar_pairs import SEN1FLOODS11_TILE_CORNERS, canvas_pairs
    from sarfeat.metrics import registration_rmse

    tiles = _evaluation_tiles("sen1floods11", "optical_sar/sen1floods11")
    assert [tile[2] for tile in tiles] == [f"SF11_{p}_{k}" for p in ("VV", "VH")
                                          for k in range(len(SEN1FLOODS11_TILE_CORNERS))]
    for _, _, _, optical, sar in tiles:
        assert optical.shape == sar.shape == (256, 256)
        assert optical.dtype == sar.dtype == np.float32
        assert np.isfinite(optical).all() and (sar > 0).all()  # intensity, from dB
    # neighbouring tiles overlap by half: one grid; VV and VH share the optical tiles
    np.testing.assert_array_equal(tiles[0][3][:, 128:], tiles[1][3][:, :128])
    np.testing.assert_array_equal(tiles[0][4][:, 128:], tiles[1][4][:, :128])
    np.testing.assert_array_equal(tiles[0][3], tiles[9][3])
    assert not np.array_equal(tiles[0][4], tiles[9][4])
    # a terrain-corrected Sentinel-1 tile registers onto its turned and scaled Sentinel-2
    # canvas, judged by the georeferencing alone
    name, canvas, sar, truth = next(canvas_pairs("held_out", tiles="sen1floods11"))
    matrix = eval_optical_sar.register_sarfeat(canvas, sar)
    assert matrix is not None, name
    assert registration_rmse(matrix, truth.params, canvas.shape, sar.shape) < 1.5


def test_bigearthnet_patches_are_evaluation_only_and_paired_by_tag():
    # the six example patches with VV, then VH; the optical gray shared by both; no tuning
    from benchmarks.optical_sar_pairs import BIGEARTHNET_WHEEL, development_pairs
    from sarfeat.metrics import registration_rmse

    tiles = _evaluation_tiles("bigearthnet", BIGEARTHNET_WHEEL)
    names = [tile[2] for tile in tiles]
    tags = sorted({name.split("_", 2)[2] for name in names})
    assert len(tags) == 6 and names == [f"BEN_{p}_{t}" for p in ("VV", "VH") for t in tags]
    for _, _, _, optical, sar in tiles:
        assert optical.shape == sar.shape == (120, 120)
        assert optical.dtype == sar.dtype == np.float32
        assert np.isfinite(optical).all() and (sar > 0).all()  # intensity, from dB
    for vv, vh in zip(tiles[:6], tiles[6:]):
        np.testing.assert_array_equal(vv[3], vh[3])
        assert not np.array_equal(vv[4], vh[4])
    # a 120 px patch's warp turns about its own centre: the truth maps centre to centre
    # within the drawn shift
    name, fixed, moving, truth = next(development_pairs("held_out", tiles="bigearthnet",
                                                        upscale=2))
    assert fixed.shape == moving.shape == (240, 240)
    centre = np.array([119.5, 119.5, 1.0])
    assert np.linalg.norm((truth.params @ centre)[:2] - centre[:2]) <= 2 * 20 * np.sqrt(2)
    # the VH pair of patch 87_48, enlarged twice, registers within 3 px of the georeferencing
    pair = [p for p in development_pairs("held_out", tiles="bigearthnet", upscale=2)
            if p[0].startswith("BEN_VH_") and p[0].endswith("87_48")]
    name, fixed, moving, truth = pair[0]
    matrix = eval_optical_sar.register_sarfeat(fixed, moving)
    assert matrix is not None, name
    assert registration_rmse(matrix, truth.params, fixed.shape, moving.shape) < 3.0


@pytest.mark.parametrize("reverse_off, kept", [(1.0, True), (3.0, False)])
def test_two_way_keeps_an_answer_the_reverse_registration_finds_again(monkeypatch, reverse_off,
                                                                      kept):
    calls = []

    class Answer:
        def __init__(self, matrix):
            self.transform = type("T", (), {"params": matrix})()

    def register(fixed, moving, **options):
        calls.append((fixed.shape, moving.shape, options))
        if len(calls) == 1:  # forward: the optical image fixed
            return Answer(TRUTH)
        reverse = np.linalg.inv(TRUTH).copy()
        reverse[0, 2] += reverse_off  # the reverse answer shifted by reverse_off px
        return Answer(reverse)

    monkeypatch.setattr(eval_optical_sar.sarfeat, "register", register)
    optical, sar = np.zeros((40, 48), np.float32), np.zeros((32, 32), np.float32)
    rows = {"sarfeat-two-way": []}
    eval_optical_sar.run_pair("p", optical, sar, TRUTH, ["sarfeat-two-way"], rows)
    options = calls[1][2]
    assert [c[0] for c in calls] == [(40, 48), (32, 32)]  # the SAR image the reverse's fixed
    assert calls[0][2]["modality"] == "optical-sar" and options["modality"] == "sar-optical"
    # told the inverse's turn and scale, searching nothing else
    assert options["angle_step"] is None
    assert np.isclose(options["rotations"][0], -np.degrees(_ANGLE))
    assert np.isclose(options["dense_scales"][0], 1 / _SCALE)
    name, rmse, *_, note, _ = rows["sarfeat-two-way"][0]
    if kept:
        assert rmse == pytest.approx(0.0, abs=1e-9) and note == ""
    else:
        assert rmse is None and note == "the reverse registration is 3.00 px from the answer"
