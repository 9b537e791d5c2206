"""``register`` hands FIXED's band over to the matcher (:class:`sarfeat.handover.Handover`):
the band is let go once the optical-SAR matcher has made its working copy, not held by
every caller while it matches (a 9465 x 8483 uint16 band, 160 MB, at the 10980 px scene of
benchmarks/README.md); the result, and a refusal's hint on the share of FIXED's pixels the
pair holds data on together, are the same. So is MOVING's image matched (the SAR scene on
the fixed grid, 306 MiB there), unless ``--plot`` draws it."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pytest

from sarfeat.cli import main
from sarfeat.handover import Handover, handed_on, looked_at, shape_of, taken
from sarfeat.matching.dense import DenseStructuralMatcher
from sarfeat.matching.dense_search import DenseSearch

rasterio = pytest.importorskip("rasterio")

from affine import Affine  # noqa: E402

GRID = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)


def _write(path, band: np.ndarray, transform: Affine, nodata=None) -> None:
    with rasterio.open(path, "w", driver="GTiff", height=band.shape[0], width=band.shape[1],
                       count=1, dtype=band.dtype.name, crs="EPSG:32633", transform=transform,
                       nodata=nodata) as target:
        target.write(band[None])


@pytest.fixture
def shifted_pair(tile, tmp_path):
    """The optical tile as a uint16 GeoTIFF and its SAR tile, 3 px east and 2 px south of
    where its georeferencing puts it, on the same grid."""
    optical = (np.clip(tile[0], 0, 255) * 40).astype(np.uint16)
    sar = np.full(tile[1].shape, np.nan, np.float32)
    sar[:-2, 3:] = tile[1][2:, :-3]
    paths = tmp_path / "optical.tif", tmp_path / "sar.tif"
    _write(paths[0], optical, GRID)
    _write(paths[1], sar, GRID, float("nan"))
    return paths


def _prepared_watch(monkeypatch) -> tuple[list, list]:
    """Watch the optical-SAR matcher prepare its images: (for each, whether every image it
    prepared before, since ``seen`` was last cleared, is still held by someone (a weak
    reference still alive); ``seen``)."""
    seen, alive = [], []
    prepared = DenseStructuralMatcher._prepared

    def watched(self, image, role, name):
        alive.append([ref() is not None for ref in seen])
        seen.append(weakref.ref(image))
        return prepared(self, image, role, name)

    monkeypatch.setattr(DenseStructuralMatcher, "_prepared", watched)
    return alive, seen


def test_register_lets_the_fixed_band_go_before_the_moving_image_is_prepared(
        shifted_pair, tmp_path, monkeypatch):
    alive, _ = _prepared_watch(monkeypatch)
    report = tmp_path / "r.json"
    status = main(["register", *map(str, shifted_pair), "--modality", "optical-sar",
                   "--json", str(report), "-q"])
    assert status == 0
    # the fixed band (prepared first) is freed once the matcher has made its copy: before,
    # the command line, register() and the matcher's callers each held it while it matched
    assert alive == [[], [False]]
    shift = np.array(json.loads(report.read_text())["transform_fixed_to_moving"])[:2, 2]
    np.testing.assert_allclose(shift, (3, -2), atol=3.0)  # registered: within 3 px


def _searched_watch(monkeypatch, seen: list) -> list:
    """For each global search the optical-SAR matcher starts (once both images are
    prepared): whether each image it prepared (``seen``, of :func:`_prepared_watch`) is
    still held by someone."""
    alive = []
    hypotheses = DenseSearch.hypotheses

    def watched(self, image1, image2):
        alive.append([ref() is not None for ref in seen])
        return hypotheses(self, image1, image2)

    monkeypatch.setattr(DenseSearch, "hypotheses", watched)
    return alive


def test_register_lets_both_images_go_once_prepared(shifted_pair, tmp_path, monkeypatch):
    _, seen = _prepared_watch(monkeypatch)
    alive = _searched_watch(monkeypatch, seen)
    pytest.importorskip("matplotlib")
    for name, extra in (("a", []), ("b", ["--plot", str(tmp_path / "p.png")])):
        seen.clear()
        assert main(["register", *map(str, shifted_pair), "--modality", "optical-sar",
                     "--json", str(tmp_path / f"{name}.json"), "-q", *extra]) == 0
    # MOVING's image on the fixed grid is freed too while the matcher searches: before, the
    # command line, register() and the matcher's callers held it to the end ([False, True]);
    # --plot draws both images: they are kept
    assert alive == [[False, False], [True, True]]


def test_plot_keeps_the_fixed_band_and_the_result_is_the_same(shifted_pair, tmp_path,
                                                              monkeypatch):
    alive, seen = _prepared_watch(monkeypatch)
    pytest.importorskip("matplotlib")
    reports = tmp_path / "a.json", tmp_path / "b.json"
    for report, extra in zip(reports, ([], ["--plot", str(tmp_path / "p.png")])):
        seen.clear()
        assert main(["register", *map(str, shifted_pair), "--modality", "optical-sar",
                     "--json", str(report), "-q", *extra]) == 0
    assert alive == [[], [False], [], [True]]  # --plot draws FIXED's band: it is kept
    found = [json.loads(report.read_text()) for report in reports]
    for key in ("transform_fixed_to_moving", "fixed_window_matched", "diagnostics"):
        first, second = (dict(report[key]) if isinstance(report[key], dict) else report[key]
                         for report in found)
        if key == "diagnostics":
            first, second = ({k: v for k, v in d.items() if "seconds" not in k}
                             for d in (first, second))
        assert first == second, key


def test_refusal_hint_counts_the_fixed_band_s_no_data(tile, tmp_path, capsys):
    # FIXED handed over to the matcher: the hint's share of FIXED's pixels that hold data
    # with MOVING is worked out from FIXED's band before it is let go, its no-data included
    # (a stand-in of its shape alone counted the 40 x 40 corner whole: 2.44 %)
    optical = tile[0].astype(np.float32)
    optical[216:236, 216:] = np.nan  # half the corner the pair shares: 20 x 40 pixels
    corner = GRID @ Affine.translation(216, 216)
    paths = tmp_path / "optical.tif", tmp_path / "sar.tif"
    _write(paths[0], optical, GRID, float("nan"))
    _write(paths[1], tile[1][216:, 216:].astype(np.float32), corner)
    report = tmp_path / "r.json"
    status = main(["register", *map(str, paths), "--modality", "optical-sar",
                   "--json", str(report)])
    said = capsys.readouterr()
    assert status == 1, said.out
    shared = "FIXED and MOVING hold data together on 1.22 % of FIXED's pixels"  # 800 / 65536
    assert shared in said.out
    assert shared in json.loads(report.read_text(encoding="utf-8"))["hint"]


def test_pair_inputs_handed_over_keep_window_and_shared_fraction(shifted_pair):
    from sarfeat.io import read_raster
    from sarfeat.registration import prepare_pair

    inputs = prepare_pair(read_raster(shifted_pair[0]), read_raster(shifted_pair[1]), 0, 0)
    image, window, shared = inputs.fixed_image, inputs.window, inputs.shared_fraction()
    assert shared == pytest.approx(254 * 253 / 256 ** 2)
    handed, box = inputs.handing_over()
    assert handed.fixed_image is None and inputs.fixed_image is image  # inputs unchanged
    assert handed.window == window and handed.shared_fraction() == shared
    assert box.take() is image
    with pytest.raises(ValueError, match="no fixed image"):
        handed.handing_over()


def test_pair_inputs_handed_over_as_a_pair(shifted_pair):
    from sarfeat.io import read_raster
    from sarfeat.registration import prepare_pair

    inputs = prepare_pair(read_raster(shifted_pair[0]), read_raster(shifted_pair[1]), 0, 0)
    images, window, shared = (inputs.fixed_image, inputs.moving_image), inputs.window, \
        inputs.shared_fraction()
    handed, *boxes = inputs.handing_over_pair()
    assert handed.fixed_image is None and handed.moving_image is None
    assert (inputs.fixed_image, inputs.moving_image) == images  # inputs unchanged
    assert handed.window == window and handed.shared_fraction() == shared
    assert all(box.take() is image for box, image in zip(boxes, images))
    with pytest.raises(ValueError, match="no moving image"):
        handed.handing_over_pair()


def test_register_of_a_handed_over_moving_image_is_register_of_the_image(
        tile, moved_sar, optical_sar_registration):
    from sarfeat import register

    expected, _ = optical_sar_registration  # register(tile[0], moved_sar, ...) as below
    box = Handover(np.array(moved_sar))
    found = register(tile[0], box, modality="optical-sar", rng=0, progress=False)
    assert box.taken and box.shape == np.shape(moved_sar)
    np.testing.assert_array_equal(found.transform.params, expected.transform.params)
    np.testing.assert_array_equal(found.keypoints_moving, expected.keypoints_moving)
    assert found.keypoints_moving.dtype == expected.keypoints_moving.dtype
    assert found.warped is None  # the image it would resample was let go


def test_register_of_a_handed_over_image_is_register_of_the_image(tile, moved_sar,
                                                                  optical_sar_registration):
    from sarfeat import register

    expected, _ = optical_sar_registration  # register(tile[0], moved_sar, ...) as below
    box = Handover(np.array(tile[0]))
    found = register(box, moved_sar, modality="optical-sar", rng=0, progress=False)
    assert box.taken and box.shape == np.shape(tile[0])
    np.testing.assert_array_equal(found.transform.params, expected.transform.params)
    np.testing.assert_array_equal(found.keypoints_fixed, expected.keypoints_fixed)
    assert found.keypoints_fixed.dtype == expected.keypoints_fixed.dtype
    assert found.warped.shape == np.shape(tile[0])


def test_handover_gives_its_image_once():
    image = np.arange(6, dtype=np.uint16).reshape(2, 3)
    box = Handover(image)
    assert looked_at(box) is image and shape_of(box) == (2, 3) and not box.taken
    again = handed_on(box, lambda value: value * 2)
    assert box.taken and isinstance(again, Handover)
    np.testing.assert_array_equal(taken(again), image * 2)
    with pytest.raises(RuntimeError, match="taken already"):
        box.take()
    with pytest.raises(RuntimeError, match="taken already"):
        looked_at(again)
    assert taken(image) is image and handed_on(image, np.shape) == (2, 3)
    with pytest.raises(TypeError, match="NumPy array"):
        Handover([[1, 2]])


@pytest.mark.parametrize("given, keep_warped, kept", [
    ("path", False, False),  # the task reads its window of REFERENCE: its own, handed over
    ("path", True, True),  # the outcome keeps its inputs' images, as --plot keeps FIXED's
    ("raster", False, True),  # a view of the raster received (shared by a worker's tasks)
])
def test_a_stack_task_lets_its_own_reference_band_go_before_the_image_is_prepared(
        shifted_pair, monkeypatch, given, keep_warped, kept):
    """register-stack's tasks held their reference band (the window of REFERENCE each reads
    by its path) in every frame down to the matcher while it matched, where register hands
    FIXED's over. A band of the task's own is handed over now with keep_warped=False (the
    command line's); one that is a view of the reference received is not (freeing it
    frees nothing)."""
    distributed = pytest.importorskip("distributed")
    from sarfeat.io import read_raster
    from sarfeat.parallel import register_stack

    alive, _ = _prepared_watch(monkeypatch)
    reference = str(shifted_pair[0]) if given == "path" else read_raster(shifted_pair[0])
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:  # in this process: watched
        outcome, = register_stack(reference, [str(shifted_pair[1])], client=client,
                                  modality="optical-sar", keep_warped=keep_warped,
                                  progress=False)
    assert outcome.ok, outcome.error
    assert alive == [[], [kept]]
    shift = outcome.result.transform.params[:2, 2]
    np.testing.assert_allclose(shift, (3, -2), atol=3.0)  # registered: within 3 px
    if not kept:  # the inputs keep the band's window and the pair's shared fraction
        assert outcome.inputs.fixed_image is None
        assert outcome.inputs.window == (0, 256, 0, 256)
        assert outcome.inputs.shared_fraction() == pytest.approx(254 * 253 / 256 ** 2)
