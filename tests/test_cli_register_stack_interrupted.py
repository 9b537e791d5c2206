"""``sarfeat register-stack`` stopped by Ctrl-C (SIGINT to the whole process group, as a
terminal sends it) or SIGTERM while its local Dask cluster starts or works: one line, the
exit status of the signal, the cluster closed without tracebacks or warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sarfeat.data import load_sar_scene

pytest.importorskip("distributed")

REPO_ROOT = Path(__file__).resolve().parent.parent

#: ``python -m sarfeat register-stack`` (argv[3:]) getting a signal (argv[1]) sent to its
#: process group when argv[2] happens: 'starting', the first worker started, the cluster
#: not yet; 'working', a registration under way in a worker; 'unpacking', the worker
#: unpacking its task (as it imports the task's modules, which hold the GIL: its event loop
#: held up). For 'working', the worker's task (sent by value: it is this script's) says
#: that it started by a file in the folder MARKS, and holds the registration until the
#: signal is sent (a file there too): waited for, not guessed by a sleep, which a loaded
#: machine outran; for 'unpacking', an argument of the task says so as it is unpacked.
STOPPED = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job ignores it
import os, runpy, signal, sys, time
import distributed
import sarfeat.parallel.stack as stack

SENT = getattr(signal, sys.argv[1])
MARKS = os.environ["MARKS"]

def send():
    os.killpg(0, SENT) if SENT == signal.SIGINT else os.kill(os.getpid(), SENT)

def wait_for(name):
    while not os.path.exists(os.path.join(MARKS, name)):
        time.sleep(0.01)

def mark(name):
    open(os.path.join(MARKS, name), "w").close()

if sys.argv[2] == "starting":
    started = distributed.Nanny.instantiate

    async def instantiate(self):
        status = await started(self)
        send()
        return status

    distributed.Nanny.instantiate = instantiate
else:
    finished = stack.finished
    WORKING = sys.argv[2] == "working"

    def unpacked():  # on the worker, as it unpacks the task
        if not WORKING:
            mark("started")
            sum(range(150_000_000))  # the GIL held for seconds, as by an import
        return None

    class Unpacked:
        def __reduce__(self):
            return unpacked, ()

    def marked(*args, unpacking=Unpacked(), **kwargs):  # the worker's stack is not patched
        if WORKING:
            mark("started")
            wait_for("sent")
        return stack._register_task(*args, **kwargs)

    def working(futures, *args, **kwargs):
        wait_for("started")
        mark("sent")
        send()
        yield from finished(futures, *args, **kwargs)

    stack._register_task, stack.finished = marked, working
sys.argv = ["sarfeat", "register-stack", *sys.argv[3:]]
runpy.run_module("sarfeat", run_name="__main__")
"""


@pytest.fixture(scope="module")
def stack_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    scene = load_sar_scene("labrador")[..., 0]
    np.save(folder / "reference.npy", scene)
    np.save(folder / "shifted.npy", np.roll(scene, (4, 6), axis=(0, 1)))
    return folder


@pytest.mark.parametrize("when, name, status, said", [
    *[(when, *stop) for when in ("starting", "working")
      for stop in (("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "stopped by SIGTERM"))],
    ("unpacking", "SIGINT", 130, "interrupted")])
def test_register_stack_stopped_says_so_in_one_line(stack_files, tmp_path, when, name, status,
                                                    said):
    """Ctrl-C as the cluster started printed distributed's 'Exception ignored in atexit
    callback close_clusters ... AssertionError' and each worker's KeyboardInterrupt
    traceback; during a registration, the worker's warning 'Async instruction for <Task
    cancelled ...> ended with CancelledError'; as the worker unpacked its task, in about a
    third of the runs, its error 'Failed to communicate with scheduler during heartbeat'
    (its event loop held up until the scheduler had closed)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1",
           "MARKS": str(marks)}
    env.pop("SARFEAT_DEBUG", None)
    run = subprocess.run(
        [sys.executable, "-c", STOPPED, name, when, str(stack_files / "reference.npy"),
         str(stack_files / "shifted.npy"), "-o", str(tmp_path / "out"), "--format", "npy",
         "-q", "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert (run.returncode, run.stderr) == (status, f"sarfeat register-stack: {said}\n")


def test_a_workers_heartbeat_after_its_scheduler_closed_is_not_shown():
    """In a worker of a cluster of client_for's own (its plugin), a heartbeat that found the
    scheduler's connection closed is left out (the scheduler closed with the client's
    process, a worker held up heartbeats once more); one that got no answer is kept."""
    import logging

    import distributed
    from distributed.comm import CommClosedError

    from sarfeat.parallel._client import _quiet_close_plugin

    kept: list = []
    handler = logging.Handler()
    handler.emit = kept.append
    loggers = [logging.getLogger(name) for name in ("distributed.worker",
                                                    "distributed.worker.state_machine")]
    filters = [list(logger.filters) for logger in loggers]
    loggers[0].addHandler(handler)
    try:
        _quiet_close_plugin(distributed).setup(worker=None)
        for error in (CommClosedError("in <TCP (closed)>: Stream is closed"),
                      TimeoutError("no answer")):
            try:
                raise error
            except OSError:
                loggers[0].exception("Failed to communicate with scheduler during heartbeat.")
    finally:
        loggers[0].removeHandler(handler)
        for logger, before in zip(loggers, filters):
            logger.filters[:] = before
    assert [type(record.exc_info[1]) for record in kept] == [TimeoutError]
