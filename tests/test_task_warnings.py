"""The warnings of a Dask task gathered where it runs and raised again on the client
(:mod:`sarfeat.parallel.task_warnings`): a remote worker's warnings went to its log alone."""

from __future__ import annotations

import os
import re
import threading
import warnings

import numpy as np
import pytest

from sarfeat.io import GeoreferencingWarning
from sarfeat.parallel.task_warnings import TaskWarning, carried, recorded, relay


def _task(name: str, started: threading.Barrier, done: threading.Barrier, kept: dict) -> None:
    with recorded() as caught:
        started.wait()  # both tasks recording
        for _ in range(2):  # the same warning twice: gathered once
            warnings.warn(f"from {name}", UserWarning)
        done.wait()
    kept[name] = caught


@pytest.mark.parametrize("names", [("a",), ("a", "b")])
def test_each_task_gathers_its_own_warnings_and_shows_none(names):
    """One task, or two at once, on threads of one worker: each keeps its own warnings, and
    none is shown where they run; the main thread, which runs no task, shows its own as
    before (the client's, where tasks run on its threads)."""
    started, done = threading.Barrier(len(names) + 1), threading.Barrier(len(names) + 1)
    kept: dict = {}
    threads = [threading.Thread(target=_task, args=(name, started, done, kept))
               for name in names]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        for thread in threads:
            thread.start()
        started.wait()
        warnings.warn("from no task", UserWarning)
        done.wait()
        for thread in threads:
            thread.join()
    assert [str(warning.message) for warning in shown] == ["from no task"]
    for name in names:
        assert [(found.category, found.message) for found in kept[name]] == [
            ("UserWarning", f"from {name}")]
        assert kept[name][0].filename == __file__


def test_the_only_task_running_gathers_its_other_threads_warnings():
    """A thread of the one task that a worker runs (the optical-SAR matcher's pool) gives its
    warnings to that task; so does a block that set its own filters (catch_warnings)."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with recorded() as caught:
            pool = threading.Thread(target=warnings.warn, args=("from a pool thread",))
            pool.start()
            pool.join()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
            warnings.warn("after a catch_warnings block", RuntimeWarning)
    assert shown == []
    assert [(found.category, found.message) for found in caught] == [
        ("UserWarning", "from a pool thread"), ("RuntimeWarning", "after a catch_warnings block")]


def test_relay_raises_them_again_naming_the_task_each_time():
    geo = TaskWarning("sarfeat.raster", "GeoreferencingWarning", "'a.tif' has a CRS",
                      "/worker/raster_read.py", 295)
    unknown = TaskWarning("not_on_the_client", "ItsWarning", "said there", "/w/x.py", 3)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")  # once per place and text, as Python shows them
        for name in ("a", "b"):  # the same warning of two tasks: shown for each
            relay([geo, unknown], f"pair {name!r}")
        relay(None, "pair 'c'")
    assert [(warning.category, str(warning.message)) for warning in shown] == [
        (GeoreferencingWarning, "'a.tif' has a CRS (pair 'a')"),
        (UserWarning, "not_on_the_client.ItsWarning: said there (pair 'a')"),
        (GeoreferencingWarning, "'a.tif' has a CRS (pair 'b')"),
        (UserWarning, "not_on_the_client.ItsWarning: said there (pair 'b')")]
    assert (shown[0].filename, shown[0].lineno) == ("/worker/raster_read.py", 295)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoreferencingWarning)  # the client's filters apply
        with pytest.raises(GeoreferencingWarning, match=r"CRS \(pair 'a'\)"):
            relay([geo], "pair 'a'")


def test_a_scenes_tasks_warnings_are_raised_once_per_message():
    """detect_tiled's tasks (:class:`sarfeat.parallel.scene_warnings.SceneWarnings`): a
    message that many tasks raised, from one line or two, is raised once, where the first
    task raised it, naming that task, its worker and how many other tasks raised it."""
    from sarfeat.parallel.scene_warnings import SceneWarnings

    geo = TaskWarning("sarfeat.raster", "GeoreferencingWarning", "'a.tif' has a CRS",
                      "/worker/raster_read.py", 295)
    again = geo._replace(lineno=310)  # the same message from another line of a task
    odd = TaskWarning("builtins", "UserWarning", "odd tile", "/worker/detector.py", 7)
    raised = SceneWarnings()
    raised.add([geo, again], "row block 1 of 1", "tcp://w1")
    raised.add(None, "tile 1 of 3", "tcp://w1")
    raised.add([again, odd], "tile 2 of 3", "tcp://w2")
    raised.add([geo], "tile 3 of 3", "tcp://w1")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        raised.relay()
        raised.relay()  # relayed already: nothing again
    assert [(warning.category, str(warning.message)) for warning in shown] == [
        (GeoreferencingWarning, "'a.tif' has a CRS (detect_tiled row block 1 of 1, on worker "
                                "tcp://w1; and 2 other tasks)"),
        (UserWarning, "odd tile (detect_tiled tile 2 of 3, on worker tcp://w2)")]
    assert (shown[0].filename, shown[0].lineno) == ("/worker/raster_read.py", 295)


class _ItsWarning(UserWarning):
    """A warning class of this module's own, as a task's library may have."""


def _warn_here(text: str) -> str:
    warnings.warn(text, _ItsWarning)  # the line that every test here warns from
    return text


_WARN_LINE = _warn_here.__code__.co_firstlineno + 1


def _in_a_task(function, *args) -> list[TaskWarning]:
    """What a task that runs ``function(*args)`` on a thread of its own gathers."""
    kept: list = []

    def run():
        with recorded() as caught:
            function(*args)
        kept.append(caught)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return kept[0]


def test_each_task_gathers_a_warning_that_python_shows_once_per_place():
    """Python's default filter shows a warning of the same text from the same line once per
    process: a worker kept it from every task after the first that raised it, so that the
    client heard of one task alone. The thread that runs no task still shows it once."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        first = _in_a_task(_warn_here, "the same")
        second = _in_a_task(_warn_here, "the same")
        for _ in range(2):
            _warn_here("the same")
        assert [entry for entry in warnings.filters if "sarfeat" in repr(entry)] == []
    expected = [TaskWarning(__name__, "_ItsWarning", "the same", __file__, _WARN_LINE,
                            __name__)]
    assert first == expected and second == expected
    assert [str(warning.message) for warning in shown] == ["the same"]


def test_a_tasks_warnings_still_follow_the_workers_filters():
    """A filter of the worker that ignores a warning (by module, say) keeps it from the task,
    one that makes it an error raises it in the task, as before."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", message="ignored", module=__name__)
        warnings.filterwarnings("error", message="an error", category=_ItsWarning)
        assert _in_a_task(_warn_here, "ignored") == []
        with pytest.raises(_ItsWarning, match="an error"):
            with recorded():
                _warn_here("an error")
        assert [found.message for found in _in_a_task(_warn_here, "kept")] == ["kept"]


def test_a_task_gathers_a_warning_that_a_thread_of_no_task_showed_before_it_started():
    """While a task records (its filter in place), a thread that runs no task shows a warning
    once per place; a task that starts afterwards and raises it from the same place gathered
    nothing, as Python had noted the place as shown."""
    started, release = threading.Event(), threading.Event()

    def long_task():
        with recorded():
            started.set()
            release.wait()

    first = threading.Thread(target=long_task)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")
        first.start()
        try:
            started.wait()
            _warn_here("shown by no task first")
            later = _in_a_task(_warn_here, "shown by no task first")
        finally:
            release.set()
            first.join()
    assert [str(warning.message) for warning in shown] == ["shown by no task first"]
    assert later == [TaskWarning(__name__, "_ItsWarning", "shown by no task first", __file__,
                                 _WARN_LINE, __name__)]


def _warn_then_fail(text: str) -> None:
    _warn_here(text)
    raise ValueError("the task failed")


def test_a_task_that_raises_carries_its_warnings_on_its_error():
    """A task that raises lost what it gathered (its outcome never came back): its error
    carries the warnings, and the worker, taken off it once."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="the task failed") as failed:
            with recorded("tcp://w1"):
                _warn_then_fail("before failing")
    assert shown == []
    assert carried(failed.value) == (
        [TaskWarning(__name__, "_ItsWarning", "before failing", __file__, _WARN_LINE,
                     __name__)], "tcp://w1")
    assert carried(failed.value) == ([], None)  # taken off: relayed once
    assert carried(KeyError("not a task's")) == ([], None)


def test_a_failed_tasks_warnings_come_back_from_a_worker_process(client):
    """The error of a task run by a worker process comes back pickled: with its warnings."""
    from sarfeat.parallel.scene_warnings import recorded_task

    future = client.submit(recorded_task, _warn_then_fail, "on a worker", pure=False)
    with pytest.raises(ValueError, match="the task failed") as failed:
        future.result()
    caught, worker = carried(failed.value)
    assert caught == [TaskWarning(__name__, "_ItsWarning", "on a worker", __file__, _WARN_LINE,
                                  __name__)]
    assert worker in client.scheduler_info()["workers"]


def _fail_on_reading(on: bool) -> None:
    """On a worker: its stack's reader warns of a file, then fails to read it as a flaky
    disk would (an OSError, which Dask may run again), or reads again (not ``on``)."""
    import sarfeat.parallel.stack as stack

    read = getattr(stack._read, "unfailing", stack._read)
    if not on:
        stack._read = read
        return

    def failing(image):
        if isinstance(image, str):
            warnings.warn(f"reading {os.path.basename(image)}", _ItsWarning)
            raise OSError(5, "Input/output error", image)
        return read(image)

    failing.unfailing = read
    stack._read = failing


def test_a_failed_pairs_warnings_are_raised_once_on_the_client(client, tmp_path):
    """A pair's task warned, then raised (an OSError after its retries): the pair failed and
    its warning was lost with the task's error; it is raised on the client once, naming the
    pair and its worker, and kept in its outcome, whose worker is known."""
    from sarfeat.parallel import register_stack

    moving = tmp_path / "moving.npy"
    np.save(moving, np.ones((64, 64), np.float32))
    client.run(_fail_on_reading, True)
    try:
        with pytest.warns(_ItsWarning) as shown:
            [outcome] = register_stack(np.ones((64, 64), np.float32), [str(moving)],
                                       client=client, retries=1, progress=False)
    finally:
        client.run(_fail_on_reading, False)
    assert outcome.error_type == "OSError" and not outcome.ok
    assert outcome.worker in client.scheduler_info()["workers"]
    assert [str(warning.message) for warning in shown] == [
        f"reading moving.npy (pair 'moving', on worker {outcome.worker})"]
    assert [found.message for found in outcome.extra["warnings"]] == ["reading moving.npy"]


def test_relay_raises_a_warning_from_the_module_that_raised_it():
    """The client's filters of a module apply to its tasks' warnings: the module was taken
    from the file's path ('/worker/sarfeat/io/raster_read'), which no module filter
    matches."""
    geo = TaskWarning("sarfeat.raster", "GeoreferencingWarning", "'a.tif' has a CRS",
                      "/worker/sarfeat/io/raster_read.py", 295, "sarfeat.io.raster_read")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", module=r"sarfeat\.io")
        relay([geo], "pair 'a'")
        relay([geo._replace(raised_in=None)], "pair 'b'")  # not known: from the path
    assert [str(warning.message) for warning in shown] == ["'a.tif' has a CRS (pair 'b')"]


def test_each_task_of_a_worker_process_brings_back_its_warnings(client):
    """Tasks run one after another by one worker process, each raising the same warning from
    the same line: each brings it back (the second brought none), and it is raised again on
    the client with its class, module, file and line."""
    from sarfeat.parallel.scene_warnings import recorded_task

    one = sorted(client.scheduler_info()["workers"])[:1]
    outcomes = [client.submit(recorded_task, _warn_here, "the same", pure=False,
                              workers=one).result() for _ in range(2)]
    assert [worker for _, _, worker in outcomes] == one * 2
    assert [caught for _, caught, _ in outcomes] == [
        [TaskWarning(__name__, "_ItsWarning", "the same", __file__, _WARN_LINE, __name__)]] * 2
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("ignore")
        warnings.filterwarnings("always", category=_ItsWarning, module=f"{__name__}$")
        for _, caught, worker in outcomes:
            relay(caught, f"on worker {worker}")
    assert [(warning.category, warning.filename, warning.lineno) for warning in shown] == [
        (_ItsWarning, __file__, _WARN_LINE)] * 2


def _failing_tile(*args):
    warnings.warn("a tile's warning", _ItsWarning)
    raise ValueError("a tile failed")


def test_detect_tiled_raises_its_tasks_warnings_before_a_tasks_error(monkeypatch):
    """The statistics' row block warned, then a tile warned and failed: both warnings were
    lost with the error (the failed tile's, of each of its three runs, even when the row
    block's was kept); each is raised once before the error goes on."""
    distributed = pytest.importorskip("distributed")
    import sarfeat.parallel.scene as scene
    from sarfeat.data import load_sar_scene
    from sarfeat.parallel import detect_tiled

    block_stats = scene._block_stats

    def warning_block(*args):
        warnings.warn("a row block's warning", _ItsWarning)
        return block_stats(*args)

    monkeypatch.setattr(scene, "_block_stats", warning_block)
    monkeypatch.setattr(scene, "_detect_window", _failing_tile)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        with pytest.warns(_ItsWarning) as shown, pytest.raises(ValueError, match="tile failed"):
            detect_tiled(load_sar_scene("labrador")[:200, :200, 0], client=client,
                         tile_size=128, max_keypoints=20, progress=False)
    said = [str(warning.message).partition(", on worker")[0] for warning in shown]
    assert said[0] == ("a row block's warning (detect_tiled statistics row block 1 of 1 "
                       "(rows 0:200)")
    assert len(said) == 2 and re.fullmatch(
        r"a tile's warning \(detect_tiled tile [1-4] of 4 \(rows \d+:\d+, columns \d+:\d+\)",
        said[1]), said


def test_a_scenes_warnings_made_errors_are_noted_on_its_error():
    """The client's filters make a task's warning an error while the scene fails: the
    scene's error goes on, the warning noted on it."""
    from sarfeat.parallel.scene_warnings import SceneWarnings

    raised = SceneWarnings()
    raised.add([TaskWarning("builtins", "UserWarning", "odd tile", "/w/d.py", 7)], "tile 1",
               "tcp://w1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="no keypoint") as failed:
            with raised.relayed():
                raise RuntimeError("no keypoint")
    assert getattr(failed.value, "__notes__", ["odd tile"])[0].startswith(
        "A warning of its tasks was an error too: UserWarning('odd tile (detect_tiled tile 1")
