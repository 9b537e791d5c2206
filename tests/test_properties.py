"""Property tests of sarfeat's public entry points on random shapes, dtypes, no-data and masks.

Whatever the input, the detector, the extractor, the matcher, ``register``,
``normalize_sar`` and checkpoint loading either raise one of their documented
errors or return consistent results; they never modify their inputs, and
float32 input gives float32 per-keypoint arrays. Keypoints lie inside the
image, outside the edge margin, off invalid pixels and away from large no-data
regions. Constructors reject bad parameters at once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from sarfeat import SARR2D2Detector
from sarfeat.detector import EDGE_MARGIN
from sarfeat.preprocess import LARGE_NODATA

DTYPES = ("uint8", "uint16", "float32", "float64", "complex64", "int16_db")
PER_KEYPOINT = ("scales", "orientations", "responses", "reliabilities", "repeatabilities")
# derandomised: every run (CI's included) draws the same examples
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture(scope="module")
def detector(naver_net):
    return SARR2D2Detector(naver_net, min_size=64, max_size=256)


# -- input generation ----------------------------------------------------------------------------


def _side(max_side):
    """A side length in 1..max_side, more often large enough for keypoints."""
    return st.one_of(st.integers(1, max_side), st.integers(max(1, max_side // 2), max_side))


def _rectangle(draw, height, width):
    """(row0, row1, col0, col1) of a non-empty rectangle, often small, possibly everything."""
    r0 = draw(st.integers(0, height - 1))
    c0 = draw(st.integers(0, width - 1))
    r1 = r0 + draw(st.one_of(st.integers(1, min(12, height - r0)), st.integers(1, height - r0)))
    c1 = c0 + draw(st.one_of(st.integers(1, min(12, width - c0)), st.integers(1, width - c0)))
    return r0, r1, c0, c1


def _convert(intensity, dtype, rng):
    """Store a positive intensity image as ``dtype`` the way SAR products do."""
    if dtype == "uint8":  # display quick-look of the dB image
        db = 10 * np.log10(intensity)
        low, high = np.percentile(db, [1, 99])
        scaled = (db - low) / (high - low) if high > low else np.zeros_like(db)
        return np.clip(255 * scaled, 0, 255).astype(np.uint8)
    if dtype == "uint16":  # digital numbers; the darkest pixels may round to 0
        return np.clip(intensity * 2000, 0, 65535).astype(np.uint16)
    if dtype == "complex64":  # single-look complex with random phase
        phase = rng.uniform(-np.pi, np.pi, intensity.shape)
        return (np.sqrt(intensity) * np.exp(1j * phase)).astype(np.complex64)
    if dtype == "int16_db":  # decibels times ten, negative for dark pixels
        return np.round(100 * np.log10(intensity)).astype(np.int16)
    return intensity.astype(dtype)


@st.composite
def sar_inputs(draw, cube, max_side=96, nan=True, mask=True):
    """An (image, mask) pair: a real AIRSAR crop or gamma speckle, in one of DTYPES."""
    height = draw(_side(max_side), label="height")
    width = draw(_side(max_side), label="width")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    if draw(st.booleans(), label="real SAR"):
        row = draw(st.integers(0, cube.shape[0] - height))
        col = draw(st.integers(0, cube.shape[1] - width))
        channel = draw(st.integers(0, cube.shape[2] - 1))
        intensity = cube[row:row + height, col:col + width, channel].astype(np.float64)
    else:
        intensity = rng.gamma(1.0, 1.0, (height, width))
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    image = _convert(intensity, dtype, rng)
    if nan and np.issubdtype(image.dtype, np.inexact) and draw(st.booleans(), label="nan"):
        r0, r1, c0, c1 = _rectangle(draw, height, width)
        image[r0:r1, c0:c1] = np.nan
    user_mask = None
    if mask and draw(st.booleans(), label="mask"):
        inside = draw(st.booleans(), label="mask inside")  # True: only the rectangle is usable
        r0, r1, c0, c1 = _rectangle(draw, height, width)
        user_mask = np.full((height, width), not inside)
        user_mask[r0:r1, c0:c1] = inside
    return image, user_mask


def surely_invalid(image, mask):
    """Pixels that are no-data under any reading of the input: non-finite or masked out."""
    magnitude = np.abs(image) if np.iscomplexobj(image) else image.astype(np.float64)
    invalid = ~np.isfinite(magnitude)
    if mask is not None:
        invalid |= ~mask
    return invalid


def maybe_invalid(image, mask):
    """Also the pixels whose logarithm is undefined (<= 0), unless the image is 8-bit display.

    Whether these count as no-data is sarfeat's choice (``nodata=``); a ValueError
    for "no valid pixel" is acceptable only when every pixel is at least maybe invalid.
    """
    invalid = surely_invalid(image, mask)
    if image.dtype != np.uint8:
        magnitude = np.abs(image) if np.iscomplexobj(image) else image.astype(np.float64)
        with np.errstate(invalid="ignore"):
            invalid |= ~(magnitude > 0)
    return invalid


# -- the checks ---------------------------------------------------------------------------------


def check_detection(detector, image, mask):
    """Run detect_and_extract and check the outcome; returns 'ok', 'no valid' or 'no keypoint'."""
    invalid = surely_invalid(image, mask)
    before = image.copy()
    try:
        detector.detect_and_extract(image, mask=mask)
    except ValueError as error:
        assert maybe_invalid(image, mask).all(), f"ValueError with valid pixels left: {error}"
        return "no valid"
    except RuntimeError:
        return "no keypoint"
    finally:
        np.testing.assert_array_equal(image, before)
    assert not invalid.all(), "an image without valid pixels must raise ValueError"

    height, width = image.shape
    keypoints = detector.keypoints
    count = len(keypoints)
    assert count > 0 and keypoints.shape == (count, 2)
    for name in PER_KEYPOINT:
        assert getattr(detector, name).shape == (count,), name
    assert detector.descriptors.shape[0] == count
    assert np.isfinite(detector.descriptors).all()
    assert np.isfinite(keypoints).all()

    rows, cols = keypoints[:, 0], keypoints[:, 1]
    assert rows.min() >= 0 and rows.max() <= height - 1
    assert cols.min() >= 0 and cols.max() <= width - 1
    cell_rows = np.rint(rows).astype(int)
    cell_cols = np.rint(cols).astype(int)
    assert not invalid[cell_rows, cell_cols].any(), "keypoint on an invalid pixel"

    level_scale = 32.0 / detector.scales.astype(np.float64)
    level_h = np.maximum(1, np.round(height * level_scale))
    level_w = np.maximum(1, np.round(width * level_scale))
    ratio = np.maximum(height / level_h, width / level_w)
    # none in the edge margin, measured on the level's grid (allow a level pixel of rounding)
    level_margin = np.maximum(1, np.minimum(EDGE_MARGIN, np.minimum(level_h, level_w) // 8))
    margin = (level_margin - 1.5) * ratio
    assert np.all((rows >= margin) & (rows <= height - 1 - margin)), "keypoint at the edge"
    assert np.all((cols >= margin) & (cols <= width - 1 - margin)), "keypoint at the edge"
    large = large_regions(invalid)
    if large.any():
        # none within the network's reach (halo, in original pixels of its level) of a
        # large no-data region; isolated invalid pixels only exclude themselves
        distance = ndimage.distance_transform_edt(~large)[cell_rows, cell_cols]
        reach = (detector.halo - 1) * ratio
        assert np.all(distance > reach), "keypoint within the halo of a large no-data region"
    check_float_kind(image, detector.keypoints, *(getattr(detector, n) for n in PER_KEYPOINT))
    return "ok"


def large_regions(invalid):
    """No-data regions that a LARGE_NODATA square fits in (the documented rule)."""
    square = np.ones((LARGE_NODATA, LARGE_NODATA), dtype=bool)
    return ndimage.binary_opening(invalid, square) & invalid


def check_float_kind(image, *arrays):
    """float32 (or complex64) in gives float32 per-keypoint arrays, as scikit-image's SIFT."""
    single = np.asarray(image).dtype in (np.float32, np.complex64, np.float16)
    for values in arrays:
        assert values.dtype == (np.float32 if single else np.float64), values.dtype


@pytest.fixture(scope="module")
def outcomes():
    """Counts of outcomes over all examples, to check that most examples find keypoints."""
    return {"ok": 0, "no valid": 0, "no keypoint": 0}


@SETTINGS
@given(data=st.data())
def test_random_images(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    outcomes[check_detection(detector, image, mask)] += 1


@SETTINGS
@given(data=st.data())
def test_random_images_with_nan_and_masks(detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube))
    outcomes[check_detection(detector, image, mask)] += 1


@pytest.fixture(scope="module")
def default_detector():
    """sarfeat's default: the bundled SAR weights, turned maps, rotation-invariant patches."""
    return SARR2D2Detector(min_size=64, max_size=256)


@settings(SETTINGS, max_examples=12)
@given(data=st.data())
def test_random_images_default_detector(default_detector, airsar_cube, data, outcomes):
    image, mask = data.draw(sar_inputs(airsar_cube))
    outcomes[check_detection(default_detector, image, mask)] += 1


@SETTINGS
@given(
    length=st.integers(1, 96),
    vertical=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_lines_and_tiny_images(detector, length, vertical, dtype, seed, outcomes):
    """1xN and Nx1 images, the hardest shapes for pooling and padding."""
    shape = (length, 1) if vertical else (1, length)
    rng = np.random.default_rng(seed)
    image = _convert(rng.gamma(1.0, 1.0, shape), dtype, rng)
    check_detection(detector, image, None)


@SETTINGS
@given(data=st.data())
def test_all_invalid_raises_value_error(detector, airsar_cube, data):
    """All-NaN images and all-False masks raise ValueError, whatever the shape and dtype."""
    image, _ = data.draw(sar_inputs(airsar_cube, nan=False, mask=False))
    if np.issubdtype(image.dtype, np.inexact) and data.draw(st.booleans(), label="use nan"):
        image = image.copy()
        image[...] = np.nan
        mask = None
    else:
        mask = np.zeros(image.shape, dtype=bool)
    with pytest.raises(ValueError, match="no valid pixel"):
        detector.detect_and_extract(image, mask=mask)


def test_most_examples_find_keypoints(outcomes):
    """Runs after the property tests: the generated images are not all featureless."""
    total = sum(outcomes.values())
    if total == 0:
        pytest.skip("property tests did not run")
    assert outcomes["ok"] >= 0.3 * total, outcomes


# -- normalize_sar ----------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), nodata=st.sampled_from([None, 0.0]), masked=st.booleans())
def test_normalize_sar_properties(airsar_cube, data, nodata, masked):
    """[0, 1] float32 out, the input untouched, or ValueError only when nothing is valid."""
    from sarfeat import normalize_sar
    from sarfeat.preprocess import INPUT_KINDS

    image, mask = data.draw(sar_inputs(airsar_cube))
    kind = data.draw(st.sampled_from(INPUT_KINDS), label="input_kind")
    if masked:
        image = np.ma.masked_array(image, mask=np.zeros(image.shape, bool))
        image.mask[: image.shape[0] // 3] = True
    before = np.ma.getdata(image).copy()
    try:
        result = normalize_sar(image, kind, mask=mask, nodata=nodata)
    except ValueError as error:
        assert "no valid pixel" in str(error)
        return
    finally:
        np.testing.assert_array_equal(np.ma.getdata(image), before)
    assert result.image.dtype == np.float32 and result.image.shape == image.shape
    assert np.isfinite(result.image).all()
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.kind in INPUT_KINDS and result.kind != "auto"
    if result.valid is not None:
        invalid = ~result.valid
        assert surely_invalid(np.ma.getdata(image), mask)[~np.ma.getmaskarray(image)].sum() \
            <= invalid.sum()
        if result.large_invalid is not None:
            assert not (result.large_invalid & result.valid).any()


# -- parameters are checked when the object is made -----------------------------------------------


PARAMETER_VALUES = {
    "max_keypoints": st.one_of(st.integers(-2, 50), st.floats(-1, 50), st.none()),
    "scale_factor": st.one_of(st.floats(0.5, 3), st.just(float("nan"))),
    "min_size": st.integers(-1, 300),
    "max_scale": st.one_of(st.floats(-0.5, 1.5), st.just(float("nan"))),
    "reliability_threshold": st.one_of(st.none(), st.floats(-0.5, 1.5), st.just(float("nan"))),
    "input_kind": st.sampled_from(["auto", "db", "display", "dB", "linear", ""]),
    "nodata": st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=2)),
    "device": st.sampled_from(["cpu", "auto", "gpu", "cuda:x", "tpu"]),
    "precision": st.sampled_from(["auto", "fp32", "bf16", "fp16", "float32"]),
    "tile_size": st.one_of(st.none(), st.integers(0, 64)),
    "trust": st.sampled_from([False, True, "no", 0]),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=st.fixed_dictionaries({}, optional=PARAMETER_VALUES))
def test_parameters_fail_in_init_or_never(naver_net, airsar_cube, options):
    """A bad parameter raises ValueError/TypeError in __init__; one accepted there never
    makes ``detect`` raise anything but RuntimeError (no keypoint)."""
    try:
        detector = SARR2D2Detector(naver_net, min_size=min(64, options.pop("min_size", 64)),
                                   max_size=64, **options)
    except (ValueError, TypeError) as error:
        assert str(error)
        return
    try:
        detector.detect(np.ascontiguousarray(airsar_cube[:64, :64, 0]))
    except RuntimeError:
        pass


# -- the extractor -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor(naver_net):
    from sarfeat import MultiDescriptorExtractor

    return MultiDescriptorExtractor(naver_net, min_size=64, max_size=128)


@st.composite
def keypoint_sets(draw, height, width):
    count = draw(st.integers(0, 12))
    coordinate = st.one_of(st.floats(-20, max(height, width) + 20), st.just(float("nan")))
    keypoints = np.array(
        [[draw(coordinate), draw(coordinate)] for _ in range(count)], dtype=np.float64
    ).reshape(count, 2)
    scales = draw(st.one_of(
        st.none(),
        st.lists(st.floats(16, 96), min_size=count, max_size=count),
        st.lists(st.one_of(st.floats(-5, 16), st.just(float("inf"))),
                 min_size=count, max_size=count),
    ))
    return keypoints, None if scales is None else np.array(scales)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_extractor_properties(extractor, airsar_cube, data):
    """extract describes any keypoints or flags them; errors only for bad scales or images."""
    image, mask = data.draw(sar_inputs(airsar_cube, max_side=80))
    keypoints, scales = data.draw(keypoint_sets(*image.shape))
    before, points_before = image.copy(), keypoints.copy()
    bad_scales = scales is not None and len(scales) and not (
        np.isfinite(scales).all() and scales.min() >= 16)
    try:
        extractor.extract(image, keypoints, scales, mask=mask)
    except ValueError as error:
        assert bad_scales or maybe_invalid(image, mask).all(), error
        return
    except RuntimeError as error:  # documented for a flat image only
        assert "flat" in str(error)
        return
    finally:
        np.testing.assert_array_equal(image, before)
        np.testing.assert_array_equal(keypoints, points_before)
    assert not bad_scales
    for name, values in extractor.descriptors.items():
        assert values.dtype == np.float32 and values.shape[0] == len(keypoints)
        assert np.isfinite(values).all()
        described = extractor.masks[name]
        assert described.dtype == bool and described.shape == (len(keypoints),)
        assert not described[~np.isfinite(keypoints).all(axis=1)].any()


# -- checkpoint loading ------------------------------------------------------------------------


@st.composite
def checkpoint_payloads(draw):
    """Plausible and implausible dicts of what a checkpoint file may hold."""
    from sarfeat import checkpoint
    from sarfeat.network import R2D2Net

    state = R2D2Net("fast_r2d2").state_dict()
    if draw(st.booleans(), label="drop a key"):
        state.pop(draw(st.sampled_from(sorted(state))))
    if draw(st.booleans(), label="bad tensor"):
        key = draw(st.sampled_from(sorted(state)))
        state[key] = draw(st.sampled_from([torch.zeros(3), torch.full((1,), float("nan")),
                                           "text", 1.5]))
    value = st.one_of(st.none(), st.integers(-2, 3), st.floats(allow_nan=True), st.text(max_size=4),
                      st.booleans(), st.lists(st.integers(), max_size=2))
    payload = draw(st.sampled_from([
        {"format": checkpoint.FORMAT_NAME, "format_version": 1, "architecture": "fast_r2d2",
         "state_dict": state, "metadata": {}},
        {"net": "Fast_Quad_L2Net_ConfCFS()", "state_dict": state},
        {"epoch": 3, "model_state_dict": state},
        dict(state),
    ]))
    for key in draw(st.lists(st.sampled_from(
            ["format_version", "architecture", "metadata", "state_dict", "format"]), max_size=3)):
        payload[key] = draw(value)
    if draw(st.booleans(), label="thresholds"):
        payload["metadata"] = {"detector": {"reliability_threshold": draw(value)}}
    return payload


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payload=checkpoint_payloads())
def test_checkpoint_loading_raises_only_checkpoint_error(tmp_path, payload):
    from sarfeat.checkpoint import CheckpointError, load_checkpoint

    path = tmp_path / "candidate.pt"
    torch.save(payload, path)
    try:
        net = load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
        return
    thresholds = net.metadata.get("detector", {})
    assert all(0 <= value <= 1 for value in thresholds.values() if value is not None)


# -- the matcher and register ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_matcher(naver_net):
    from sarfeat import CoarseFineMatcher

    return CoarseFineMatcher(naver_net, coarse_size=64, patch_size=64, rotations=(0,),
                             angle_step=None, refine_angle=None, rng=0)


@st.composite
def image_pairs(draw, cube, max_side=96):
    """Two crops of the scene (different channels), shifted, in one of DTYPES, maybe with NaN."""
    side = draw(st.integers(8, max_side), label="side")
    row, col = draw(st.integers(0, 256 - side - 8)), draw(st.integers(0, 256 - side - 8))
    shift = draw(st.integers(0, 8), label="shift")
    dtype = draw(st.sampled_from(DTYPES), label="dtype")
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    first = _convert(cube[row:row + side, col:col + side, 0].astype(np.float64), dtype, rng)
    second = _convert(cube[row + shift:row + shift + side, col:col + side, 2].astype(np.float64),
                      dtype, rng)
    if np.issubdtype(first.dtype, np.inexact) and draw(st.booleans(), label="nan"):
        first[: side // 2] = np.nan
    if draw(st.booleans(), label="masked"):  # a masked array, sometimes masked everywhere
        mask = np.zeros(second.shape, bool)
        r0, r1, c0, c1 = _rectangle(draw, *second.shape)
        mask[r0:r1, c0:c1] = True
        second = np.ma.masked_array(second, mask=mask)
    return first, second


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matcher_and_register_properties(small_matcher, airsar_cube, data):
    """Only documented errors; inputs untouched; no model means no match; float32 kept."""
    from sarfeat import RegistrationError, register

    first, second = data.draw(image_pairs(airsar_cube))
    copies = first.copy(), second.copy()
    masked_out = np.ma.isMaskedArray(second) and np.ma.getmaskarray(second).all()
    try:
        matches = small_matcher.match(first, second)
        assert matches.ndim == 2 and matches.shape[1] == 2
        if small_matcher.model is None:
            assert len(matches) == 0
    except RuntimeError as error:
        assert str(error).startswith(("image1", "image2")), error
    except ValueError as error:  # only for an image without a valid pixel
        assert masked_out and "no valid pixel" in str(error), error
    try:
        result = register(first, second, matcher=small_matcher)
    except RegistrationError as error:
        assert str(error)
    else:
        assert not masked_out  # a masked array's mask is kept: all masked is refused
        if second.dtype == np.float32:
            assert result.warped.dtype == np.float32
        if np.iscomplexobj(second):  # complex stays complex
            assert np.iscomplexobj(result.warped)
        assert result.warped.shape == first.shape
    np.testing.assert_array_equal(first, copies[0])
    np.testing.assert_array_equal(np.ma.getdata(second), np.ma.getdata(copies[1]))


def test_matcher_without_model_returns_no_match(naver_net, airsar_cube):
    """When too few RANSAC inliers leave ``model`` None, ``match`` returns no pair, as
    documented (before, it returned the inliers of the rejected model)."""
    from sarfeat import CoarseFineMatcher

    options = dict(coarse_size=128, patch_size=128, rotations=(0,), angle_step=None,
                   refine_angle=None, identity_prior=False, final_radius=None, rng=0)
    fixed = np.ascontiguousarray(airsar_cube[:160, :160, 0])
    moving = np.ascontiguousarray(airsar_cube[8:168, 4:164, 2])
    first = CoarseFineMatcher(naver_net, **options)
    first.match(fixed, moving)
    assert first.model is not None and 0 < first.inliers.sum() < len(first.matches)
    # ask for as many inliers as there are voted matches: RANSAC's are too few
    matcher = CoarseFineMatcher(naver_net, min_fine_inliers=len(first.matches), **options)
    matches = matcher.match(fixed, moving)
    assert matcher.model is None and "needed" in matcher.diagnostics["failure"]
    assert len(matcher.matches) == len(first.matches)
    assert matches.shape == (0, 2) and not matcher.inliers.any()


# -- sarfeat.io and the one warp -------------------------------------------------------------

IO_DTYPES = ("uint8", "int16", "uint16", "float32", "float64", "complex64")


@st.composite
def rasters(draw, max_side=40):
    """A 1-3 band raster of a random dtype with NaN, a nodata value or neither."""
    from sarfeat.io import Raster
    from sarfeat.preprocess import valid_mask

    dtype = np.dtype(draw(st.sampled_from(IO_DTYPES), label="dtype"))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, max_side)),
             draw(st.integers(1, max_side)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    values = rng.gamma(1.0, 50.0, shape)
    if dtype.kind == "c":
        values = values * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    data = values.astype(dtype)
    holes = rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.6]))
    nodata = draw(st.sampled_from([None, 0.0, "nan"] if dtype.kind in "fc" else [None, 0.0]))
    if nodata == "nan":
        nodata = float("nan")
        data[holes] = np.nan
    elif nodata is not None:
        data[holes] = 0
    return Raster(data, valid_mask(data, nodata), nodata)


@SETTINGS
@given(raster=rasters(), suffix=st.sampled_from([".tif", ".npy"]))
def test_io_round_trip_keeps_values_dtype_and_no_data(tmp_path_factory, raster, suffix):
    """What is written is read back: dtype, valid pixels and their values (complex too)."""
    from sarfeat import io

    folder = tmp_path_factory.mktemp("io")
    data_before = raster.data.copy()
    io.write_raster(folder / f"r{suffix}", raster)
    back = io.read_raster(folder / f"r{suffix}")
    np.testing.assert_array_equal(raster.data, data_before)  # the input is untouched
    assert back.data.dtype == raster.data.dtype and back.data.shape == raster.data.shape
    if suffix == ".tif":  # .npy keeps no nodata value: NaN alone marks no-data there
        np.testing.assert_array_equal(back.valid, raster.valid)
    np.testing.assert_array_equal(back.data[raster.valid], raster.data[raster.valid])
    band = back.band(0)
    assert band.dtype == (raster.data.dtype if back.valid[0].all()
                          else np.result_type(raster.data.dtype, np.float32))
    assert [p.name for p in folder.iterdir()] == [f"r{suffix}"]  # no temporary left


@SETTINGS
@given(raster=rasters(), dx=st.integers(-5, 5), dy=st.integers(-5, 5),
       order=st.sampled_from([0, 1, 3]))
def test_warp_raster_by_whole_pixels_moves_the_pixels(raster, dx, dy, order):
    """A whole-pixel shift moves every valid pixel unchanged, in every dtype and order."""
    from sarfeat import io

    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])  # output (x, y) reads (x+dx, y+dy)
    warped = io.warp_raster(raster, shift, raster.shape, order=order)
    assert warped.data.dtype == raster.data.dtype
    rows, cols = raster.shape
    start = max(0, -dx)  # the output columns that read an input column, clamped when |dx| >= cols
    out_cols = slice(start, max(start, min(cols, cols - dx)))
    in_cols = slice(out_cols.start + dx, out_cols.stop + dx)
    for index in range(raster.count):
        for r in range(max(0, -dy), min(rows, rows - dy)):
            source_valid = raster.valid[index, r + dy, in_cols]
            out_valid = warped.valid[index, r, out_cols]
            assert not (out_valid & ~source_valid).any()  # no-data never becomes data
            # at whole pixels the interpolation reads one pixel: data stays data
            np.testing.assert_array_equal(out_valid, source_valid)
            kept = out_valid
            expected = raster.data[index, r + dy, in_cols][kept]
            if expected.dtype.kind in "iu":  # a valid value on the nodata moves off it
                expected = np.where(expected == warped.nodata,
                                    expected + (1 if warped.nodata < 1 else -1), expected)
            np.testing.assert_array_equal(warped.data[index, r, out_cols][kept], expected)
    # pixels that come from outside the input are no-data
    if dy > 0:
        assert not warped.valid[:, rows - dy:].any()
    if dx < 0:
        assert not warped.valid[:, :, :min(cols, -dx)].any()


@SETTINGS
@given(data=st.data())
def test_one_no_data_rule_for_nan_nodata_masks_and_masked_arrays(data):
    """NaN, a nodata value, a mask and a masked array mark the same pixels, complex or not."""
    from sarfeat.geometry import warp
    from sarfeat.preprocess import valid_mask

    dtype = data.draw(st.sampled_from(["float32", "float64", "complex64"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shape = (data.draw(st.integers(2, 40)), data.draw(st.integers(2, 40)))
    values = (rng.gamma(1.0, 1.0, shape) + 0.1).astype(dtype)
    holes = rng.random(shape) < data.draw(st.sampled_from([0.0, 0.05, 0.5, 1.0]))
    with_nan = np.where(holes, np.nan, values)
    with_nodata = np.where(holes, -1, values).astype(dtype)
    masked = np.ma.masked_array(values, mask=holes)
    expected = ~holes
    for valid in (valid_mask(with_nan), valid_mask(with_nodata, -1), valid_mask(masked),
                  valid_mask(values, mask=~holes)):
        np.testing.assert_array_equal(valid, expected)
    matrix = np.array([[1, 0.1, data.draw(st.floats(-3, 3))],
                       [-0.1, 1, data.draw(st.floats(-3, 3))], [0, 0, 1.0]])
    reference = warp(with_nan, matrix, shape)
    for other in (warp(with_nodata, matrix, shape, nodata=-1), warp(masked, matrix, shape),
                  warp(values, matrix, shape, valid=~holes)):
        np.testing.assert_array_equal(np.isnan(other), np.isnan(reference))
        np.testing.assert_allclose(other, reference, equal_nan=True, rtol=1e-6)
