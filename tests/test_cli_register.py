"""End-to-end tests of ``sarfeat register`` on files (PNG, NumPy, GeoTIFF)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from skimage.io import imread, imsave
from skimage.transform import SimilarityTransform, warp

from sarfeat.cli import main
from sarfeat.metrics import registration_rmse

REPO_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = "weights/faster2d2_WASF_N16.pt"
TRUTH = SimilarityTransform(scale=1.0, rotation=np.deg2rad(3), translation=(10.0, -6.0))


@pytest.fixture
def weights(require_data) -> str:
    return str(require_data(WEIGHTS))


def _moved(image: np.ndarray) -> np.ndarray:
    """``image`` seen through TRUTH (fixed (x, y) -> moving (x, y)), NaN outside."""
    return warp(image, TRUTH.inverse, order=1, cval=np.nan, preserve_range=True).astype(np.float32)


def _quicklook(intensity: np.ndarray) -> np.ndarray:
    """An 8-bit quick-look (dB, 1-99 % stretch, 0 where NaN), like sar_pairs' PNGs."""
    db = 10 * np.log10(intensity)
    low, high = np.nanpercentile(db, (1, 99))
    scaled = np.clip((db - low) / (high - low), 0, 1)
    return np.where(np.isfinite(scaled), np.round(255 * scaled), 0).astype(np.uint8)


def _report(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_png_in_registered_png_and_json_out(airsar_cube, weights, tmp_path, capsys):
    fixed, moving = tmp_path / "hh.png", tmp_path / "vv_moved.png"
    imsave(fixed, _quicklook(airsar_cube[..., 0]), check_contrast=False)
    imsave(moving, _quicklook(_moved(airsar_cube[..., 2])), check_contrast=False)
    out, report, plot = tmp_path / "registered.png", tmp_path / "report.json", tmp_path / "m.png"
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--weights", weights,
                   "--json", str(report), "--plot", str(plot)])
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "inlier matches" in printed and "confidence" in printed
    registered = imread(out)
    assert registered.shape == (256, 256) and registered.dtype == np.uint8
    saved = _report(report)
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, (256, 256), (256, 256)) < 1.0
    np.testing.assert_allclose(np.array(saved["transform_moving_to_fixed"]),
                               np.linalg.inv(estimate), atol=1e-6)
    assert saved["matches"]["fine_inliers"] >= 30
    assert 0 < saved["confidence"] <= 1
    assert saved["residuals_px"]["rms"] < 3
    assert saved["model"] == "affine" and saved["georeferenced_output"] is False
    # the model asked for, and the one returned (model selection: here simpler than affine)
    assert saved["model_returned"] == saved["diagnostics"]["selected_model"]
    assert saved["model_returned"] in ("translation", "euclidean", "similarity", "affine")
    # the registered quick-look lines up with the fixed one: outside the moving image is 0
    inside = registered > 0
    assert 0.4 < inside.mean() < 0.99
    a = imread(fixed)[inside].astype(float)
    assert np.corrcoef(a, registered[inside].astype(float))[0, 1] > 0.6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("rasterio_installed", [True, False], ids=["rasterio", "plain"])
def test_npy_in_npy_out_with_similarity(airsar_cube, weights, tmp_path, capsys, monkeypatch,
                                        rasterio_installed):
    """Two .npy images register; a plain install (no rasterio, hence no affine) too."""
    if not rasterio_installed:
        for name in ("affine", "rasterio"):
            monkeypatch.setitem(sys.modules, name, None)  # importing them raises ImportError
    fixed, moving = tmp_path / "hh.npy", tmp_path / "hv.npy"
    np.save(fixed, airsar_cube[..., 0])
    np.save(moving, _moved(airsar_cube[..., 1]))
    out, report = tmp_path / "out.npy", tmp_path / "r.json"
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--weights", weights,
                   "--model", "similarity", "--json", str(report)])
    assert status == 0, capsys.readouterr().err
    registered = np.load(out)
    assert registered.shape == (256, 256) and registered.dtype == np.float32
    assert np.isnan(registered).any() and np.isfinite(registered).mean() > 0.5
    estimate = np.array(_report(report)["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, (256, 256), (256, 256)) < 1.0


def test_report_and_verbose_output_say_what_ran_the_network(airsar_cube, weights, tmp_path,
                                                            capsys):
    """The JSON report and -v say the runtime and precision chosen, never 'auto'."""
    from sarfeat.runtime import plan, resolve_device
    from sarfeat.weights import resolve_network_weights

    fixed, moving = tmp_path / "hh.npy", tmp_path / "hv.npy"
    np.save(fixed, airsar_cube[..., 0])
    np.save(moving, _moved(airsar_cube[..., 1]))
    report = tmp_path / "r.json"
    assert main(["register", str(fixed), str(moving), "--weights", weights, "-v",
                 "--json", str(report)]) == 0
    device = resolve_device("auto")
    runtime, precision = plan(resolve_network_weights(weights), device)
    network = _report(report)["network"]
    assert network == {"runtime": runtime, "precision": precision, "device": device}
    assert _report(report)["diagnostics"]["network"] == network
    assert f"keypoint network: {runtime} {precision} on {device}" in capsys.readouterr().err


def test_nodata_option_is_no_data_of_the_written_image(airsar_cube, weights, tmp_path,
                                                       capsys):
    """--nodata on a file without a nodata value: its fill is never resampled into data."""
    fixed, moving = tmp_path / "hh.npy", tmp_path / "hv.npy"
    np.save(fixed, airsar_cube[..., 0])
    filled = np.nan_to_num(_moved(airsar_cube[..., 1]), nan=-9999.0)
    filled[100:140, 100:140] = -9999.0  # a hole inside the image, not only at its edges
    np.save(moving, filled)
    out, report = tmp_path / "out.npy", tmp_path / "r.json"
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--weights", weights,
                   "--nodata", "-9999", "--json", str(report)])
    assert status == 0, capsys.readouterr().err
    registered = np.load(out)
    fill = registered == -9999
    assert fill.any() and (registered[~fill] >= 0).all()  # intensities, no blend with the fill
    assert _report(report)["output_nodata"] == -9999


def test_geotiff_in_georeferenced_geotiff_out(airsar_cube, weights, tmp_path, capsys):
    if os.environ.get("SARFEAT_REQUIRE_DATA") == "1":  # CI: the test extra installs rasterio
        import rasterio
    else:
        rasterio = pytest.importorskip("rasterio")
    from rasterio.errors import NotGeoreferencedWarning

    crs = rasterio.crs.CRS.from_epsg(32610)
    geotransform = rasterio.Affine(10.0, 0.0, 545000.0, 0.0, -10.0, 4185000.0)  # 10 m, UTM 10N
    fixed, moving = tmp_path / "hh.tif", tmp_path / "vv.tif"
    for path, values, georeferenced in ((fixed, airsar_cube[..., 0], True),
                                        (moving, _moved(airsar_cube[..., 2]), False)):
        profile = dict(driver="GTiff", height=256, width=256, count=1, dtype="float32",
                       nodata=np.nan)
        if georeferenced:
            profile.update(crs=crs, transform=geotransform)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the moving image
            with rasterio.open(path, "w", **profile) as target:
                target.write(values.astype(np.float32), 1)
    out, report = tmp_path / "registered.tif", tmp_path / "r.json"
    status = main(["register", str(fixed), str(moving), "-o", str(out), "--weights", weights,
                   "--json", str(report), "-v"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "georeferencing" in printed.out
    # one band, said so ("1 band(s)" was said)
    assert f"read fixed {fixed}: 1 band (256, 256) float32" in printed.err
    assert "resampling 1 band of" in printed.err
    assert f"wrote {out} (GeoTIFF float32, 1 band, nodata nan" in printed.out
    with rasterio.open(out) as written:
        assert written.crs == crs
        assert written.transform == geotransform
        assert (written.height, written.width, written.count) == (256, 256, 1)
        values = written.read(1)
    assert values.dtype == np.float32 and np.isnan(values).any()
    saved = _report(report)
    assert saved["georeferenced_output"] is True
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, (256, 256), (256, 256)) < 1.0


def test_example_prints_error_against_truth(shared_data, weights, tmp_path):
    report = tmp_path / "example.json"
    env = {**os.environ, "SARFEAT_DATA_DIR": str(shared_data)}
    result = subprocess.run(
        [sys.executable, "-m", "sarfeat", "register", "--example", "--weights", WEIGHTS,
         "--json", str(report)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"RMSE against the truth:\s*([0-9.]+) px", result.stdout)
    assert found, result.stdout
    assert float(found.group(1)) < 2.0  # NAVER's optical weights on 1.2-look speckle: about 1.2
    assert "Copernicus" in result.stdout  # attribution of the bundled scene
    assert _report(report)["rmse_px"] == pytest.approx(float(found.group(1)), abs=1e-3)


def test_example_gives_the_rmse_the_readme_prints(tmp_path, capsys):
    """README.md says what `sarfeat register --example` prints with the default weights; a
    change that moves it (0.171 -> 0.257 px once, from 8e-5 px of resampling) must say so."""
    stated = re.search(r"It prints an RMSE of ([0-9.]+) px",
                       (REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README.md no longer states the example's RMSE"
    report = tmp_path / "example.json"
    assert main(["register", "--example", "-q", "--json", str(report)]) == 0
    assert _report(report)["rmse_px"] == pytest.approx(float(stated.group(1)), abs=5e-3)


def test_example_resamples_its_output_with_the_order_given(monkeypatch, tmp_path, capsys):
    import sarfeat.registration

    seen = {}

    def stop(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stopped before matching")

    monkeypatch.setattr(sarfeat.registration, "register", stop)
    assert main(["register", "--example", "-q", "-o", str(tmp_path / "o.npy"),
                 "--order", "0"]) == 1
    assert "stopped before matching" in capsys.readouterr().err
    assert seen.get("order") == 0  # was left out: the example's -o was bilinear whatever --order


def test_unregistrable_pair_exits_1_with_reason(airsar_cube, weights, tmp_path, capsys):
    fixed, moving = tmp_path / "flat.npy", tmp_path / "hh.npy"
    np.save(fixed, np.full((64, 64), 0.5, np.float32))
    np.save(moving, airsar_cube[..., 0])
    assert main(["register", str(fixed), str(moving), "-o", str(tmp_path / "o.npy"),
                 "--weights", weights]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sarfeat register: error:") and "constant" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["register"], "give FIXED and MOVING"),
        (["register", "a.npy"], "give FIXED and MOVING"),
        (["register", "--example", "a.npy", "b.npy"], "give FIXED and MOVING"),
        (["register", "{a}", "{a}"], "-o OUT"),
        (["register", "{a}", "{a}", "-o", "out.bmp"], "unsupported output type"),
        (["register", "{a}", "missing.npy", "-o", "out.npy"], "does not exist"),
        (["register", "{a}", "{a}", "-o", "out.npy", "--upright", "--turns", "any"],
         "contradict each other"),
        (["register", "{a}", "{a}", "-o", "out.npy", "--scales", "wide"],
         "--scales wide is for a pair with an optical image"),
        # two SAR images leave their border zeros out whatever it says: refused, not ignored
        (["register", "{a}", "{a}", "-o", "out.npy", "--keep-border-fill"],
         "--keep-border-fill is for a pair with an optical image"),
        # the keypoint matcher's options are refused with an optical image, not ignored
        (["register", "{a}", "{a}", "-o", "o.npy", "--modality", "optical-sar", "--weights",
          "sarfeat-sar-lite"], "--weights: for two SAR images"),
        (["register", "{a}", "{a}", "-o", "o.npy", "--modality", "sar-optical", "--precision",
          "int8", "--max-fine-patches", "4"], "--precision, --max-fine-patches: for two SAR"),
        (["register", "{a}", "{a}", "-o", "o.npy", "--modality", "optical-sar", "--model",
          "projective"], "--model projective: for two SAR images"),
        (["register", "{a}", "{a}", "--plot", "matches.xyz"], "unsupported --plot type"),
        (["register", "{a}", "{a}", "--plot", "matches"], "unsupported --plot type '(none)'"),
        (["register", "--example", "--plot", "matches.bmp"], "unsupported --plot type"),
        (["register", "--example", "--band", "0", "--json", "r.json"],
         "--band does not apply to --example"),
        (["register", "--example", "--moving-band", "0", "--json", "r.json"],
         "--moving-band does not apply"),
        (["register", "--example", "--no-resample", "-o", "o.tif"],
         "--no-resample does not apply"),
        (["register", "--example", "--modality", "optical-sar", "--json", "r.json"],
         "--modality does not apply to --example"),
        (["register", "{a}", "{a}", "-o", "o.tif", "--no-resample", "--order", "0"],
         "--order 0 and --no-resample contradict each other"),  # --order was ignored
        # nothing is resampled without -o: --order was accepted and unused
        (["register", "{a}", "{a}", "--json", "r.json", "--order", "3"],
         "--order 3 resamples the registered image: give -o OUT"),
        (["register", "{a}", "{a}", "--plot", "p.png", "--tie-points", "t.csv", "--order", "0"],
         "--order 0 resamples the registered image: give -o OUT"),
        (["register", "--example", "--json", "r.json", "--order", "3"],
         "--order 3 resamples the registered image: give -o OUT"),
    ],
)
def test_bad_usage_exits_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "a.npy", np.ones((8, 8), np.float32))
    argv = [arg.replace("{a}", str(tmp_path / "a.npy")) for arg in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_usage_line_does_not_require_o(capsys):
    """-o is optional (--json, --tie-points or --plot will do): the usage line says no more."""
    assert main(["register"]) == 2
    err = capsys.readouterr().err
    assert "usage: sarfeat register [options] (FIXED MOVING | --example)" in err
    assert "-o OUT" not in err


@pytest.mark.parametrize("option", [["--descriptor", "patch"], ["--turned-maps", "average"]])
def test_detects_descriptor_options_are_not_offered_by_register(option, capsys):
    """The matcher chooses its own descriptors: register has no option that it would ignore."""
    with pytest.raises(SystemExit) as exit_:
        main(["register", "a.npy", "b.npy", "-o", "o.npy", *option])
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {option[0]}" in capsys.readouterr().err


def test_help_mentions_register(capsys):
    with pytest.raises(SystemExit):
        main(["register", "--help"])
    text = capsys.readouterr().out
    assert "FIXED" in text and "--json" in text and "--plot" in text and "--model" in text


def test_max_fine_patches_reaches_the_matcher_and_bad_values_exit_2(capsys):
    from sarfeat.cli import build_parser
    from sarfeat.cli.register import make_matcher

    for value, expected in (("all", None), ("4", 4), ("ALL", None), (None, 16)):
        argv = ["register", "a.npy", "b.npy", "-o", "o.npy"]
        argv += [] if value is None else ["--max-fine-patches", value]
        args = build_parser().parse_args(argv)
        assert make_matcher(args, None, "auto", False).max_fine_patches == expected
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit) as error:
            main(["register", "a.npy", "b.npy", "-o", "o.npy", "--max-fine-patches", bad])
        assert error.value.code == 2
        assert "positive integer or 'all'" in capsys.readouterr().err


def test_refusal_hint_only_for_refused_optical_pairs_short_of_the_widest_search():
    import argparse

    from sarfeat import RegistrationError
    from sarfeat.cli.register import refusal_hint

    optical = argparse.Namespace(modality="optical-sar", scales="default")
    widest = argparse.Namespace(modality="optical-sar", scales="wide")
    sar = argparse.Namespace(modality="sar", scales="default")
    refused = RegistrationError("cannot register the images", diagnostics={})  # the search's
    assert "turns within +-90 degrees" in refusal_hint(optical, refused, False, False)
    assert "only the upright turn" in refusal_hint(optical, refused, True, False)
    # the scales: said unless --scales wide; turns: unless the whole circle was searched
    assert "--scales wide adds 0.5" in refusal_hint(optical, refused, False, False)
    assert refusal_hint(optical, refused, False, True).startswith("moving pixels per fixed")
    assert "--scales" not in refusal_hint(widest, refused, False, False)
    # a moving image brought onto the fixed grid by georeferencing has no scale to search
    assert "--scales" not in refusal_hint(optical, refused, True, False, resampled=True)
    assert refusal_hint(widest, refused, False, True) is None  # both at their widest
    assert refusal_hint(sar, refused, False, False) is None
    assert refusal_hint(optical, ValueError("bad band"), False, False) is None
    # register's input checks, before the search, which no wider search helps (they had it)
    before = RegistrationError("moving image is mostly no-data: only 20.0 % of its pixels "
                               "are valid", "moving")
    assert refusal_hint(optical, before, False, False) is None


def _register_optical_tile(tmp_path: Path, capsys, *options: str, sar_dtype=np.float32):
    """``sarfeat register`` on the bundled 3MOS tile (optical fixed, SAR moving, upright)."""
    from sarfeat.data import load_optical_sar_tile

    optical, sar = load_optical_sar_tile()
    np.save(tmp_path / "optical.npy", optical)
    np.save(tmp_path / "sar.npy", sar.astype(sar_dtype))
    assert main(["register", str(tmp_path / "optical.npy"), str(tmp_path / "sar.npy"),
                 "--modality", "optical-sar", "--turns", "upright", "-q",
                 *options]) == 0, capsys.readouterr().err


@pytest.fixture(scope="module")
def optical_run(tmp_path_factory):
    """One ``sarfeat register -v --json --tie-points`` of the bundled 3MOS tile (optical fixed,
    SAR moving, upright), shared by the tests that read its report, tie points or console:
    (report, tie-point file, printed out, printed err)."""
    from sarfeat.data import load_optical_sar_tile

    folder = tmp_path_factory.mktemp("optical_run")
    optical, sar = load_optical_sar_tile()
    np.save(folder / "optical.npy", optical)
    np.save(folder / "sar.npy", sar)
    report, ties = folder / "r.json", folder / "ties.csv"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["register", str(folder / "optical.npy"), str(folder / "sar.npy"),
                       "--modality", "optical-sar", "--turns", "upright", "-v",
                       "--json", str(report), "--tie-points", str(ties)])
    assert status == 0, err.getvalue()
    return _report(report), ties, out.getvalue(), err.getvalue()


def test_tie_point_scores_of_an_optical_pair_lie_in_0_1(optical_run):
    # a pair with an optical image is matched densely: its "votes" are correlations in
    # hundredths, not descriptor votes, and the score must still be a fraction
    ties = optical_run[1]
    lines = ties.read_text().splitlines()
    header = lines[0].split(",")
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    votes, scores = rows[:, header.index("votes")], rows[:, header.index("score")]
    assert len(rows) and 0 < scores.min() and scores.max() <= 1
    np.testing.assert_allclose(scores, votes / 100)


@pytest.mark.parametrize(("suffix", "stored"), [(".tif", "float32"), (".png", "uint8"),
                                                 (".npy", "float16")])
def test_json_output_dtype_is_what_the_file_holds(tmp_path, capsys, suffix, stored):
    """A float16 moving image: GeoTIFF stores float32, a PNG an 8-bit display image."""
    from sarfeat.io import read_raster

    out, report = tmp_path / f"out{suffix}", tmp_path / "r.json"
    _register_optical_tile(tmp_path, capsys, "-o", str(out), "--json", str(report),
                           sar_dtype=np.float16)
    assert _report(report)["output_dtype"] == stored
    assert read_raster(out).data.dtype == stored


def test_json_says_which_model_was_returned_for_an_optical_pair(optical_run):
    """``model``: the --model asked for; ``model_returned``: what the transform is."""
    saved = optical_run[0]
    assert saved["model"] == "affine"  # the default --model, a bound the similarity obeys
    assert saved["model_returned"] == saved["diagnostics"]["selected_model"] == "similarity"


def test_an_optical_pair_prints_and_reports_no_coarse_match_count(optical_run):
    """Its coarse stage (a global correlation search) matches no points: no "(coarse N)"
    copied from the fine stage on the console, null coarse counts in the report."""
    saved, _, out, err = optical_run
    assert "inlier matches," in out and "(coarse" not in out
    assert "coarse stage: structure correlation 0." in err
    assert "None inliers" not in err and "templates placed" in err
    matches = saved["matches"]
    assert matches["coarse_candidates"] is None and matches["coarse_inliers"] is None
    assert 0 < matches["fine_inliers"] <= matches["fine_candidates"]


def test_an_optical_pair_reports_that_no_network_ran(optical_run):
    saved = optical_run[0]
    assert saved["network"] is None and saved["diagnostics"]["network"] is None


def test_verbose_describes_the_dense_matcher_for_an_optical_pair(optical_run):
    """-v printed the keypoint matcher's stages (rotation search, patches at full resolution)
    for a pair with an optical image, which the dense structural matcher registers."""
    from sarfeat.matching.dense import STAGES

    printed = optical_run[3]
    assert f": {STAGES}" in printed and "without the keypoint network" in STAGES
    assert "rotation search on downsampled images" not in printed
    assert "patches at full resolution" not in printed


def test_json_records_the_options_as_given(tmp_path, capsys):
    """The report had only what ran (``network``), not the options asked for (--order, --seed,
    --input-kind, --nodata, the bands, --precision and --device as given, --modality, --turns,
    --scales): a run could not be repeated from its report, a failed one's neither."""
    report = tmp_path / "r.json"
    _register_optical_tile(tmp_path, capsys, "--json", str(report), "-o", str(tmp_path / "o.npy"),
                           "--order", "0", "--seed",
                           "5", "--scales", "wide", "--input-kind", "intensity", "--nodata",
                           "-1", "--band", "0")
    options = _report(report)["options"]
    assert {key: options[key] for key in (
        "modality", "turns", "scales", "order", "seed", "input_kind", "nodata", "band",
        "fixed_band", "moving_band", "precision", "device", "max_fine_patches")} == {
        "modality": "optical-sar", "turns": "upright", "scales": "wide", "order": 0, "seed": 5,
        "input_kind": "intensity", "nodata": -1.0, "band": 0, "fixed_band": None,
        "moving_band": None, "precision": "auto", "device": "auto", "max_fine_patches": 16}
    assert _report(report)["fixed_band"] == 0  # the fields beside them unchanged
    np.save(tmp_path / "flat.npy", np.full((128, 128), 0.5, np.float32))
    assert main(["register", str(tmp_path / "flat.npy"), str(tmp_path / "sar.npy"), "--json",
                 str(report), "--precision", "fp32", "--device", "cpu", "--fixed-band", "0",
                 "-q", "--overwrite"]) == 1
    failed = _report(report)
    assert failed["status"] == "failed" and failed["network"] is None
    assert failed["options"]["precision"] == "fp32" and failed["options"]["device"] == "cpu"
    assert failed["options"]["fixed_band"] == 0 and failed["options"]["modality"] == "sar"


def _matcher_of_register(monkeypatch, capsys, argv: list[str]):
    """The matcher `sarfeat register ARGV` builds, stopped before it matches."""
    import sarfeat.registration

    seen = {}

    def stop(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stopped before matching")

    monkeypatch.setattr(sarfeat.registration, "register", stop)
    assert main(["register", *argv]) == 1
    assert "stopped before matching" in capsys.readouterr().err
    return seen["matcher"]


def test_register_loads_a_checkpoint_file_once_for_the_matcher(weights, monkeypatch,
                                                               tmp_path, capsys):
    """A checkpoint file brings its network alone: the matcher (and register-stack's
    workers) get the network checked_weights loaded, not a path to read again."""
    from sarfeat.weights import resolve_network_weights

    argv = ["--example", "-q", "--json", str(tmp_path / "r.json"), "--weights", weights]
    matcher = _matcher_of_register(monkeypatch, capsys, argv)
    assert type(matcher.weights).__name__ == "NetworkWeights"
    np.testing.assert_equal(vars(matcher.weights), vars(resolve_network_weights(weights)))


@pytest.mark.parametrize("weights", ["sarfeat-sar-v1", "sarfeat-sar-v2", None])
@pytest.mark.parametrize("files", [False, True], ids=["example", "files"])
def test_the_matcher_of_register_has_the_release_of_weights(weights, files, airsar_cube,
                                                            monkeypatch, tmp_path, capsys):
    """--weights reaches every detector of the matcher, the turn estimate's included (it
    was handed the loaded network, which names no release, and the turn estimate used the
    default release whatever --weights said)."""
    inputs = ["--example"]
    if files:
        inputs = [str(tmp_path / "fixed.npy"), str(tmp_path / "moving.npy")]
        for path, band in zip(inputs, (0, 2)):
            np.save(path, airsar_cube[..., band])
    given = [] if weights is None else ["--weights", weights]
    matcher = _matcher_of_register(monkeypatch, capsys,
                                   [*inputs, "-q", "--json", str(tmp_path / "r.json"), *given])
    coarse = matcher.coarse_settings
    assert matcher._detector(**coarse.detector_settings()).weights == weights
    assert matcher._turn_detector(coarse).weights == weights


@pytest.mark.parametrize("colour", ["fixed", "moving", "both"])
def test_a_refused_sar_pair_with_a_colour_picture_says_how_to_match_it_as_optical(
        colour, monkeypatch, tmp_path, capsys):
    """An RGB PNG given with the default --modality sar was matched as SAR by its gray
    values, and the refusal ('no consistent transform') gave no hint of --modality."""
    import sarfeat.registration
    from sarfeat.registration import RegistrationError

    def refused(*args, **kwargs):
        raise RegistrationError("cannot register the images: no consistent transform",
                                diagnostics={"failure": "no consistent transform"})

    monkeypatch.setattr(sarfeat.registration, "register", refused)
    rng = np.random.default_rng(0)
    picture, gray = tmp_path / "picture.png", tmp_path / "gray.npy"
    imsave(picture, rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), check_contrast=False)
    np.save(gray, rng.random((64, 64), dtype=np.float32) + 1)
    fixed, moving = {"fixed": (picture, gray), "moving": (gray, picture),
                     "both": (picture, picture)}[colour]
    report = tmp_path / "r.json"
    argv = ["register", str(fixed), str(moving), "--json", str(report), "-q", "--overwrite"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    given = {"fixed": "optical-sar", "moving": "sar-optical", "both": "optical"}[colour]
    hint = _report(report)["hint"]
    assert f"--modality {given} matches" in hint and f"{str(picture)!r} (3 channels)" in hint
    assert "no consistent transform" in err
    if colour != "both":  # a band chosen is matched as the user said: no hint
        band = "--fixed-band" if colour == "fixed" else "--moving-band"
        assert main([*argv, band, "0"]) == 1
        assert _report(report)["hint"] is None
    assert main(["register", str(gray), str(gray), *argv[3:]]) == 1  # no colour picture
    assert _report(report)["hint"] is None
