"""Tests of :mod:`sarfeat.parallel`'s stacks of pairs, and of ``sarfeat register-stack``
over them, on a LocalCluster of two worker processes.

The stack is made of real SAR: the HV and VV channels of the AIRSAR scene
(independent speckle from HH) under known similarity warps, registered onto
HH. The large-scene path (:func:`sarfeat.parallel.detect_tiled`) is tested in
test_parallel_scene.py.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time

import numpy as np
import pytest
import torch
from skimage.transform import SimilarityTransform, warp

from sarfeat import register
from sarfeat.metrics import registration_rmse

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from sarfeat.parallel import (  # noqa: E402 - after the skip
    PairOutcome,
    iter_register_pairs,
    register_pairs,
    register_stack,
)

#: Matcher options that keep a 256-pixel pair well under a second (upright pairs).
FAST = dict(rotations=(0,), angle_step=None, refine_angle=None, identity_prior=False)

#: Fixed (x, y) -> moving (x, y) of each image of the stack: six, each registered serially
#: once (``serial``) and on the workers by the stack and the killed-worker tests.
WARPS = [
    SimilarityTransform(scale=1 + 0.01 * k, rotation=np.deg2rad(2 * k - 5),
                        translation=(3.0 * k - 8, 5.0 - 2 * k))
    for k in range(6)
]


def _moved(image: np.ndarray, truth) -> np.ndarray:
    return warp(image, truth.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)


@pytest.fixture(scope="module")
def stack(airsar_cube):
    """HH, and HV/VV under the WARPS."""
    reference = airsar_cube[..., 0]
    images = [_moved(airsar_cube[..., 1 + k % 2], truth) for k, truth in enumerate(WARPS)]
    return reference, images


@pytest.fixture(scope="module")
def serial(stack):
    """What the serial path, :func:`sarfeat.register` with rng=0, gives for each image.

    With one torch thread, as in the workers: the network's sums then run in the same
    order, and the results are equal to the last bit, not just close.
    """
    reference, images = stack
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [register(reference, image, rng=0, **FAST) for image in images]
    finally:
        torch.set_num_threads(threads)


def _same(outcome: PairOutcome, expected) -> None:
    assert outcome.ok, outcome.error
    np.testing.assert_allclose(outcome.result.transform.params, expected.transform.params,
                               atol=1e-4)
    np.testing.assert_array_equal(outcome.result.inlier_matches, expected.inlier_matches)


# -- stacks ----------------------------------------------------------------------------------------


def test_stack_equals_serial_and_builds_one_matcher_per_worker(client, stack, serial):
    reference, images = stack
    outcomes = register_stack(reference, images[:6], client=client, progress=False, **FAST)
    assert [o.index for o in outcomes] == list(range(6))
    assert [o.name for o in outcomes] == [f"pair_{k:03d}" for k in range(6)]
    for outcome, expected, truth in zip(outcomes, serial, WARPS):
        _same(outcome, expected)
        assert registration_rmse(outcome.result.transform, truth.params, reference.shape,
                                 reference.shape) < 1.0
        np.testing.assert_allclose(outcome.result.warped, expected.warped, atol=1e-3,
                                   equal_nan=True)
    workers = {o.worker for o in outcomes}
    assert workers == set(client.scheduler_info()["workers"])  # both workers took pairs
    # one matcher per (single-threaded) worker, kept: it loads its network once
    built = client.run(
        lambda: __import__("sarfeat.parallel._worker").parallel._worker.matcher_count())
    assert sorted(built.values()) == [1, 1]


def test_a_failed_pair_does_not_lose_the_others(client, stack, serial, tmp_path):
    reference, images = stack
    broken = tmp_path / "broken.npy"
    broken.write_text("not an array")
    pairs = [(reference, images[0]), (reference, np.ones((64, 64), np.float32)),
             (reference, str(broken)), (reference, np.zeros((4, 4, 4))), (reference, images[1])]
    outcomes = register_pairs(pairs, client=client, progress=False, keep_warped=False, **FAST)
    _same(outcomes[0], serial[0])
    _same(outcomes[4], serial[1])
    assert outcomes[0].result.warped is None
    assert outcomes[2].name == "broken"
    failed = {o.index: o for o in outcomes if not o.ok}
    assert sorted(failed) == [1, 2, 3]
    assert failed[1].error_type == "RegistrationError" and "constant" in failed[1].error
    assert failed[2].error_type == "RasterError" and "broken.npy" in failed[2].error
    assert failed[3].error_type == "ValueError" and "single-channel (H, W)" in failed[3].error
    assert all(o.result is None for o in failed.values())


def test_relative_paths_are_the_clients_not_the_workers(client, stack, serial, tmp_path,
                                                        monkeypatch):
    """The workers started in another working directory (a remote cluster's always do): a
    relative path was read from theirs, so an image was missing there, or another file of
    that name was registered in its place."""
    reference, images = stack
    np.save(tmp_path / "reference.npy", reference)
    np.save(tmp_path / "date0.npy", images[0])
    monkeypatch.chdir(tmp_path)
    outcome, = register_stack("reference.npy", ["date0.npy"], client=client, progress=False,
                              keep_warped=False, **FAST)
    assert outcome.name == "date0"
    _same(outcome, serial[0])


def test_a_relative_weights_path_is_the_clients_not_the_workers(client, stack, tmp_path,
                                                                monkeypatch):
    """A relative checkpoint path went to the workers as it was, unlike an image path: a
    worker started in another working directory (a remote one always is) could not find it."""
    import shutil

    from sarfeat.data import fetch

    reference, images = stack
    shutil.copy(fetch("weights/sarfeat-sar-v1.pt"), tmp_path / "net.pt")
    monkeypatch.chdir(tmp_path)
    outcome, = register_pairs([(reference, images[0])], client=client, weights="net.pt",
                              progress=False, keep_warped=False, **FAST)
    assert outcome.ok, outcome.error
    expected = register(reference, images[0], weights="net.pt", rng=0, **FAST)
    np.testing.assert_allclose(outcome.result.transform.params, expected.transform.params,
                               atol=0.05)


def test_results_stream_back_and_survive_a_killed_worker(client, stack, serial):
    reference, images = stack
    outcomes = iter_register_pairs([(reference, image) for image in images], client=client,
                                   progress=False, **FAST)
    first = next(outcomes)  # one result is back while the others are still running
    assert isinstance(first, PairOutcome)
    busy = {w: keys for w, keys in client.processing().items() if keys}
    assert busy, "no task in flight to lose"
    victim = sorted(busy)[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    rest = list(outcomes)
    got = sorted([first] + rest, key=lambda o: o.index)
    assert [o.index for o in got] == list(range(len(images)))
    for outcome, expected in zip(got, serial):
        _same(outcome, expected)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert pid not in client.run(os.getpid).values()


def test_bad_options_fail_once_before_any_task(client, stack):
    reference, images = stack
    with pytest.raises(ValueError, match="rng must be an int"):
        register_stack(reference, images[:2], client=client, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown matcher or detector option"):
        register_stack(reference, images[:2], client=client, colour="red")
    with pytest.raises(ValueError, match="names has 1 entries for 2 pairs"):
        register_stack(reference, images[:2], client=client, names=["a"])
    with pytest.raises(ValueError, match="pair 0 is not"):
        register_pairs([reference], client=client)
    with pytest.raises(TypeError, match="distributed.Client"):
        register_stack(reference, images[:2], client="tcp://nowhere")
    # a band per side (register-stack's --reference-band and --image-band) is a pair, and
    # georeferenced_options are matcher options, checked as the others are
    with pytest.raises(ValueError, match=r"band must be one band or a \(fixed, moving\) pair"):
        register_stack(reference, images[:2], client=client, band=(0, 1, 2))
    with pytest.raises(ValueError, match="unknown matcher or detector option"):
        register_stack(reference, images[:2], client=client,
                       georeferenced_options={"colour": "red"})
    with pytest.raises(ValueError, match="georeferenced_options are matcher options"):
        register_stack(reference, images[:2], client=client, georeferenced_options={"order": 0})


@pytest.mark.parametrize("progress", [True, None, False])
def test_progress_in_georeferenced_options_is_refused(progress, monkeypatch):
    """georeferenced_options={"progress": True} was accepted and ignored (the workers run with
    progress=False): a user asking for bars got none without a word. It is refused before
    any cluster starts, as the other options that cannot apply are."""
    from sarfeat.parallel import stack as stack_module

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(stack_module, "client_for", no_cluster)
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(ValueError, match="georeferenced_options cannot set progress"):
        register_stack(image, [image], georeferenced_options={"progress": progress})


@pytest.mark.parametrize("order", [7, True])
def test_a_bad_resampling_order_fails_once_before_any_task(client, stack, order):
    """A bad ``order`` of :func:`sarfeat.register` was not checked on the client: every pair
    came back failed with the same ValueError instead of one ValueError before any task."""
    reference, images = stack
    with pytest.raises(ValueError, match="order must be a spline order"):
        register_stack(reference, images[:2], client=client, progress=False, order=order)


# -- the command line ------------------------------------------------------------------------------


def test_register_stack_command(client, stack, tmp_path, capsys):
    from sarfeat.cli import main

    reference, images = stack
    paths = []
    for k, image in enumerate(images[:3]):
        paths.append(tmp_path / f"date{k}.npy")
        np.save(paths[-1], image)
    flat = tmp_path / "flat.npy"
    np.save(flat, np.ones((128, 128), np.float32))
    np.save(tmp_path / "ref.npy", reference)
    out = tmp_path / "out"
    status = main(["register-stack", str(tmp_path / "ref.npy"), *map(str, paths), str(flat),
                   "-o", str(out), "--format", "npy", "--no-progress",
                   "--scheduler", client.scheduler.address])
    captured = capsys.readouterr()
    assert status == 1  # one image could not be registered
    assert "1 of 4 images could not be registered" in captured.err
    assert "flat: FAILED (RegistrationError)" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["registered"] == 3 and summary["failed"] == 1
    assert [e["name"] for e in summary["successes"]] == ["date0", "date1", "date2"]
    assert summary["failures"][0]["name"] == "flat"
    assert "constant" in summary["failures"][0]["error"]
    assert summary["workers"] == 2 and summary["pairs_per_minute"] > 0
    for k, entry in enumerate(summary["successes"]):
        registered = np.load(entry["output"])
        assert registered.shape == reference.shape
        report = json.loads((out / f"date{k}.json").read_text())
        assert report["moving"] == str(paths[k])
        assert report["residuals_px"]["frame"] == "pixels of the moving file"
        transform = np.array(report["transform_fixed_to_moving"])
        assert registration_rmse(transform, WARPS[k].params,
                                 reference.shape, reference.shape) < 1.0
    assert json.loads((out / "flat.json").read_text())["error_type"] == "RegistrationError"


def test_register_stack_leaves_no_earlier_output_under_its_names(client, tmp_path):
    """An image registered by an earlier run into the same folder, that fails now, kept the
    earlier registered image beside its failure report: the folder held one registered image
    more than the summary said."""
    from sarfeat.cli import main

    np.save(tmp_path / "ref.npy", np.ones((64, 64), np.float32) + np.eye(64, dtype=np.float32))
    np.save(tmp_path / "flat.npy", np.ones((64, 64), np.float32))
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "flat.registered.npy"
    np.save(stale, np.zeros((64, 64), np.float32))
    other = out / "other.registered.npy"  # not a name of this run: kept
    np.save(other, np.zeros((4, 4)))
    status = main(["register-stack", str(tmp_path / "ref.npy"), str(tmp_path / "flat.npy"),
                   "-o", str(out), "--format", "npy", "-q", "--overwrite", "--scheduler",
                   client.scheduler.address])
    assert status == 1
    assert json.loads((out / "summary.json").read_text())["registered"] == 0
    assert json.loads((out / "flat.json").read_text())["status"] == "failed"
    assert not stale.exists() and other.exists()


def test_register_stack_command_usage_errors(tmp_path, capsys):
    from sarfeat.cli import main

    reference = tmp_path / "ref.npy"
    np.save(reference, np.ones((8, 8)))
    status = main(["register-stack", str(reference), str(tmp_path / "nope.npy"),
                   "-o", str(tmp_path / "out")])
    assert status == 2 and "nope.npy' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["register-stack", str(reference), "-o", str(tmp_path)])
    assert exited.value.code == 2
    status = main(["register-stack", str(reference), str(reference), "-o",
                   str(tmp_path / "out"), "--lost-retries", "-1"])
    assert status == 2 and "--lost-retries must be >= 0" in capsys.readouterr().err


def test_register_stack_command_passes_its_retry_counts(client, monkeypatch, tmp_path, capsys):
    """--retries and --lost-retries reach the Dask driver."""
    import sarfeat.parallel
    from sarfeat.cli import main

    seen = {}

    def record(pairs, **options):
        seen.update(options)
        return iter(())

    monkeypatch.setattr(sarfeat.parallel, "iter_register_pairs", record)
    reference = tmp_path / "ref.npy"
    np.save(reference, np.ones((8, 8), np.float32))
    main(["register-stack", str(reference), str(reference), "-o", str(tmp_path / "out"),
          "--retries", "0", "--lost-retries", "5", "--no-progress",
          "--scheduler", client.scheduler.address])
    assert (seen["retries"], seen["lost_retries"]) == (0, 5)


def test_a_pair_lost_with_its_worker_runs_again_then_is_reported(monkeypatch, tmp_path):
    """A pair whose task Dask gives up on (KilledWorker, or its future cancelled as workers
    die) is submitted again, at most lost_retries times, then reported as lost (killed
    workers used to leave their images as FutureCancelledError, never retried). The losses
    are played on an in-process cluster; the retried tasks run the real task, on constant
    images that it refuses at once."""
    from types import SimpleNamespace

    from sarfeat.parallel import stack as stack_module

    real = stack_module._register_task

    def flaky(index, *args):
        tries = tmp_path / f"pair{index}"  # the task travels by value: count on disk
        with open(tries, "a") as marks:
            marks.write("x")
        attempt = len(tries.read_text())
        if index == 0 and attempt == 1 or index == 2:
            raise distributed.KilledWorker(f"pair-{index}", SimpleNamespace(address="gone"), 3)
        if index == 1 and attempt == 1:  # cancelled while it runs
            key = distributed.get_worker().get_current_task()
            distributed.get_client().cancel([distributed.Future(key)], force=True)
            time.sleep(1.0)
        return real(index, *args)

    monkeypatch.setattr(stack_module, "_register_task", flaky)
    constant = np.ones((32, 32), np.float32)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as local:
        outcomes = register_pairs([(constant, constant)] * 4, client=local, progress=False,
                                  retries=0, torch_threads=None, **FAST)
    attempts = [len((tmp_path / f"pair{index}").read_text()) for index in range(4)]
    assert attempts == [2, 2, 3, 1]
    for index in (0, 1, 3):  # run again, to the real task's own answer
        assert outcomes[index].error_type == "RegistrationError", outcomes[index].error
    assert outcomes[2].error_type == "KilledWorker"
    assert outcomes[2].error.startswith("the task was lost 3 times (its worker died")
    # nothing of the lost pair is known: no result, worker, time (it said 0 s) or extra
    lost = outcomes[2]
    assert (lost.result, lost.worker, lost.seconds, lost.extra, lost.inputs) == (
        None, None, None, {}, None)
    assert [outcome.index for outcome in outcomes] == [0, 1, 2, 3]


def test_a_shared_image_is_sent_again_after_a_pair_that_used_it_is_lost(monkeypatch, tmp_path):
    """The reference that every pair of a stack shares is scattered to the workers once.
    When a pair that used those copies is lost with its worker, they may have been lost with
    it (the client learns of it only later, so a status check let the pair run again on lost
    copies and be cancelled at once): it is submitted again with fresh copies, and the pairs
    lost after it reuse those."""
    from types import SimpleNamespace

    from sarfeat.parallel import stack as stack_module

    real = stack_module._register_task

    def lost_once(index, *args):
        tries = tmp_path / f"pair{index}"
        with open(tries, "a") as marks:
            marks.write("x")
        if index == 0 and len(tries.read_text()) == 1:
            raise distributed.KilledWorker("pair-0", SimpleNamespace(address="gone"), 3)
        return real(index, *args)

    monkeypatch.setattr(stack_module, "_register_task", lost_once)
    reference = np.ones((32, 32), np.float32)
    movings = [np.full((32, 32), k + 2, np.float32) for k in range(3)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as local:
        scatters = []
        scatter = local.scatter
        monkeypatch.setattr(local, "scatter",
                            lambda *a, **k: scatters.append(1) or scatter(*a, **k))
        outcomes = register_stack(reference, movings, client=local, progress=False,
                                  retries=0, lost_retries=1, torch_threads=None, **FAST)
    assert [len((tmp_path / f"pair{i}").read_text()) for i in range(3)] == [2, 1, 1]
    assert len(scatters) == 2  # once, then again for the pair lost with its worker
    for outcome in outcomes:  # every pair ran the real task: constant images are refused
        assert outcome.error_type == "RegistrationError", outcome.error


class _Terminal(io.StringIO):
    """A standard error that says it is a terminal, as a worker's may be (the client's)."""

    def isatty(self) -> bool:
        return True


def test_workers_draw_no_progress_bar_on_a_terminal(monkeypatch, stack):
    """A worker's standard error may be the client's terminal: the fine stage's bar (shown
    by default on a terminal) would be drawn there, over the client's bar, and make tqdm's
    lock, a named semaphore that a killed worker leaks. The tasks run with progress off; the
    pair runs in-process, its worker a thread that sees the fake terminal."""
    from sarfeat.parallel import _worker

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    reference, images = stack
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as local:
        outcomes = register_pairs([(reference, images[0])], client=local, progress=False,
                                  torch_threads=None, **FAST)
    assert outcomes[0].ok, outcomes[0].error
    written = terminal.getvalue()
    assert "fine stage" not in written and "patch" not in written and "\r" not in written, \
        written
    # what a worker keeps shows no bar, whatever its options say
    assert _worker.matcher(None, {**FAST, "progress": True}).progress is False
    assert _worker.detector(None, {"progress": True}).progress is False


# -- georeferenced stacks --------------------------------------------------------------------------


def _write_geotiff(path, image: np.ndarray, crs: str, origin, pixel: float) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    with rasterio.open(path, "w", driver="GTiff", height=image.shape[0], width=image.shape[1],
                       count=1, dtype="float32", crs=crs, nodata=float("nan"),
                       transform=Affine(pixel, 0, origin[0], 0, -pixel, origin[1])) as target:
        target.write(image.astype(np.float32)[None])


def test_register_stack_matches_georeferenced_images_as_register_does(client, tmp_path,
                                                                      capsys):
    """A reference at 10 m; an image off by a known (30, -20) m; one at 20 m; one elsewhere.
    Each transform is `sarfeat register`'s on that pair, mapping the reference's pixels to the
    image file's own; the one whose footprint misses the reference's fails with that reason."""
    rasterio = pytest.importorskip("rasterio")
    from sarfeat.cli import main
    from sarfeat.data import load_sar_scene

    scene = load_sar_scene("labrador")[..., 0].astype(np.float32)  # 256 x 256
    utm, (x0, y0) = "EPSG:32633", (500000.0, 5600000.0)
    reference = tmp_path / "reference.tif"
    _write_geotiff(reference, scene, utm, (x0, y0), 10.0)
    shifted = tmp_path / "shifted.tif"  # rows 16:, columns 24: whose georeferencing is off
    _write_geotiff(shifted, scene[16:240, 24:232], utm, (x0 + 240 + 30, y0 - 160 - 20), 10.0)
    coarse = tmp_path / "coarse.tif"  # 2 x 2 means: 20 m pixels, rightly placed
    _write_geotiff(coarse, scene.reshape(128, 2, 128, 2).mean(axis=(1, 3)), utm, (x0, y0), 20.0)
    far = tmp_path / "far.tif"  # 100 km east
    _write_geotiff(far, scene[:128, :128], utm, (x0 + 100000, y0), 10.0)
    truths = {"shifted": (np.array([[1, 0, -24], [0, 1, -16], [0, 0, 1.0]]), (30.0, -20.0)),
              "coarse": (np.array([[0.5, 0, -0.25], [0, 0.5, -0.25], [0, 0, 1]]), (0.0, 0.0))}
    out = tmp_path / "out"
    status = main(["register-stack", str(reference), str(shifted), str(coarse), str(far),
                   "-o", str(out), "--no-progress", "--scheduler", client.scheduler.address])
    assert status == 1 and "1 of 3 images could not be registered" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert [e["name"] for e in summary["successes"]] == ["shifted", "coarse"]
    failure, = summary["failures"]
    assert failure["name"] == "far" and failure["error_type"] == "RegistrationError"
    assert "footprints" in failure["error"] and "do not overlap" in failure["error"]
    # worded for the stack: the reference and the image's file, not register's FIXED, MOVING
    assert f"footprints of the reference and {far} do not overlap" in failure["error"]
    for name, (truth, (east, north)) in truths.items():
        stacked = json.loads((out / f"{name}.json").read_text())
        status = main(["register", str(reference), str(tmp_path / f"{name}.tif"), "--json",
                       str(tmp_path / f"{name}.register.json"), "-q"])
        assert status == 0
        single = json.loads((tmp_path / f"{name}.register.json").read_text())
        moving_shape = tuple(stacked["moving_shape"])
        assert registration_rmse(np.array(stacked["transform_fixed_to_moving"]),
                                 np.array(single["transform_fixed_to_moving"]), scene.shape,
                                 moving_shape) < 0.05
        assert registration_rmse(np.array(stacked["transform_fixed_to_moving"]), truth,
                                 scene.shape, moving_shape) < 0.3
        np.testing.assert_allclose(stacked["georeferencing_prior"],
                                   single["georeferencing_prior"])
        for key in ("fixed_window_matched", "moving_resampled_for_matching"):
            assert stacked[key] == single[key]
        shift = stacked["geography"]["shift_map_units"]
        assert abs(shift["east"] - east) < 3 and abs(shift["north"] - north) < 3
        with rasterio.open(stacked["output"]) as written:  # on the reference's grid
            assert written.shape == scene.shape and written.crs.to_string() == utm
            assert written.transform.almost_equals(rasterio.open(reference).transform)
            registered = written.read(1)
        if name == "shifted":  # the same pixels, put back where they belong
            inside = np.isfinite(registered)
            assert inside.mean() > 0.6
            assert np.corrcoef(registered[inside], scene[inside])[0, 1] > 0.9
