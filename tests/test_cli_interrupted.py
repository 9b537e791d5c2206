"""A command interrupted (Ctrl-C, SIGTERM) or failing part-way through its outputs: the
earlier run's files stay byte-identical, no temporary file is left, no output of the
set is replaced without the others, and the exit status and one-line message say why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sarfeat.cli import main
from sarfeat.data import load_sar_scene
from sarfeat.io import TEMPORARY_MARK

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Seconds a subprocess that runs a whole command (the example's registration or detection)
#: may take before the test fails: a bound against a hang, wide enough for a loaded machine
#: (where a registration took 23 s of the 120 that were allowed, and a detection 9 of 60).
WHOLE_COMMAND_LIMIT = 300

#: ``sarfeat register ARGS`` whose plot is half written when the process gets a signal
#: (argv[1]: SIGINT or SIGTERM), after its -o and --json are written. Each script takes
#: Ctrl-C as a terminal's process does: a job started in the background (CI's, ``nohup
#: ... &``) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
STOPPED_WHILE_PLOTTING = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job ignores it
import os, signal, sys
import sarfeat.viz

def half_a_plot(path, *args, **kwargs):
    with open(path, "wb") as stream:
        stream.write(b"half a plot")
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        stream.write(b" and the rest")

sarfeat.viz.plot_registration = half_a_plot
from sarfeat.cli import main
sys.exit(main(sys.argv[2:]))
"""

EARLIER = {"ex.tif": b"an earlier registered image", "ex.json": b"an earlier report",
           "ex.png": b"an earlier plot"}


def _earlier_files(folder: Path) -> None:
    for name, content in EARLIER.items():
        (folder / name).write_bytes(content)


def _unchanged(folder: Path) -> bool:
    return all((folder / name).read_bytes() == content for name, content in EARLIER.items())


def _temporaries(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if TEMPORARY_MARK in path.name]


@pytest.mark.parametrize("name, status, said", [("SIGINT", 130, "interrupted"),
                                                 ("SIGTERM", 143, "stopped by SIGTERM")])
def test_a_stopped_register_replaces_none_of_its_outputs(tmp_path, name, status, said):
    """-o and --json were written when the signal came, in the plot: before, they replaced
    the earlier run's while its plot stayed (Ctrl-C), and SIGTERM ended the process at once,
    leaving the plot's temporary file and no word."""
    _earlier_files(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("SARFEAT_DEBUG", None)
    run = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_PLOTTING, name, "register", "--example", "-q",
         "-o", "ex.tif", "--json", "ex.json", "--plot", "ex.png", "--overwrite"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WHOLE_COMMAND_LIMIT)
    assert run.returncode == status, run.stderr
    assert run.stderr == f"sarfeat register: {said}\n"
    assert _unchanged(tmp_path)
    assert not _temporaries(tmp_path)


def test_sigterm_interrupts_the_work_as_ctrl_c_does(tmp_path):
    """The action gets SIGTERM: its finally blocks run, the status is 143, in one line."""
    code = ("import os, signal, sys\n"
            "from argparse import Namespace\n"
            "from sarfeat.cli.common import guarded\n"
            "def action(args):\n"
            "    try:\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "        signal.pause() if hasattr(signal, 'pause') else None\n"
            "    finally:\n"
            "        print('cleaned up')\n"
            "sys.exit(guarded('detect', action, Namespace()))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 143
    assert run.stdout == "cleaned up\n"
    assert run.stderr == "sarfeat detect: stopped by SIGTERM\n"


def _full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.fixture
def shifted_pair(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "a.npy", scene[:256, :256])
    np.save(tmp_path / "b.npy", scene[4:260, 6:262])  # a shift of (6, 4) px


def test_a_failed_plot_leaves_the_earlier_outputs_and_a_true_report(shifted_pair, tmp_path,
                                                                   monkeypatch, capsys):
    """The plot cannot be written (a full disk) after -o, the tie points and the report
    were: before, those three replaced the earlier run's, and the report said the run
    succeeded beside an exit status 1. Now none is replaced, and the report says it failed,
    with the transform found and the files left by the earlier run."""
    monkeypatch.setattr("sarfeat.viz.plot_registration", _full_disk)
    earlier = {"out.tif": b"earlier image", "t.csv": b"earlier tie points",
               "p.png": b"earlier plot"}
    for name, content in earlier.items():
        (tmp_path / name).write_bytes(content)
    status = main(["register", "a.npy", "b.npy", "-o", "out.tif", "--tie-points", "t.csv",
                   "--json", "r.json", "--plot", "p.png", "--overwrite"])
    assert status == 1
    captured = capsys.readouterr()
    assert "No space left" in captured.err and "wrote" not in captured.out
    assert all((tmp_path / name).read_bytes() == content for name, content in earlier.items())
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "failed" and report["failed_after_registration"] is True
    assert np.allclose(np.array(report["transform_fixed_to_moving"])[:2, 2], [-6, -4],
                       atol=0.5)
    assert report["output_left_from_earlier_run"] == "out.tif"
    assert report["plot_left_from_earlier_run"] == "p.png"
    assert not _temporaries(tmp_path)


def test_a_failed_detect_plot_leaves_the_earlier_keypoints(shifted_pair, tmp_path,
                                                           monkeypatch, capsys):
    monkeypatch.setattr("sarfeat.viz.plot_keypoints", _full_disk)
    (tmp_path / "k.npz").write_bytes(b"earlier keypoints")
    status = main(["detect", "a.npy", "-o", "k.npz", "--plot", "k.png", "--overwrite"])
    assert status == 1
    assert "No space left" in capsys.readouterr().err
    assert (tmp_path / "k.npz").read_bytes() == b"earlier keypoints"
    assert not (tmp_path / "k.png").exists() and not _temporaries(tmp_path)


#: ``python -m sarfeat detect --example`` getting a signal (argv[1]) while it imports the
#: command line, before any of its work.
STOPPED_WHILE_STARTING = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job ignores it
import os, runpy, signal, sys
SENT = getattr(signal, sys.argv[1])

class Stop:
    def find_spec(self, name, path=None, target=None):
        if name == "sarfeat.cli":
            os.kill(os.getpid(), SENT)
        return None

sys.meta_path.insert(0, Stop())
sys.argv = ["sarfeat", "detect", "--example"]
runpy.run_module("sarfeat", run_name="__main__")
"""


@pytest.mark.parametrize("name, status, said", [("SIGINT", 130, "interrupted"),
                                                 ("SIGTERM", 143, "stopped by SIGTERM")])
def test_a_command_stopped_while_starting_says_so_in_one_line(name, status, said):
    """Ctrl-C while the command line was imported printed a traceback; SIGTERM, nothing."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-c", STOPPED_WHILE_STARTING, name], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == status
    assert run.stderr == f"sarfeat: {said}\n"


#: ``python -m sarfeat detect --example -q`` getting SIGTERM once the command is over
#: (argv[1]): 'exiting', in an exit handler (a Dask cluster's, joining its processes);
#: 'freeing', as Python frees its modules after the last exit handler.
STOPPED_AT_EXIT = """
import atexit, os, runpy, signal, sys
WHEN = sys.argv[1]

def stop():
    os.kill(os.getpid(), signal.SIGTERM)

class Freed:
    def __del__(self):
        stop()

import sarfeat.cli.detect
run = sarfeat.cli.detect.run

def then_stop(args):
    run(args)
    if WHEN == "exiting":
        atexit.register(stop)
    else:
        sys.modules["freed_at_exit"] = Freed()  # freed as Python clears its modules

sarfeat.cli.detect.run = then_stop
sys.argv = ["sarfeat", "detect", "--example", "-q"]
runpy.run_module("sarfeat", run_name="__main__")
"""


@pytest.mark.parametrize("when, status, said", [
    ("exiting", -15, "sarfeat detect: stopped by SIGTERM\n"),  # 143 in a shell
    ("freeing", 0, "")])
def test_sigterm_once_the_command_is_over_does_not_end_it_without_a_word(when, status, said):
    """It ended the process at once (-15) and without a word, its work done: now in one
    line while Python runs its exit handlers; after the last of them, as Python frees its
    modules, the process ends with the command's own status."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", STOPPED_AT_EXIT, when], env=env,
                         capture_output=True, text=True, timeout=WHOLE_COMMAND_LIMIT)
    assert (run.returncode, run.stderr) == (status, said)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_the_process_ignores_stays_ignored(signum):
    """A job started in the background by a script (``cmd &``) inherits SIGINT ignored, so
    that the script's Ctrl-C does not stop it: sarfeat's handlers replaced that."""
    from sarfeat.interrupts import exit_on_signals, sigterm_as_interrupt

    previous = signal.signal(signum, signal.SIG_IGN)
    try:
        with sigterm_as_interrupt():
            assert signal.getsignal(signum) is signal.SIG_IGN
        exit_on_signals("sarfeat detect", (signum,))
        assert signal.getsignal(signum) is signal.SIG_IGN
    finally:
        signal.signal(signum, previous)
