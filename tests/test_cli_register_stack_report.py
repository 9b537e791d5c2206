"""What ``sarfeat register-stack`` reports of each image (``NAME.json``, ``summary.json``,
its console lines) against what ``sarfeat register --json`` reports of the same pair.

Real SAR: the Sentinel-1 Labrador scene's VV band as a georeferenced reference; a shifted,
two-band uint16 amplitude chip of it, 30 m off in its georeferencing; the VV band rolled
by (4, 6) pixels without georeferencing; and a constant image, refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sarfeat.data import load_sar_scene

pytest.importorskip("distributed")
pytest.importorskip("rasterio")

from test_cli_register_stack import pair  # noqa: E402, F401 - a fixture, after the skip

#: Keys of a stack's NAME.json that `sarfeat register --json` has not or has otherwise: the
#: image's name and worker, the stack's options, the paths written, the time.
STACK_ONLY = {"name", "worker", "options", "output", "tie_points", "seconds"}


@pytest.fixture(scope="module")
def stack(pair):  # noqa: F811 - the fixture imported above
    """The reference, the images and the stack's outputs (one run, --band 0)."""
    from sarfeat.cli import main

    reference, member = pair
    scene = load_sar_scene("labrador")[..., 0]
    images = [member, reference.parent / "rolled.npy", reference.parent / "flat.npy"]
    np.save(images[1], np.roll(scene, (4, 6), axis=(0, 1)))
    np.save(images[2], np.ones(scene.shape, np.float32))
    out = reference.parent / "out"
    status = main(["register-stack", str(reference), *map(str, images), "-o", str(out),
                   "--band", "0", "--no-progress", "-q", "--workers", "1"])
    assert status == 1  # the constant image
    return reference, images, out


def _same(stacked, single, where: str = "") -> None:
    """Equal reports, but for floats (a worker may sum in another order)."""
    if isinstance(stacked, dict) and isinstance(single, dict):
        assert set(stacked) == set(single), (where, set(stacked) ^ set(single))
        for key in stacked:
            if not key.startswith("seconds"):
                _same(stacked[key], single[key], f"{where}.{key}")
    elif isinstance(stacked, list) and isinstance(single, list):
        assert len(stacked) == len(single), where
        for index, (a, b) in enumerate(zip(stacked, single)):
            _same(a, b, f"{where}[{index}]")
    elif isinstance(stacked, float) and isinstance(single, float):
        assert math.isclose(stacked, single, rel_tol=1e-6, abs_tol=1e-9), where
    else:
        assert stacked == single, where


def test_each_image_s_report_is_register_s_report_of_the_pair(stack, tmp_path):
    """An image matched on its own grid had a report of its own making: no matches, no
    model returned, no geography, no convention, and no image's report said how its output
    was written (dtype, nodata, creation options) nor which image a refusal blamed."""
    from sarfeat.cli import main

    reference, images, out = stack
    for image in images:
        name = image.stem
        single = tmp_path / f"{name}.json"
        main(["register", str(reference), str(image), "--band", "0", "--json", str(single),
              "-o", str(tmp_path / f"{name}.registered.tif"), "-q"])
        expected = json.loads(single.read_text())
        report = json.loads((out / f"{name}.json").read_text())
        assert report["name"] == name and report["moving"] == str(image)
        _same({k: v for k, v in report.items() if k not in STACK_ONLY},
              {k: v for k, v in expected.items() if k not in STACK_ONLY}, name)
    rolled = json.loads((out / "rolled.json").read_text())
    assert rolled["matches"]["fine_inliers"] > 50 and rolled["model_returned"]
    np.testing.assert_allclose(rolled["geography"]["shift_px_at_centre"]["x"], 6, atol=0.1)
    assert json.loads((out / "flat.json").read_text())["failed_image"] == "moving"


def test_the_summary_and_the_console_say_what_the_reports_say(stack):
    """summary.json's figures are those of each image's report, its counts add up, its paths
    are files written, and a refused image is listed with its reason and no figure."""
    reference, images, out = stack
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["images"], summary["registered"], summary["failed"]) == (3, 2, 1)
    for entry in summary["successes"]:
        report = json.loads((out / f"{entry['name']}.json").read_text())
        assert entry["report"] == str(out / f"{entry['name']}.json")
        assert entry["output"] == report["output"] == str(
            out / f"{entry['name']}.registered.tif")
        assert (entry["confidence"], entry["fine_inliers"], entry["residual_rms"]) == (
            report["confidence"], report["matches"]["fine_inliers"],
            report["residuals_px"]["rms"])
    [failure] = summary["failures"]
    assert failure["name"] == "flat" and "constant" in failure["error"]
    assert not {"output", "confidence", "fine_inliers", "residual_rms"} & set(failure)
    assert json.loads((out / "flat.json").read_text())["error"] == failure["error"]
    written = {path.name for path in out.iterdir()}
    assert written == {"summary.json", "member.json", "member.registered.tif", "rolled.json",
                       "rolled.registered.tif", "flat.json"}


def _lost_or_unwritten(tmp_path, monkeypatch, how: str):
    """Run register-stack on an in-process cluster whose task for the rolled image is lost
    after it wrote its outputs (``how='lost'``), or whose report cannot be made after the
    registered image was written (``'unwritten'``); the summary and OUTDIR."""
    from types import SimpleNamespace

    import distributed

    from sarfeat.cli import main, report
    from sarfeat.parallel import stack as stack_module

    real = stack_module._register_task

    def lost(index, *args):
        real(index, *args)  # its files written
        raise distributed.KilledWorker("pair", SimpleNamespace(address="gone"), 3)

    def broken(*args, **kwargs):
        raise ValueError("no report")

    if how == "lost":
        monkeypatch.setattr(stack_module, "_register_task", lost)
    else:
        monkeypatch.setattr(report, "registration_report", broken)
    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "ref.npy", scene)
    np.save(tmp_path / "rolled.npy", np.roll(scene, (4, 6), axis=(0, 1)))
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        status = main(["register-stack", str(tmp_path / "ref.npy"), str(tmp_path / "rolled.npy"),
                       "-o", str(out), "--format", "npy", "--lost-retries", "0", "-q",
                       "--no-progress", "--scheduler", client.scheduler.address])
    assert status == 1
    return json.loads((out / "summary.json").read_text()), out


@pytest.mark.parametrize("how", ["lost", "unwritten"])
def test_an_image_failed_after_its_task_wrote_has_a_failure_report_and_no_image(
        tmp_path, monkeypatch, how):
    """An image lost with its worker after its task wrote its outputs kept a NAME.json that
    said "registered" and its registered image, while the summary listed it failed with no
    report (and a time of 0 s); one whose report could not be made was listed with a report
    path that was never written. A failure report is written, the image removed; the
    transform of the one whose report could not be made is kept in it, as for a failed
    write (it was lost too, the task's outcome dropping its result)."""
    summary, out = _lost_or_unwritten(tmp_path, monkeypatch, how)
    [failure] = summary["failures"]
    assert failure["report"] == str(out / "rolled.json")
    report = json.loads((out / "rolled.json").read_text())
    assert report["status"] == "failed" and report["error"] == failure["error"]
    assert report["error_type"] == failure["error_type"] == (
        "KilledWorker" if how == "lost" else "ValueError")
    assert ("the task was lost" if how == "lost" else "no report") in failure["error"]
    assert "confidence" not in report
    registered = how == "unwritten"  # the transform is known only there
    assert ("transform_fixed_to_moving" in report) is registered
    assert report.get("failed_after_registration", False) is registered
    # the summary says it as the image's report does: only when it is so
    assert failure.get("failed_after_registration", False) is registered
    assert sorted(path.name for path in out.iterdir()) == ["rolled.json", "summary.json"]
    if how == "lost":
        assert failure["seconds"] is None and failure["worker"] is None


def test_an_image_whose_output_cannot_be_written_keeps_its_transform(tmp_path, monkeypatch,
                                                                     capsys):
    """An image registered whose output could not be written (a full disk) had a NAME.json
    without the transform found, which `sarfeat register --json` keeps under
    ``failed_after_registration``: the same report now. The run's last line said "on 1
    workers" and its progress bar was labelled "sarfeat register" (another command)."""
    import distributed

    import sarfeat.io
    from sarfeat.cli import main

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    scene = load_sar_scene("labrador")[..., 0]
    fixed, moving = str(tmp_path / "a.npy"), str(tmp_path / "b.npy")
    np.save(fixed, scene[:256, :256])
    np.save(moving, scene[4:260, 6:262])  # a shift of (6, 4) px
    monkeypatch.setattr(sarfeat.io, "write_raster", full_disk)  # in this process's worker
    monkeypatch.setattr(sarfeat.io, "write_raster_windows", full_disk)  # a GeoTIFF's
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        status = main(["register-stack", fixed, moving, "-o", str(out), "--retries", "0",
                       "--scheduler", client.scheduler.address, "-v"])  # -v: the bar
    assert status == 1
    captured = capsys.readouterr()
    report = json.loads((out / "b.json").read_text())
    assert report["status"] == "failed" and report["failed_after_registration"] is True
    assert report["error_type"] == "OSError" and "No space left" in report["error"]
    forward = np.array(report["transform_fixed_to_moving"])
    assert np.allclose(forward[:2, 2], [-6, -4], atol=0.5)
    assert np.allclose(forward @ np.array(report["transform_moving_to_fixed"]), np.eye(3))
    assert sorted(path.name for path in out.iterdir()) == ["b.json", "summary.json"]
    # summary.json's failure entry said it as NAME.json does (it lacked the flag)
    [failure] = json.loads((out / "summary.json").read_text())["failures"]
    assert failure["failed_after_registration"] is True
    assert failure["report"] == str(out / "b.json") and failure["error"] == report["error"]
    # the report of `sarfeat register --json` for the pair, but for the stack's own keys
    single = tmp_path / "single.json"
    assert main(["register", fixed, moving, "-o", str(tmp_path / "b.tif"), "--json",
                 str(single), "-q"]) == 1
    _same({k: v for k, v in report.items() if k not in STACK_ONLY},
          {k: v for k, v in json.loads(single.read_text()).items() if k not in STACK_ONLY})
    assert (f"b: FAILED (OSError): [Errno 28] No space left on device; the registration "
            f"succeeded: its transform is in {out / 'b.json'}") in captured.out
    assert "registered 0 of 1 images" in captured.out and " on 1 worker; " in captured.out
    assert "sarfeat pairs:" in captured.err  # the bar, named for what it counts
    assert captured.err.endswith("sarfeat register-stack: error: 1 of 1 images could not be "
                                 f"registered (see {out / 'summary.json'})\n")


def _full_disk_run(tmp_path, monkeypatch, images: dict, refused) -> tuple[int, Path, list]:
    """Run register-stack of ``images`` (file stem: array) onto a Labrador chip on an
    in-process cluster, a full disk refusing the registered images of ``refused['raster']``
    (stems) and the reports named in ``refused`` (file name: how many writes are refused,
    all when None); the exit status, OUTDIR and the reports' writes tried."""
    import distributed

    import sarfeat.cli.report
    import sarfeat.io
    from sarfeat.cli import main
    from sarfeat.io import atomic_path

    tried, write_json = [], sarfeat.cli.report.write_json

    def on_a_full_disk(write):
        def written(path, *args, **kwargs):
            if path.name.split(".")[0] not in refused.get("raster", ()):
                return write(path, *args, **kwargs)
            raise OSError(28, "No space left on device")
        return written

    def report_on_a_full_disk(path, report):
        tried.append(path.name)
        if path.name not in refused or tried.count(path.name) > (refused[path.name] or 1e9):
            return write_json(path, report)
        with atomic_path(path) as temporary, open(temporary, "w") as stream:
            stream.write("{")
            raise OSError(28, "No space left on device")  # as a file's write says it

    fixed = tmp_path / "a.npy"
    np.save(fixed, load_sar_scene("labrador")[:256, :256, 0])
    for stem, array in images.items():
        np.save(tmp_path / f"{stem}.npy", array)
    for writer in ("write_raster", "write_raster_windows"):  # in the worker (a GeoTIFF's
        # registered image is written a strip at a time)
        monkeypatch.setattr(sarfeat.io, writer, on_a_full_disk(getattr(sarfeat.io, writer)))
    monkeypatch.setattr(sarfeat.cli.report, "write_json", report_on_a_full_disk)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        status = main(["register-stack", str(fixed),
                       *(str(tmp_path / f"{stem}.npy") for stem in images), "-o", str(out),
                       "--retries", "2", "--scheduler", client.scheduler.address,
                       "--no-progress"])
    return status, out, tried


def test_a_report_on_a_full_disk_keeps_the_transform_without_reruns(tmp_path, monkeypatch,
                                                                    capsys):
    """The disk is full: registered images cannot be written, nor some reports. A report
    was rerun --retries times (each logging Dask's "Compute Failed" block), then the
    client's own attempt stopped the command. Then the client wrote the report anew, without
    the transform found and with the error "postprocess: cannot write ...", the summary
    saying ``failed_after_registration`` where NAME.json did not; with no report written,
    the transform was lost. The worker now hands its report back to the client, which writes
    it, or keeps its transform in the summary."""
    scene = load_sar_scene("labrador")[..., 0]
    moved = scene[4:260, 6:262]  # a shift of (6, 4) px
    # b: its image and report refused everywhere; c: its image, and its report on the
    # worker; d: its report on the worker (its image written, then removed)
    status, out, tried = _full_disk_run(
        tmp_path, monkeypatch, {"b": moved, "c": moved, "d": moved},
        {"raster": ("b", "c"), "b.json": None, "c.json": 1, "d.json": 1})
    assert status == 1
    assert sorted(tried) == ["b.json", "b.json", "c.json", "c.json", "d.json", "d.json",
                             "summary.json"]  # once by the worker, once by the client
    assert sorted(path.name for path in out.iterdir()) == ["c.json", "d.json", "summary.json"]
    failures = {entry["name"]: entry for entry in
                json.loads((out / "summary.json").read_text())["failures"]}
    full = "[Errno 28] No space left on device"
    refused = {name: f"cannot write {str(out / name)!r}: No space left on device"
               for name in ("b.json", "d.json")}
    # NAME.json, written by the client, is the worker's report, and the summary says as it
    for name, error, error_type in [("c", full, "OSError"), ("d", refused["d.json"],
                                                              "WriteError")]:
        report, entry = json.loads((out / f"{name}.json").read_text()), failures[name]
        assert report["failed_after_registration"] is entry["failed_after_registration"] is True
        assert report["error"] == entry["error"] == error
        assert report["error_type"] == entry["error_type"] == error_type
        assert np.allclose(np.array(report["transform_fixed_to_moving"])[:2, 2], [-6, -4],
                           atol=0.5)
        assert entry["report"] == str(out / f"{name}.json") and "report_error" not in entry
    # b's transform is in the summary, which says why it has no report
    entry = failures["b"]
    assert entry["report"] is None and entry["failed_after_registration"] is True
    assert (entry["error"], entry["error_type"]) == (full, "OSError")
    assert entry["report_error"] == refused["b.json"]
    forward, backward = (np.array(entry[f"transform_{way}"]) for way in
                         ("fixed_to_moving", "moving_to_fixed"))
    assert np.allclose(forward[:2, 2], [-6, -4], atol=0.5)
    assert np.allclose(forward @ backward, np.eye(3))
    lines = capsys.readouterr().out.splitlines()
    assert (f"b: FAILED (OSError): {full}; the registration succeeded: its transform is in "
            f"summary.json; no report: {refused['b.json']}") in lines
    assert any(line.startswith(f"c: FAILED (OSError): {full}; the registration succeeded: "
                               f"its transform is in {out / 'c.json'}") for line in lines)


def test_a_summary_on_a_full_disk_still_counts_the_images(tmp_path, monkeypatch, capsys):
    """summary.json cannot be written: the run ended on that error alone, without the line
    that counts the images registered."""
    flat = np.ones((256, 256), np.float32)  # refused before any search: a quick run
    status, out, _ = _full_disk_run(tmp_path, monkeypatch, {"flat": flat},
                                    {"summary.json": None})
    assert status == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1].startswith("registered 0 of 1 images in ")
    assert captured.out.splitlines()[-1].endswith(
        f" on 1 worker; could not write {out / 'summary.json'}")
    assert captured.err.endswith(f"sarfeat register-stack: error: cannot write "
                                 f"{str(out / 'summary.json')!r}: No space left on device\n")
    assert sorted(path.name for path in out.iterdir()) == ["flat.json"]


def test_a_refused_sar_pair_with_a_colour_picture_says_how_to_match_it_as_optical(
        tmp_path, capsys):
    """`sarfeat register` says how to match a colour picture that --modality sar matched as
    SAR (its gray values) when the search is refused (picture_hint); register-stack's
    refused images had no hint. Their NAME.json, failure line and summary entry now give
    register's, naming REFERENCE or the image."""
    from skimage.io import imsave

    from sarfeat.cli import main

    rng = np.random.default_rng(0)  # noise: every pair is refused by the search
    pictures = [tmp_path / "ref.png", tmp_path / "picture.png"]
    for picture in pictures:
        imsave(picture, rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
               check_contrast=False)
    gray, gray_reference = tmp_path / "gray.npy", tmp_path / "gray_ref.npy"
    for path in (gray, gray_reference):
        np.save(path, rng.random((128, 128), dtype=np.float32) + 1)
    hints = {}
    for reference in (pictures[0], gray_reference):
        out = tmp_path / reference.stem
        assert main(["register-stack", str(reference), str(gray), str(pictures[1]), "-o",
                     str(out), "--format", "npy", "--no-progress", "--workers", "1"]) == 1
        printed = capsys.readouterr().out
        summary = json.loads((out / "summary.json").read_text())
        for name in ("gray", "picture"):
            report = json.loads((out / f"{name}.json").read_text())
            assert report["error_type"] == "RegistrationError"
            hints[reference.stem, name] = report["hint"]
            entry = next(e for e in summary["failures"] if e["name"] == name)
            assert entry["hint"] == report["hint"]
            if report["hint"] is not None:
                assert (f"{name}: FAILED (RegistrationError): {report['error']}; "
                        f"{report['hint']}") in printed
    reference, image = (f"REFERENCE {str(pictures[0])!r} (3 channels)",
                        f"image {str(pictures[1])!r} (3 channels)")
    assert hints["ref", "gray"] == (
        f"{reference} is a colour picture, matched as SAR by its gray values (--modality "
        "sar): if optical, --modality optical-sar matches it as optical")
    assert hints["ref", "picture"].startswith(f"{reference} and {image} are colour pictures")
    assert "--modality optical matches them" in hints["ref", "picture"]
    assert hints["gray_ref", "picture"].startswith(f"{image} is a colour picture")
    assert "--modality sar-optical matches it" in hints["gray_ref", "picture"]
    assert hints["gray_ref", "gray"] is None  # no colour picture
