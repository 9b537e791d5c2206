"""sarfeat.zero_edges: a SAR image's exact zeros along its border that look like a fill and are
matched as data are warned of (sarfeat.register, sarfeat register, register-stack); calm water
of 8-bit levels is not, nor an image whose nodata value is given."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skimage.io import imsave

import sarfeat
from sarfeat import registration
from sarfeat.cli import main
from sarfeat.zero_edges import ZeroEdgeWarning, zero_edge, zero_edge_note

ROWS, COLS = np.mgrid[:256, :256]
#: A GRD-like slice edge: the pixels right of a slanted line, touching two corners only.
EDGE = COLS > 160 + 0.3 * ROWS


def _intensity(tile) -> np.ndarray:
    """The SAR tile as linear intensity (its 8-bit levels read as a 30 dB stretch)."""
    return (10 ** ((tile[1].astype(np.float32) / 255 * 30 - 25) / 10)).astype(np.float32)


@pytest.fixture(scope="module")
def sliced(tile):
    """The SAR tile in linear intensity with exact zeros beyond a slice edge."""
    intensity = _intensity(tile)
    intensity[EDGE] = 0.0
    return intensity


def _decibels(intensity: np.ndarray) -> np.ndarray:
    """``intensity`` in dB, its zeros kept 0 (a fill in dB: 0 dB is a value)."""
    positive = np.where(intensity > 0, intensity, 1.0)
    return np.where(intensity > 0, 10 * np.log10(positive), 0.0).astype(np.float32)


def _calm_water(tile, speckle: bool) -> np.ndarray:
    """The SAR tile (8-bit levels) with a river across it and a lake in a corner, both calm
    water: level 0, or with ``speckle`` 8-bit speckle whose darkest level, 0, is most of it
    (3MOS's TerraSAR water tiles: 74-84 % of their pixels)."""
    sar = tile[1].copy()
    river = (ROWS > 90 + 12 * np.sin(COLS / 17)) & (ROWS < 140 + 9 * np.sin(COLS / 11 + 1))
    lake = np.hypot(ROWS, COLS) < 70 + 8 * np.sin(6 * np.arctan2(ROWS, COLS))
    water = river | lake if speckle else river
    levels = np.floor(np.random.default_rng(0).gamma(1.0, 0.5, sar.shape)) if speckle else 0.0
    sar[water] = np.broadcast_to(levels, sar.shape)[water]
    return sar


def test_a_slice_edge_is_found_with_its_pixels_as_matched(sliced):
    found = zero_edge(sliced)
    assert found is not None and found.exact
    assert found.pixels == EDGE.sum() and found.share == pytest.approx(EDGE.mean())
    # brought onto another grid: NaN around it, the zeros reach the border through it
    grid = np.full((300, 320), np.nan, np.float32)
    grid[20:276, 30:286] = sliced
    assert zero_edge(grid).pixels == EDGE.sum()
    # masked pixels are no-data too; a complex pixel is zero when both its parts are
    masked = np.ma.masked_array(sliced, mask=ROWS < 10)
    assert zero_edge(masked).pixels == (EDGE & (ROWS >= 10)).sum()
    assert zero_edge(sliced.astype(np.complex64)).pixels == EDGE.sum()
    # a large image is looked at every n-th pixel: its count is an estimate
    large = np.kron(sliced, np.ones((4, 4), np.float32))
    found = zero_edge(large)
    assert not found.exact and found.pixels == pytest.approx(16 * EDGE.sum(), rel=0.01)


def test_calm_water_dark_corners_and_a_scene_without_zeros_are_not_a_fill(tile, sliced):
    # a river of level 0 from border to border and a speckled lake: the shores hold the zeros
    # on both sides (the rest's convex hull covers them), and the speckle's levels lie in them
    for speckle in (False, True):
        water = _calm_water(tile, speckle)
        assert zero_edge(water) is None and zero_edge(water / 255) is None
    corner = _intensity(tile)
    corner[:20, :20] = 0.0  # 0.6 % of the pixels: under ZERO_EDGE_SHARE
    assert zero_edge(corner) is None and zero_edge(tile[1]) is None
    # the fill of a turned image on a canvas, all four corners zero: the optical-SAR
    # matcher takes it for no-data by itself (border_fill), and nothing is said of it
    canvas = _intensity(tile)
    canvas[(np.abs(ROWS - 127.5) + np.abs(COLS - 127.5)) > 150] = 0.0
    assert zero_edge(canvas) is not None and zero_edge(canvas, canvas_fill=True) is None


def test_the_note_is_left_out_where_the_matcher_takes_the_zeros_for_fill(sliced):
    decibels = _decibels(sliced)
    # SAR-SAR: linear intensity's border zeros are fill; 0 dB, a masked array's and a complex
    # image's are data
    assert zero_edge_note(sliced, "moving", optical_pair=False) is None
    assert zero_edge_note(sliced, "moving", optical_pair=False, input_kind="intensity") is None
    for image, kind in ((decibels, "auto"), (sliced, "db"), (np.ma.masked_invalid(sliced), "auto"),
                        (sliced.astype(np.complex64), "auto")):
        note = zero_edge_note(image, "fixed", optical_pair=False, input_kind=kind)
        assert note is not None and note.startswith(f"the fixed image has {EDGE.sum()} pixels")
    # against an optical image they are data in every kind
    note = zero_edge_note(sliced, "moving", optical_pair=True)
    assert f"({100 * EDGE.mean():.1f} % of its valid pixels)" in note
    assert "matched as data" in note and "nodata=0" in note and "--nodata 0" in note


def test_between_two_sar_images_it_is_said_exactly_where_the_matcher_keeps_the_zeros(sliced):
    from sarfeat.matching.inputs import normalized_input

    speckle = np.random.default_rng(1).gamma(1.0, 1000.0, EDGE.shape)
    amplitude = (speckle + 1).astype(np.uint16)
    amplitude[EDGE] = 0
    uniform = np.random.default_rng(2).integers(1, 4000, EDGE.shape).astype(np.uint16)
    uniform[EDGE] = 0  # read as dB by 'auto': its zeros are data
    images = (sliced, _decibels(sliced), amplitude, uniform, np.ma.masked_invalid(sliced),
              sliced.astype(np.complex64), np.clip(sliced * 2000, 0, 255).astype(np.uint8))
    kept = []
    for image in images:
        matched = np.asarray(normalized_input(image, "auto", None, "image2"))
        left_out = bool(np.isnan(matched[EDGE]).all())
        assert left_out or not np.isnan(matched[EDGE]).any()
        said = zero_edge_note(image, "moving", optical_pair=False) is not None
        assert said != left_out
        kept.append(said)
    assert kept == [False, True, False, True, True, True, True]


def test_register_warns_of_a_slice_edge_against_an_optical_image(tile, sliced):
    with pytest.warns(ZeroEdgeWarning, match="^the moving image has .* --nodata 0") as shown:
        try:
            sarfeat.register(tile[0], sliced, modality="optical-sar", rng=0, progress=False)
        except sarfeat.RegistrationError:
            pass  # the edge pulled the search: refused, or registered, the warning is said
    assert [w.category for w in shown] == [ZeroEdgeWarning]
    assert shown[0].filename == __file__  # said where register was called


class _Stopped(Exception):
    """Raised in place of the matching: what register says before it is all that is tested."""


@pytest.fixture
def stopped(monkeypatch):
    """sarfeat.register stopped (:class:`_Stopped`) where it would match the images."""
    def stop(*args):
        raise _Stopped

    monkeypatch.setattr(registration, "_match", stop)


def test_register_says_it_of_either_role_in_any_mode_unless_nodata_is_given(tile, sliced,
                                                                           stopped):
    decibels = _decibels(sliced)
    for fixed, moving, options, which in (
            (sliced, tile[0], {"modality": "sar-optical"}, "fixed"),
            (_decibels(_intensity(tile)), decibels, {}, "moving")):  # SAR-SAR in dB
        with pytest.warns(ZeroEdgeWarning, match=f"^the {which} image has"), \
                pytest.raises(_Stopped):
            sarfeat.register(fixed, moving, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroEdgeWarning)
        for fixed, moving, options in (
                (tile[0], sliced, {"modality": "optical-sar", "nodata": 0}),
                (_intensity(tile), decibels, {"nodata": 0}),
                (_intensity(tile), sliced, {}),  # SAR-SAR in linear intensity: fill
                (tile[0], _calm_water(tile, True), {"modality": "optical-sar"})):
            with pytest.raises(_Stopped):
                sarfeat.register(fixed, moving, **options)


def test_register_looks_at_images_handed_over_in_either_role(tile, sliced, stopped):
    """The command line hands FIXED's band and MOVING's image over in a Handover: each is
    looked at as its array (MOVING's was read as an array of one object: 'max() arg is an
    empty sequence', which replaced the refusal and its hint)."""
    from sarfeat.handover import Handover

    for fixed, moving, modality, which in (
            (sliced, tile[0], "sar-optical", "fixed"),
            (tile[0], sliced, "optical-sar", "moving")):
        with pytest.warns(ZeroEdgeWarning, match=f"^the {which} image has"), \
                pytest.raises(_Stopped):
            sarfeat.register(Handover(fixed.copy()), Handover(moving.copy()),
                             modality=modality)


def test_cli_register_warns_and_nodata_0_silences_it(tile, sliced, tmp_path, stopped, capsys):
    optical, sar = tmp_path / "optical.png", tmp_path / "sar.npy"
    imsave(optical, np.clip(tile[0], 0, 255).astype(np.uint8), check_contrast=False)
    np.save(sar, sliced)
    command = ["register", str(optical), str(sar), "--modality", "optical-sar", "-q", "--json"]
    with pytest.warns(ZeroEdgeWarning, match="^the moving image has .* --nodata 0"):
        assert main(command + [str(tmp_path / "1.json")]) == 1  # stopped where it would match
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroEdgeWarning)  # the command's error, if raised
        assert main(command + [str(tmp_path / "2.json"), "--nodata", "0"]) == 1
    said = capsys.readouterr().err
    assert said.count("sarfeat register: error: _Stopped") == 2 and "zeros" not in said


def test_register_stack_says_it_of_the_image_on_its_worker(tile, sliced, tmp_path):
    pytest.importorskip("distributed")
    optical, sar = tmp_path / "optical.npy", tmp_path / "sar.npy"
    np.save(optical, tile[0])
    np.save(sar, sliced)
    with pytest.warns(ZeroEdgeWarning, match=r"^the moving image has .*\(pair 'sar', on worker"):
        main(["register-stack", str(optical), str(sar), "-o", str(tmp_path / "out"),
              "--modality", "optical-sar", "--format", "npy", "--no-progress", "--workers",
              "1", "-q"])
