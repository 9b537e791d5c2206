"""Tests of the command line: ``python -m sarfeat detect``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.io import imsave

from sarfeat.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "weights/faster2d2_WASF_N16.pt"


def _run_module(*args: str, data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m sarfeat ARGS`` from the repository root."""
    env = {**os.environ, "SARFEAT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "sarfeat", *args], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def weights(require_data) -> str:
    return str(require_data(WEIGHTS))


@pytest.fixture
def airsar_png(airsar_cube, tmp_path) -> Path:
    """A 200 x 176 crop of the AIRSAR HH channel as an 8-bit PNG (dB, 1-99 % stretch)."""
    crop = airsar_cube[20:220, 40:216, 0]
    db = 10 * np.log10(crop)
    low, high = np.percentile(db, (1, 99))
    path = tmp_path / "airsar.png"
    imsave(path, np.round(255 * np.clip((db - low) / (high - low), 0, 1)).astype(np.uint8))
    return path


def test_example_matches_known_warp(shared_data, weights):
    result = _run_module("detect", "--example", data_dir=shared_data)
    assert result.returncode == 0, result.stderr
    found = re.search(r"MMA@3:\s*([0-9.]+)", result.stdout)
    assert found, result.stdout
    assert float(found.group(1)) >= 0.4, result.stdout
    counts = re.search(r"keypoints:\s*(\d+) \(VV\),\s*(\d+)", result.stdout)
    assert counts and int(counts.group(1)) > 0 and int(counts.group(2)) > 0
    assert re.search(r"matches:\s*\d+", result.stdout)
    assert re.search(r"time:\s*[0-9.]+ s", result.stdout)
    assert "Copernicus" in result.stdout  # attribution of the bundled scene


def test_example_without_a_match_reports_no_mma(shared_data, capsys, monkeypatch):
    """The example's MMA of no match is no figure (it printed 'MMA@1: 0.000', as if every
    match were wrong): the keypoints of the real pair, their matching made to find none."""
    import skimage.feature

    monkeypatch.setattr(skimage.feature, "match_descriptors",
                        lambda *args, **kwargs: np.empty((0, 2), np.intp))
    assert main(["detect", "--example"]) == 0
    printed = capsys.readouterr().out
    assert "matches: 0 (mutual nearest neighbours), 0 within 3 px" in printed
    assert "MMA@1: n/a (no match)  MMA@3: n/a (no match)  MMA@5: n/a (no match)" in printed
    assert "0.000" not in printed


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_example_prints_the_runtime_and_precision_that_ran(shared_data, precision, capsys):
    """Not the --precision asked for ('auto'), but what it came to (int8 on ONNX Runtime
    for the bundled weights whose int8 model passed its check)."""
    from sarfeat.detector_network import detector_network
    from sarfeat.runtime import plan, resolve_device

    assert main(["detect", "--example", "--precision", precision]) == 0
    printed = capsys.readouterr().out
    device = resolve_device("auto")
    runtime, chosen = plan(detector_network("sarfeat-sar-v2", False, "auto", False), device,
                           precision=precision)
    assert chosen != "auto"
    assert f"network: {runtime} {chosen} on {device} (--precision {precision})" in printed


def test_detect_verbose_says_what_ran_the_network(airsar_cube, weights, tmp_path, capsys):
    from sarfeat.runtime import plan, resolve_device
    from sarfeat.weights import resolve_network_weights

    image = tmp_path / "hh.npy"
    np.save(image, airsar_cube[:160, :160, 0])
    assert main(["detect", str(image), "--weights", weights, "--upright", "-v"]) == 0
    device = resolve_device("auto")
    runtime, precision = plan(resolve_network_weights(weights), device)
    assert f"network: {runtime} {precision} on {device}" in capsys.readouterr().err


def test_detect_png_writes_npz_and_plot(airsar_png, weights, tmp_path, capsys):
    out, plot = tmp_path / "kp.npz", tmp_path / "kp.png"
    status = main(["detect", str(airsar_png), "--weights", weights, "-o", str(out),
                   "--plot", str(plot), "--max-keypoints", "300"])
    assert status == 0, capsys.readouterr().err
    assert "keypoints" in capsys.readouterr().out
    with np.load(out) as saved:
        keypoints, scales = saved["keypoints"], saved["scales"]
        responses, descriptors = saved["responses"], saved["descriptors"]
        assert tuple(saved["image_shape"]) == (200, 176)
    count = len(keypoints)
    assert 0 < count <= 300
    assert keypoints.shape == (count, 2) and scales.shape == responses.shape == (count,)
    assert len(descriptors) == count and descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(descriptors, axis=1), 1, atol=1e-4)
    assert (keypoints >= -0.5).all() and (keypoints <= np.array([199.5, 175.5])).all()
    assert np.all(np.diff(responses) <= 0)  # best first
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_detect_npy_band(airsar_cube, weights, tmp_path, capsys):
    cube = tmp_path / "cube.npy"
    np.save(cube, airsar_cube[:160, :160])
    out = tmp_path / "hv.npz"
    assert main(["detect", str(cube), "--band", "1", "--weights", weights, "-o", str(out)]) == 0
    with np.load(out) as saved:
        assert tuple(saved["image_shape"]) == (160, 160)
        assert len(saved["keypoints"]) == len(saved["descriptors"]) > 0


def test_missing_file_is_usage_error_without_traceback(shared_data, tmp_path):
    result = _run_module("detect", str(tmp_path / "nope.png"), data_dir=shared_data)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_negative_band_counts_from_the_end_as_the_help_says(airsar_cube, weights, tmp_path,
                                                              capsys):
    """--band -1 is the last band (the library's rule, on purpose); the help said 0-based."""
    cube = tmp_path / "cube.npy"
    np.save(cube, airsar_cube[:160, :160])
    saved = {}
    for band in ("-1", "2"):
        out = tmp_path / f"band{band}.npz"
        assert main(["detect", str(cube), "--band", band, "--weights", weights, "-o",
                     str(out)]) == 0
        with np.load(out) as arrays:
            saved[band] = arrays["keypoints"]
    np.testing.assert_array_equal(saved["-1"], saved["2"])
    capsys.readouterr()
    for command in ("detect", "register", "register-stack"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "0-based; a negative index counts from the end, -1 the last band" in text, command


def test_3d_array_needs_band(airsar_cube, tmp_path, capsys):
    cube = tmp_path / "cube.npy"
    np.save(cube, airsar_cube[:32, :32])
    assert main(["detect", str(cube)]) == 2
    err = capsys.readouterr().err
    assert "--band 0..2" in err and "3 bands" in err and len(err.strip().splitlines()) == 1
    assert main(["detect", str(cube), "--band", "3"]) == 2
    assert "out of range" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["detect"], ["detect", "--max-keypoints", "0", "x.npy"], ["detect", "--precision", "fp8",
                                                               "x.npy"],
     ["detect", "--device", "gpu", "x.npy"], ["register", "a.npy", "b.npy", "--json", "r.json",
                                               "--device", "cuda0"],
     ["register-stack", "a.npy", "b.npy", "-o", "out", "--device", "GPU"]],
)
def test_bad_usage_exits_2(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse reports bad options this way
        status = exit_.code
    assert status == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_positive_integer_options_share_one_message(value, capsys):
    """detect --max-keypoints and register-stack --workers: one type, one message (the value
    quoted as given, whether it is no integer or not positive)."""
    errors = []
    for argv in (["detect", "x.npy", "--max-keypoints", value],
                 ["register-stack", "a.npy", "b.npy", "-o", "out", "--workers", value]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        errors.append(capsys.readouterr().err.strip().splitlines()[-1].split(": error: ")[1])
    assert errors[0].endswith(f"expected a positive integer, got {value!r}")
    assert errors[1].endswith(f"expected a positive integer, got {value!r}")


def test_detect_refuses_a_plot_type_before_any_work(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones((8, 8), np.float32))
    for plot in ("kp", "kp.xyz"):  # no suffix: matplotlib would have written kp.png
        assert main(["detect", str(tmp_path / "x.npy"), "--plot", str(tmp_path / plot)]) == 2
        assert "unsupported --plot type" in capsys.readouterr().err
    assert main(["detect", "--example", "--plot", str(tmp_path / "kp.bmp")]) == 2
    assert not list(tmp_path.glob("kp*"))


def test_plot_without_matplotlib_is_refused_before_any_work(airsar_cube, weights, tmp_path,
                                                           monkeypatch, capsys):
    # matplotlib is optional: a --plot must not cost a whole run and then fail (exit 1)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    image, out, plot = tmp_path / "hh.npy", tmp_path / "kp.npz", tmp_path / "kp.png"
    np.save(image, airsar_cube[:160, :160, 0])
    assert main(["detect", str(image), "--weights", weights, "-o", str(out),
                 "--plot", str(plot)]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not out.exists() and not plot.exists()
    assert main(["register", str(image), str(image), "--json", str(tmp_path / "r.json"),
                 "--plot", str(plot)]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err
    assert not list(tmp_path.glob("r.json")) and not plot.exists()


@pytest.mark.parametrize("option", [["--descriptor", "patch"], ["--turned-maps", "average"],
                                    ["--turned-maps", "distilled"]])
def test_upright_refuses_the_turned_detectors_options(airsar_cube, weights, tmp_path, option,
                                                      capsys):
    # --upright keeps the network's 128-D descriptors: these options would be ignored
    image, out = tmp_path / "hh.npy", tmp_path / "kp.npz"
    np.save(image, airsar_cube[:160, :160, 0])
    argv = ["detect", str(image), "--weights", weights, "-o", str(out), "--upright", *option]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{' '.join(option)}: not with --upright" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["detect", "--example", "--upright", *option]) == 2
    assert main(["detect", str(image), "--weights", weights, "-o", str(out), "--upright"]) == 0
    with np.load(out) as saved:
        assert saved["descriptors"].shape[1] == 128


def test_a_plot_that_fails_leaves_the_earlier_file(airsar_cube, weights, tmp_path,
                                                  monkeypatch, capsys):
    # a drawing that fails half-way (memory, an interrupt) must not clobber the file there
    import sarfeat.viz

    def half_written(path, *args, **kwargs):
        Path(path).write_bytes(b"\x89PNG half")
        raise MemoryError("drawing failed")

    monkeypatch.setattr(sarfeat.viz, "plot_keypoints", half_written)
    monkeypatch.setattr(sarfeat.viz, "plot_match_errors", half_written)
    image, plot = tmp_path / "hh.npy", tmp_path / "kp.png"
    np.save(image, airsar_cube[:160, :160, 0])
    plot.write_bytes(b"earlier plot")
    for source in ([str(image), "--weights", weights], ["--example"]):
        assert main(["detect", *source, "--plot", str(plot), "--overwrite"]) == 1
        assert "drawing failed" in capsys.readouterr().err
        assert plot.read_bytes() == b"earlier plot"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["hh.npy", "kp.png"]


def test_min_size_above_max_size_is_refused_before_any_work(airsar_cube, weights, tmp_path,
                                                            capsys):
    # the pyramid would have one level at --max-size, --min-size silently ignored
    image, out = tmp_path / "hh.npy", tmp_path / "kp.npz"
    np.save(image, airsar_cube[:160, :160, 0])
    for source in ([str(image), "--weights", weights, "-o", str(out)], ["--example"]):
        assert main(["detect", *source, "--min-size", "512", "--max-size", "128"]) == 2
        assert "--min-size 512 is larger than --max-size 128" in capsys.readouterr().err
    assert not out.exists()
    # without --min-size, a --max-size below its default is one level, as the library says
    assert main(["detect", str(image), "--weights", weights, "-o", str(out), "--max-size",
                 "128"]) == 0
    # and --example, whose own min_size (128) gives way to a --max-size below it
    assert main(["detect", "--example", "--max-size", "100"]) == 0
    assert "min_size 100, max_size 100" in capsys.readouterr().out


def test_unsupported_suffix(tmp_path, capsys):
    path = tmp_path / "image.bmpx"
    path.write_bytes(b"\0" * 16)
    assert main(["detect", str(path)]) == 2
    assert "unsupported file type" in capsys.readouterr().err


def test_default_weights_are_bundled(tmp_path, monkeypatch, airsar_cube):
    monkeypatch.setenv("SARFEAT_DATA_DIR", str(tmp_path))  # empty: only bundled files exist
    image = tmp_path / "image.npy"
    np.save(image, airsar_cube[..., 0])
    out = tmp_path / "keypoints.npz"
    assert main(["detect", str(image), "--min-size", "128", "-o", str(out)]) == 0
    assert len(np.load(out)["keypoints"]) > 50


def test_unreadable_weights_is_runtime_error(tmp_path, capsys):
    image = tmp_path / "image.npy"
    np.save(image, np.ones((32, 32), np.float32))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["detect", str(image), "--weights", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sarfeat detect: error:") and "bad.pt" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["detect", "register", "register-stack"])
def test_runtime_errors_and_interruptions_name_the_subcommand(command, capsys):
    """A runtime error said "sarfeat: error:" where a usage error of the same subcommand
    says "sarfeat register: error:" (argparse's prog); the exit statuses stay."""
    from argparse import Namespace

    from sarfeat.cli.common import UsageError, guarded

    def raising(error):
        def action(args):
            raise error
        return action

    for error, status, said in ((RuntimeError("no model"), 1, "error: no model"),
                                (UsageError("bad -o"), 2, "error: bad -o"),
                                (KeyboardInterrupt(), 130, "interrupted")):
        assert guarded(command, raising(error), Namespace()) == status
        assert capsys.readouterr().err == f"sarfeat {command}: {said}\n"


def test_option_choices_are_the_library_ones():
    # the CLI writes them down so that --help needs no torch: they must not drift
    from sarfeat.runtime import PRECISIONS
    from sarfeat.cli import common
    from sarfeat.matching import MODELS
    from sarfeat.preprocess import INPUT_KINDS

    assert common.INPUT_KINDS == INPUT_KINDS and common.PRECISIONS == PRECISIONS
    assert common.MODELS == tuple(MODELS)
    from sarfeat._validation import DEVICES

    assert common.DEVICES == DEVICES


def test_the_weights_help_names_the_default_release_the_code_uses(capsys, monkeypatch):
    # register-stack's help said sarfeat-sar-v1 while it used (and summary.json recorded)
    # DEFAULT_RELEASE; every help takes the name from the constant
    import sarfeat.cli.detect
    import sarfeat.cli.register_stack
    from sarfeat.cli import common
    from sarfeat.data import DEFAULT_RELEASE

    assert common.DEFAULT_RELEASE == DEFAULT_RELEASE
    for module in (common, sarfeat.cli.detect, sarfeat.cli.register_stack):
        monkeypatch.setattr(module, "DEFAULT_RELEASE", "sarfeat-sar-v9", raising=False)
    for command in ("detect", "register", "register-stack"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        weights_help = text[text.index("--weights W "):][:120]
        assert "(default: sarfeat-sar-v9," in weights_help, command


def test_a_misspelt_device_is_a_usage_error_before_any_work(airsar_cube, tmp_path, capsys):
    # it was exit 1 after the image was read and the network loaded
    from sarfeat.cli import build_parser

    image, out = tmp_path / "hh.npy", tmp_path / "kp.npz"
    np.save(image, airsar_cube[:160, :160, 0])
    with pytest.raises(SystemExit) as exit_:
        main(["detect", str(image), "-o", str(out), "--device", "gpu"])
    assert exit_.value.code == 2 and not out.exists()
    assert "unknown device 'gpu' (torch calls NVIDIA GPUs 'cuda')" in capsys.readouterr().err
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        assert build_parser().parse_args(["detect", "x.npy", "--device", device]).device == device


LAZY = """
import sys
import sarfeat
assert "torch" not in sys.modules and "sarfeat.detector" not in sys.modules
import sarfeat.cli
sarfeat.cli.build_parser()
assert "torch" not in sys.modules, "parsing the command line imports torch"
assert "pooch" not in sys.modules, "pooch is imported only to download"
assert sarfeat.data.DEFAULT_WEIGHTS and sarfeat.io.read_raster and sarfeat.parallel.register_stack
from sarfeat import SARR2D2Detector, register
assert sarfeat.SARR2D2Detector is SARR2D2Detector and callable(register)
try:
    sarfeat.nope
except AttributeError:
    print("ok")
"""


def test_lazy_package_and_light_command_line():
    result = subprocess.run([sys.executable, "-c", LAZY], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_with_nodata_marks_pixels_and_keeps_a_value_the_dtype_holds():
    from sarfeat.cli.common import with_nodata
    from sarfeat.io import Raster

    data = np.array([[[0, 5], [7, 0]]], np.uint16)
    raster = Raster(data, np.ones(data.shape, bool))
    zero = with_nodata(raster, 0)
    assert zero.nodata == 0 and zero.valid.tolist() == [[[False, True], [True, False]]]
    assert with_nodata(raster, -9999).nodata is None  # a uint16 file cannot hold -9999
    assert with_nodata(raster, None) is raster and with_nodata(raster, float("nan")) is raster
    own = with_nodata(Raster(data, data != 7, nodata=7.0), 0)
    assert own.nodata == 7 and own.valid.sum() == 1  # the file's own value is kept


@pytest.mark.parametrize("array", [np.ones((64, 64), bool), np.ones(64, np.float32),
                                   np.array([["a"] * 64] * 64)], ids=["bool", "1-D", "text"])
@pytest.mark.parametrize("command", ["register", "detect"])
def test_an_npy_input_of_the_wrong_type_is_a_usage_error_before_any_work(array, command,
                                                                         tmp_path, capsys):
    """A bool .npy exited 1 once matching started ('fixed image: image dtype bool is not
    supported'), where a 1-D one exits 2 as it is read: both are bad input files."""
    image = tmp_path / "image.npy"
    np.save(image, array)
    other = tmp_path / "other.npy"
    np.save(other, np.random.default_rng(0).random((64, 64), dtype=np.float32))
    inputs = [str(image), str(other)] if command == "register" else [str(image)]
    outputs = ["--json", str(tmp_path / "r.json")] if command == "register" else \
        ["-o", str(tmp_path / "k.csv")]
    assert main([command, *inputs, *outputs, "-q"]) == 2
    err = capsys.readouterr().err
    assert f"error: {str(image)!r} " in err and ("not supported" in err or "shape" in err), err
    assert not (tmp_path / "r.json").exists()
