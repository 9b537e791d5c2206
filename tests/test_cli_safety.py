"""Nothing lost: outputs that would overwrite an input or each other are refused before any
work (exit 2) with the inputs unchanged; writes are atomic; failures leave a report."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sarfeat.cli import main
from sarfeat.cli.register_stack import SUMMARY, output_names, prepare_output_dir
from sarfeat.data import load_sar_scene

REPO_ROOT = Path(__file__).resolve().parent.parent


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scene = load_sar_scene("labrador")
    fixed, moving = tmp_path / "fixed.npy", tmp_path / "moving.npy"
    np.save(fixed, scene[:128, :128, 0])
    np.save(moving, scene[:128, :128, 1])
    return fixed, moving


@pytest.mark.parametrize("options", [
    ["-o", "fixed.npy"],
    ["-o", "sub/../moving.npy"],
    ["-o", "out.npy", "--plot", "fixed.npy"],
    ["-o", "out.npy", "--json", "moving.npy"],
    ["-o", "out.npy", "--tie-points", "./fixed.npy"],
    ["-o", "same.tif", "--json", "same.tif"],
    ["-o", "out.tif", "--json", "r.json", "--tie-points", "r.json"],
    ["-o", "out.tif", "--plot", "out.tif"],
    ["-o", "out.tif", "--json", "missing/r.json"],
])
def test_register_refuses_outputs_that_lose_data(inputs, options, tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    before = {path: _digest(path) for path in inputs}
    status = main(["register", "fixed.npy", "moving.npy", *options, "--weights", "nope.pt"])
    assert status == 2  # refused before the weights (which do not exist) are looked at
    err = capsys.readouterr().err
    assert "nope.pt" not in err and len(err.strip().splitlines()) == 1
    assert {path: _digest(path) for path in inputs} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fixed.npy", "moving.npy", "sub"]


@pytest.mark.parametrize("option", ["-o", "--json", "--tie-points", "--plot"])
@pytest.mark.parametrize("where", ["missing", "a_file", "/proc", "read_only_folder"])
def test_register_refuses_an_output_folder_it_cannot_write_before_any_work(
        inputs, option, where, tmp_path, capsys, request):
    """Each output of ``sarfeat register`` in a folder that does not exist, is a file, or
    takes no file (mode 0o555 for a user, /proc for anyone) is refused with exit 2 before
    the inputs are read (MOVING cannot be read here, which would be named otherwise). Under
    a file the message said "its folder does not exist": it names the file in the way."""
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "broken.tif").write_bytes(b"not a TIFF")
    if where == "/proc" and not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    folder = request.getfixturevalue(where) if where == "read_only_folder" else Path(where)
    path = folder / {"-o": "out.tif", "--json": "r.json", "--tie-points": "t.csv",
                     "--plot": "p.png"}[option]
    wanted = {"missing": "its folder does not exist", "a_file": "'a_file' is not a folder"
              }.get(where, "its folder is not writable (")
    status = main(["register", "fixed.npy", "broken.tif", option, str(path)])
    err = capsys.readouterr().err
    assert status == 2 and f"cannot write {option} {str(path)!r}: {wanted}" in err
    assert "broken.tif" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a_file", "broken.tif", "fixed.npy", "moving.npy", *(["read_only"] if
                                                             where == "read_only_folder" else [])]


def test_detect_refuses_output_on_its_input(inputs, capsys):
    fixed, _ = inputs
    before = _digest(fixed)
    assert main(["detect", "fixed.npy", "-o", str(fixed.resolve())]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert _digest(fixed) == before


def test_detect_writes_the_path_it_reports(inputs, tmp_path, capsys):
    assert main(["detect", "fixed.npy", "-o", "keypoints.txt", "--min-size", "128"]) == 0
    assert "wrote keypoints.txt" in capsys.readouterr().out
    assert (tmp_path / "keypoints.txt").is_file()
    assert not (tmp_path / "keypoints.txt.npz").exists()
    with np.load(tmp_path / "keypoints.txt") as saved:
        assert len(saved["keypoints"]) > 0


def test_failed_registration_writes_its_report(inputs, tmp_path, capsys):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.full((128, 128), 0.5, np.float32))
    status = main(["register", "flat.npy", "moving.npy", "-o", "out.tif", "--json", "r.json"])
    assert status == 1
    assert "constant" in capsys.readouterr().err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "failed" and report["failed_image"] == "fixed"
    assert "constant" in report["error"] and report["error_type"] == "RegistrationError"
    assert report["network"] is None  # refused before the network ran
    assert not (tmp_path / "out.tif").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    assert not [key for key in report if key.endswith("_left_from_earlier_run")]


def test_a_failed_registration_says_which_outputs_an_earlier_run_left(inputs, tmp_path,
                                                                       capsys):
    """An OUT of an earlier run stayed beside this run's failure report, saying nothing: it
    passed for this run's result. It is kept (the user named it), and said to be earlier."""
    np.save(tmp_path / "flat.npy", np.full((128, 128), 0.5, np.float32))
    (tmp_path / "out.tif").write_bytes(b"an earlier registration")
    (tmp_path / "points.csv").write_text("an earlier run's tie points")
    status = main(["register", "flat.npy", "moving.npy", "-o", "out.tif", "--tie-points",
                   "points.csv", "--json", "r.json", "-q", "--overwrite"])
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "constant" in err
    assert "out.tif, points.csv: left by an earlier run, not this one's result" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "failed"
    assert report["output_left_from_earlier_run"] == "out.tif"
    assert report["tie_points_left_from_earlier_run"] == "points.csv"
    assert "plot_left_from_earlier_run" not in report
    assert (tmp_path / "out.tif").read_bytes() == b"an earlier registration"  # not deleted


KILLED = """
import os, signal, sys
from sarfeat.io import atomic_path
with atomic_path(sys.argv[1]) as temporary:
    temporary.write_bytes(b"half of a file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "registered.tif"
    target.write_bytes(b"the previous run's complete file")
    before = _digest(target)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-c", KILLED, str(target)], env=env, timeout=60)
    assert run.returncode == -9
    assert _digest(target) == before
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(name.startswith(".registered.tif.") for name in leftovers)


def test_register_stack_summary_cannot_collide(tmp_path):
    names = output_names(["a/summary.tif", "b/date1.tif", "c/date1.npy", "d/x.tif"])
    assert names == ["summary_000", "date1_001", "date1_002", "x"]
    assert f"{names[0]}.json" != SUMMARY
    stale = tmp_path / SUMMARY
    stale.write_text("{}")
    kept = tmp_path / "x.json"
    kept.write_text("{}")
    prepare_output_dir(tmp_path)
    assert not stale.exists() and kept.exists()  # an old summary cannot describe a new run


def test_register_stack_leaves_no_registered_image_without_its_report(tmp_path, monkeypatch):
    """When the report of a registered image could not be written, the image is reported
    failed, but its registered image stayed in OUTDIR as if it had succeeded."""
    from skimage.transform import AffineTransform

    from sarfeat import RegistrationResult
    from sarfeat.cli import report, register_stack
    from sarfeat.io import Raster
    from sarfeat.parallel import PairOutcome

    moving = load_sar_scene("labrador")[:32, :32, 0]
    result = RegistrationResult(AffineTransform(), np.zeros((0, 2), int), np.zeros(0, bool),
                                np.zeros((0, 2)), np.zeros((0, 2)),
                                resampling=(moving, 1, None, moving.shape))
    outcome = PairOutcome(0, "date1", result=result,
                          extra={"fixed_shape": moving.shape, "moving_shape": moving.shape})
    reference = Raster(np.zeros((0, 32, 32), np.float32), np.zeros((0, 32, 32), bool))

    def full(path, content):
        raise OSError(28, "No space left on device")

    def broken(path, content):
        raise OSError(5, "Input/output error")

    image = tmp_path / "inputs" / "date1.npy"  # read again to write every band
    image.parent.mkdir()
    np.save(image, moving)
    out = tmp_path / "out"
    out.mkdir()
    options = dict(output_dir=str(out), suffix=".npy", reference=reference, input_kind="auto",
                   reference_path="ref.npy", images=[str(image)], weights="w", model="affine")
    # another write error is raised (the task is run again), its registered image removed
    monkeypatch.setattr(report, "write_json", broken)
    with pytest.raises(OSError, match="Input/output"):
        register_stack._save(replace(outcome, extra=dict(outcome.extra)), **options)
    assert list(out.iterdir()) == []
    # a full disk fails the image: no registered image, the report (and its transform)
    # handed back for the client
    monkeypatch.setattr(report, "write_json", full)
    saved = register_stack._save(outcome, **options)
    assert list(out.iterdir()) == []
    assert not saved.ok
    handed_back = saved.extra["unwritten_report"]
    assert handed_back["failed_after_registration"] is True
    assert "No space" in saved.extra["report_error"]


def test_register_stack_keeps_the_transform_of_an_image_whose_report_cannot_be_built(
        tmp_path, monkeypatch):
    """An image registered and written whose report could not be built (a ValueError in
    registration_report) raised out of the worker's save: the task's outcome then dropped
    its result ("postprocess: ..."), and the failure report that the client wrote had lost
    the transform. It now fails as a failed write does: its report keeps the transform
    (``failed_after_registration``), and no registered image is left."""
    from skimage.transform import AffineTransform

    from sarfeat import RegistrationResult
    from sarfeat.cli import report, register_stack
    from sarfeat.io import Raster
    from sarfeat.parallel import PairOutcome

    def unbuildable(*args, **kwargs):
        raise ValueError("a value the report cannot hold")

    moving = load_sar_scene("labrador")[:32, :32, 0]
    shift = AffineTransform(translation=(3, 2))
    result = RegistrationResult(shift, np.zeros((0, 2), int), np.zeros(0, bool),
                                np.zeros((0, 2)), np.zeros((0, 2)),
                                resampling=(moving, 1, None, moving.shape))
    outcome = PairOutcome(0, "date1", result=result,
                          extra={"fixed_shape": moving.shape, "moving_shape": moving.shape})
    image = tmp_path / "date1.npy"
    np.save(image, moving)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(report, "registration_report", unbuildable)
    saved = register_stack._save(
        outcome, output_dir=str(out), suffix=".npy", reference=Raster(
            np.zeros((0, 32, 32), np.float32), np.zeros((0, 32, 32), bool)),
        input_kind="auto", reference_path="ref.npy", images=[str(image)], weights="w",
        model="affine")
    assert not saved.ok and saved.extra["failed_after_registration"] is True
    assert [path.name for path in out.iterdir()] == ["date1.json"]
    written = json.loads((out / "date1.json").read_text())
    assert written["failed_after_registration"] is True
    assert written["error_type"] == "ValueError"
    assert np.allclose(written["transform_fixed_to_moving"], shift.params)


def test_register_stack_removes_an_earlier_run_s_image_in_another_format(tmp_path):
    """A run with --format tif left an earlier --format npy run's a.registered.npy beside
    its own a.json, which said that a failed: the stale image passed for this run's."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    out.mkdir()
    reference, blank = tmp_path / "ref.npy", tmp_path / "a.npy"
    np.save(reference, load_sar_scene("labrador")[:128, :128, 0])
    np.save(blank, np.full((128, 128), np.nan, np.float32))  # fails: no valid pixel
    stale = out / "a.registered.npy"
    np.save(stale, np.ones((2, 2), np.float32))
    again = out / "b.registered.npy"  # an input of this run: kept though b's name is its
    np.save(again, np.full((128, 128), np.nan, np.float32))
    b = tmp_path / "b.npy"
    np.save(b, np.full((128, 128), np.nan, np.float32))
    status = main(["register-stack", str(reference), str(blank), str(b), str(again), "-o",
                   str(out), "--format", "tif", "--workers", "1", "--no-progress", "-q",
                   "--overwrite"])
    assert status == 1
    assert json.loads((out / "a.json").read_text())["status"] == "failed"
    assert not stale.exists() and again.exists()


@pytest.mark.parametrize("nodata", [None, "7"])
def test_register_stack_refuses_a_reference_without_valid_pixels(tmp_path, nodata, capsys):
    """A reference all no-data started the cluster and failed every image, one by one."""
    reference, image = tmp_path / "ref.npy", tmp_path / "a.npy"
    np.save(reference, np.full((64, 64), np.nan if nodata is None else 7.0, np.float32))
    np.save(image, load_sar_scene("labrador")[:64, :64, 0])
    status = main(["register-stack", str(reference), str(image), "-o", str(tmp_path / "out"),
                   "--workers", "1", "--no-progress", "-q",
                   *(["--nodata", nodata] if nodata else [])])
    assert status == 2
    assert "has no valid pixel" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_register_stack_names_never_collide():
    names = output_names(["d1/a_001.tif", "d2/a.tif", "d3/a.tif", "e/B.tif", "f/b.npy"])
    assert len({name.lower() for name in names}) == 5
    assert names[0] == "a_001" and names[1] != "a_001"


def test_register_stack_refuses_to_overwrite_an_input(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    scene = load_sar_scene("labrador")[..., 0]
    reference, image, inside = tmp_path / "ref.npy", tmp_path / "b.npy", out / "b.registered.tif"
    np.save(reference, scene)
    np.save(image, scene)
    inside.write_bytes(b"an input that the run would write over")  # b.npy's output
    before = inside.read_bytes()
    status = main(["register-stack", str(reference), str(image), str(inside), "-o", str(out),
                   "-q"])
    assert status == 2
    assert "is the output" in capsys.readouterr().err and inside.read_bytes() == before


def test_a_failed_write_keeps_the_transform_in_the_report(inputs, tmp_path, capsys,
                                                          monkeypatch):
    """Writing the output fails after the registration (a full disk): the report says so and
    keeps the transform, which is what the registration took its time to find."""
    import sarfeat.io

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "a.npy", scene[:256, :256])
    np.save(tmp_path / "b.npy", scene[4:260, 6:262])  # a shift of (6, 4) px
    monkeypatch.setattr(sarfeat.io, "write_raster", full_disk)
    monkeypatch.setattr(sarfeat.io, "write_raster_windows", full_disk)  # -o's, a strip at a time
    status = main(["register", "a.npy", "b.npy", "-o", "out.tif", "--json", "r.json"])
    assert status == 1
    captured = capsys.readouterr()
    assert "No space left" in captured.err and "r.json" in captured.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "failed" and report["failed_after_registration"] is True
    forward = np.array(report["transform_fixed_to_moving"])
    backward = np.array(report["transform_moving_to_fixed"])
    assert forward.shape == (3, 3) and np.allclose(forward @ backward, np.eye(3))
    assert np.allclose(forward[:2, 2], [-6, -4], atol=0.5)
    assert set(report["network"]) == {"runtime", "precision", "device"}  # as it ran
    assert not (tmp_path / "out.tif").exists()


def test_a_report_that_cannot_be_built_keeps_the_transform(inputs, tmp_path, capsys,
                                                          monkeypatch):
    """The registration succeeded but its --json report could not be built (a ValueError in
    registration_report): the failure report written instead keeps the transform (as
    failure_report does for a failed write), and no output is left half the run's."""
    import sarfeat.cli.register as register_command

    def unbuildable(*args, **kwargs):
        raise ValueError("a value the report cannot hold")

    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "a.npy", scene[:256, :256])
    np.save(tmp_path / "b.npy", scene[4:260, 6:262])  # a shift of (6, 4) px
    monkeypatch.setattr(register_command, "registration_report", unbuildable)
    status = main(["register", "a.npy", "b.npy", "-o", "out.tif", "--json", "r.json"])
    assert status == 1
    captured = capsys.readouterr()
    assert "a value the report cannot hold" in captured.err
    assert "its transform is in r.json" in captured.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "failed" and report["failed_after_registration"] is True
    assert report["error_type"] == "ValueError"
    assert np.allclose(np.array(report["transform_fixed_to_moving"])[:2, 2], [-6, -4],
                       atol=0.5)
    assert not (tmp_path / "out.tif").exists()


def test_a_refusal_by_the_matcher_says_what_ran_the_network(tmp_path, capsys):
    """The failed report had no ``network``, which a successful one has."""
    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "a.npy", scene)
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).gamma(1.0, 1.0, scene.shape))
    report = tmp_path / "r.json"
    assert main(["register", str(tmp_path / "a.npy"), str(tmp_path / "noise.npy"), "--json",
                 str(report), "-q"]) == 1
    saved = json.loads(report.read_text())
    assert saved["status"] == "failed" and "no consistent transform" in saved["error"]
    assert set(saved["network"]) == {"runtime", "precision", "device"}
    # an image in which the detector ran and found no keypoint: the network ran too
    rows, cols = np.mgrid[:scene.shape[0], :scene.shape[1]]
    np.save(tmp_path / "ramp.npy", (1 + rows + cols).astype(np.float32))
    assert main(["register", str(tmp_path / "a.npy"), str(tmp_path / "ramp.npy"), "--json",
                 str(report), "-q", "--overwrite"]) == 1
    saved = json.loads(report.read_text())
    assert "found no keypoint" in saved["error"] and saved["failed_image"] == "moving"
    assert set(saved["network"]) == {"runtime", "precision", "device"}


def test_a_refusal_reports_no_transform(inputs, tmp_path, capsys):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.full((128, 128), 0.5, np.float32))
    assert main(["register", "flat.npy", "moving.npy", "--json", "r.json"]) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert "transform_fixed_to_moving" not in report and "failed_after_registration" not in report


@pytest.mark.parametrize("command, option", [
    (["detect", "fixed.npy", "-o", "{}"], "-o"),
    (["detect", "fixed.npy", "--plot", "{}"], "--plot"),
    (["detect", "--example", "-o", "{}"], "-o"),
    (["register", "fixed.npy", "moving.npy", "-o", "{}"], "-o"),
    (["register", "fixed.npy", "moving.npy", "--json", "{}"], "--json"),
    (["register", "fixed.npy", "moving.npy", "--tie-points", "{}"], "--tie-points"),
    (["register", "fixed.npy", "moving.npy", "-o", "new.tif", "--plot", "{}"], "--plot"),
    (["register", "--example", "--json", "{}"], "--json"),
])
def test_an_existing_output_is_refused_without_overwrite(inputs, command, option, tmp_path,
                                                         capsys):
    """An existing file at an output path was replaced without a word (rio refuses one
    unless --overwrite): now refused before any work, the file untouched."""
    suffix = {"--plot": ".png", "--json": ".json", "--tie-points": ".csv"}.get(option, ".tif")
    earlier = tmp_path / f"earlier{suffix}"
    earlier.write_bytes(b"an earlier result")
    argv = [part.format(earlier.name) for part in command]
    status = main([*argv, "--weights", "nope.pt"])
    assert status == 2  # refused before the weights (which do not exist) are looked at
    err = capsys.readouterr().err
    assert f"{option} 'earlier{suffix}' already exists: pass --overwrite to replace it" in err
    assert "nope.pt" not in err and len(err.strip().splitlines()) == 1
    assert earlier.read_bytes() == b"an earlier result"
    assert not (tmp_path / "new.tif").exists()


def test_overwrite_replaces_an_existing_output(inputs, tmp_path, capsys):
    """--overwrite lets detect and register replace an existing output (never an input)."""
    keypoints, report = tmp_path / "kp.npz", tmp_path / "r.json"
    keypoints.write_bytes(b"an earlier result")
    report.write_bytes(b"an earlier result")
    assert main(["detect", "fixed.npy", "-o", "kp.npz", "--max-keypoints", "50", "-q",
                 "--overwrite"]) == 0
    assert len(np.load(keypoints)["keypoints"]) > 0
    np.save(tmp_path / "flat.npy", np.full((128, 128), 0.5, np.float32))  # fails at once
    assert main(["register", "flat.npy", "moving.npy", "--json", "r.json", "-q",
                 "--overwrite"]) == 1
    assert json.loads(report.read_text())["status"] == "failed"
    # an input is still refused
    assert main(["register", "flat.npy", "moving.npy", "--json", "moving.npy",
                 "--overwrite"]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err


@pytest.mark.parametrize("earlier", [SUMMARY, "a.json", "a.registered.tif", "a.registered.npy"])
def test_register_stack_refuses_an_earlier_run_s_files_without_overwrite(tmp_path, earlier,
                                                                          capsys):
    """register-stack removed or replaced an earlier run's files in OUTDIR without a word:
    an existing folder is fine, its files under this run's names need --overwrite."""
    out = tmp_path / "out"
    out.mkdir()
    np.save(tmp_path / "ref.npy", np.ones((8, 8), np.float32))
    np.save(tmp_path / "a.npy", np.ones((8, 8), np.float32))
    (out / earlier).write_bytes(b"an earlier result")
    (out / "other.json").write_bytes(b"not this run's")
    # 'missing.npy' does not exist: refused for it only after the outputs were checked
    status = main(["register-stack", str(tmp_path / "ref.npy"), str(tmp_path / "a.npy"),
                   str(tmp_path / "missing.npy"), "-o", str(out), "-q"])
    assert status == 2
    err = capsys.readouterr().err
    assert f"-o {str(out)!r} already holds {earlier} (an earlier run's): pass --overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == sorted([earlier, "other.json"])
    assert (out / earlier).read_bytes() == b"an earlier result"
    # an existing, empty folder is fine: refused for the missing image only
    (out / earlier).unlink()
    status = main(["register-stack", str(tmp_path / "ref.npy"), str(tmp_path / "a.npy"),
                   str(tmp_path / "missing.npy"), "-o", str(out), "-q"])
    assert status == 2 and "missing.npy' does not exist" in capsys.readouterr().err


def test_register_stack_overwrite_replaces_an_earlier_run_s_files(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    out.mkdir()
    np.save(tmp_path / "ref.npy", load_sar_scene("labrador")[:128, :128, 0])
    np.save(tmp_path / "a.npy", np.full((128, 128), np.nan, np.float32))  # fails: no pixel
    for name in (SUMMARY, "a.json", "a.registered.tif"):
        (out / name).write_bytes(b"an earlier result")
    status = main(["register-stack", str(tmp_path / "ref.npy"), str(tmp_path / "a.npy"),
                   "-o", str(out), "--workers", "1", "--no-progress", "-q", "--overwrite"])
    assert status == 1
    assert json.loads((out / SUMMARY).read_text())["failed"] == 1
    assert json.loads((out / "a.json").read_text())["status"] == "failed"
    assert not (out / "a.registered.tif").exists()
