"""``sarfeat register --modality optical-sar``: files of an optical-SAR pair, --turns any,
--scales wide, --dense-model affine, tie-point scores (the bundled 3MOS tile)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from skimage.io import imsave
from skimage.transform import SimilarityTransform, warp

from sarfeat.cli import main
from sarfeat.metrics import registration_rmse

from _optical_sar_helpers import CENTRE, SHAPE, TRUTH
from _optical_sar_helpers import stretched_truth as _stretched_truth


@pytest.fixture(scope="module")
def cli_run(tile, tmp_path_factory):
    """One ``sarfeat register`` of the optical tile (8-bit PNG, fixed) and the SAR tile moved
    by TRUTH, with -o, --json and --tie-points, the network's weights made to fail if asked
    for: (exit status, its stderr, output, report, tie points), read by two tests."""
    folder = tmp_path_factory.mktemp("cli_run")

    def no_network(*args):
        raise AssertionError("an optical pair is matched without the network")

    command, report = _cli_pair(tile, TRUTH.params, folder)
    out, ties = folder / "registered.npy", folder / "ties.csv"
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr("sarfeat.cli.common.checked_weights", no_network)
        patch.setattr("sarfeat.detector_network.resolve_network_weights", no_network)
        status = main(command + ["-o", str(out), "--tie-points", str(ties), "-q"])
    return status, err.getvalue(), out, report, ties


def test_cli_registers_optical_and_sar_files(cli_run):
    status, err, out, report, _ = cli_run
    assert status == 0, err
    saved = json.loads(report.read_text(encoding="utf-8"))
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, TRUTH.params, SHAPE, SHAPE) < 3.0
    assert np.load(out).shape == SHAPE
    assert saved["weights"] is None


def _cli_pair(tile, truth, folder):
    """The optical tile and its SAR tile moved by ``truth`` as files: ``sarfeat register``'s
    arguments (optical-sar, a JSON report) and the report's path."""
    moving_image = warp(tile[1].astype(np.float32), np.linalg.inv(truth), order=1,
                        cval=np.nan, preserve_range=True).astype(np.float32)
    fixed, moving = folder / "optical.png", folder / "sar_moved.npy"
    imsave(fixed, np.clip(tile[0], 0, 255).astype(np.uint8), check_contrast=False)
    np.save(moving, moving_image)
    report = folder / "report.json"
    return ["register", str(fixed), str(moving), "--modality", "optical-sar",
            "--json", str(report)], report


def test_cli_turns_any_searches_the_whole_circle_for_an_optical_pair(tile, tmp_path, capsys):
    # the SAR tile turned by 150 degrees: beyond the +-90 degrees searched by default, found
    # when --turns any asks for every turn
    truth = (SimilarityTransform(translation=CENTRE + (5, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(150)).params
             @ SimilarityTransform(translation=-CENTRE).params)
    command, report = _cli_pair(tile, truth, tmp_path)
    assert main(command) != 0  # the default search does not reach 150 degrees
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert "refused" in json.dumps(saved)
    # the refusal says what was searched and how to widen it
    assert "turns within +-90 degrees were searched" in capsys.readouterr().out
    status = main(command + ["--turns", "any", "--overwrite"])
    assert status == 0, capsys.readouterr().err
    assert "the whole circle is searched" in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["whole_circle_search"] is True and saved["upright_search"] is False
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0


def test_cli_wide_scales_reach_a_sar_image_below_half_the_optical_scale(tile, tmp_path,
                                                                       capsys):
    # the SAR tile at 0.46 of the optical image's scale: below the 0.59-2 searched by
    # default (and its refinement), found when --scales wide adds 0.5
    truth = (SimilarityTransform(translation=CENTRE + (4, -3)).params
             @ SimilarityTransform(rotation=np.deg2rad(20), scale=0.46).params
             @ SimilarityTransform(translation=-CENTRE).params)
    command, report = _cli_pair(tile, truth, tmp_path)
    assert main(command) != 0
    status = main(command + ["--scales", "wide", "--overwrite"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["wide_scale_search"] is True and saved["whole_circle_search"] is False
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0


def test_cli_dense_model_affine_registers_a_stretched_pair(tile, tmp_path, capsys):
    truth = _stretched_truth(0.04, 0.04)
    command, report = _cli_pair(tile, truth, tmp_path)
    status = main(command + ["--dense-model", "affine"])
    assert status == 0, capsys.readouterr().err
    assert ": affine," in capsys.readouterr().out
    saved = json.loads(report.read_text(encoding="utf-8"))
    assert saved["dense_model"] == "affine"
    estimate = np.array(saved["transform_fixed_to_moving"])
    assert registration_rmse(estimate, truth, SHAPE, SHAPE) < 3.0
    # two SAR images take --model: --dense-model is refused for them, with the reason
    sar_command = [part if part != "optical-sar" else "sar" for part in command]
    assert main(sar_command + ["--dense-model", "affine"]) == 2
    assert "--dense-model is for a pair with an optical image" in capsys.readouterr().err


def test_cli_tie_point_scores_of_an_optical_pair_are_template_correlations(cli_run):
    """The tie points' score lies in [0, 1], as documented: for an optical pair the placed
    template's correlation (its votes are that correlation in hundredths)."""
    import csv

    status, err, _, _, ties = cli_run
    assert status == 0, err
    with open(ties, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) >= 12
    scores = np.array([float(row["score"]) for row in rows])
    votes = np.array([float(row["votes"]) for row in rows])
    assert ((scores > 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, votes / 100)


def test_cli_plot_draws_the_optical_image_linearly_stretched(tile, moved_sar, tmp_path, capsys,
                                                             drawn):
    # --plot drew the optical file with the SAR display stretch (uint16 reflectance in dB)
    optical = (tile[0] * 40).astype(np.uint16)  # reflectance-like, as Sentinel-2 L2A's
    fixed, moving, plot = tmp_path / "optical.png", tmp_path / "sar_moved.npy", tmp_path / "p.png"
    imsave(fixed, optical, check_contrast=False)
    np.save(moving, moved_sar)
    status = main(["register", str(fixed), str(moving), "--modality", "optical-sar",
                   "--plot", str(plot)])
    assert status == 0, capsys.readouterr().err
    assert plot.stat().st_size > 0
    panel = np.asarray(drawn[0].axes[2].images[0].get_array())  # the fixed (optical) image
    low, high = np.percentile(optical, (2, 98))
    np.testing.assert_allclose(panel, np.clip((optical - low) / (high - low), 0, 1), atol=1e-5)


def _corner_pair(tile, folder) -> list:
    """The optical tile and a corner of the SAR tile as GeoTIFFs on one UTM grid: they hold
    data together on 40 x 40 of the optical tile's 256 x 256 pixels (2.44 %)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import Affine

    grid = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5600000.0)
    paths = []
    corner = grid @ Affine.translation(216, 216)
    for name, band, transform in (("optical", tile[0], grid), ("sar", tile[1][216:, 216:], corner)):
        paths.append(folder / f"{name}.tif")
        with rasterio.open(paths[-1], "w", driver="GTiff", height=band.shape[0],
                           width=band.shape[1], count=1, dtype="float32", crs="EPSG:32633",
                           transform=transform) as target:
            target.write(band.astype(np.float32)[None])
    return paths


def test_cli_refusal_of_georeferenced_pair_says_how_much_they_share(tile, tmp_path, capsys):
    paths = _corner_pair(tile, tmp_path)
    report = tmp_path / "r.json"
    status = main(["register", str(paths[0]), str(paths[1]), "--modality", "optical-sar",
                   "--json", str(report)])
    said = capsys.readouterr()
    assert status == 1, said.out
    shared = "FIXED and MOVING hold data together on 2.44 % of FIXED's pixels"
    assert shared in said.out
    assert shared in json.loads(report.read_text(encoding="utf-8"))["hint"]


def test_register_stack_refusal_says_how_much_reference_and_image_share(tile, tmp_path,
                                                                         capsys):
    # register-stack's refusal of the same pair gave only how to widen the search, which
    # points away from the cause (the tiny overlap) that `register` names
    pytest.importorskip("distributed")
    reference, image = _corner_pair(tile, tmp_path)
    out = tmp_path / "out"
    status = main(["register-stack", str(reference), str(image), "-o", str(out),
                   "--modality", "optical-sar", "--format", "npy", "--no-progress",
                   "--workers", "1"])
    printed = capsys.readouterr().out
    assert status == 1, printed
    shared = ("by their georeferencing, REFERENCE and the image hold data together on "
              "2.44 % of REFERENCE's pixels; ")
    report = json.loads((out / "sar.json").read_text(encoding="utf-8"))
    assert report["error_type"] == "RegistrationError"
    assert report["hint"].startswith(shared) and "--turns any" in report["hint"]
    assert f"sar: FAILED (RegistrationError): {report['error']}; {report['hint']}" in printed
    failures = json.loads((out / "summary.json").read_text(encoding="utf-8"))["failures"]
    assert [entry["hint"] for entry in failures] == [report["hint"]]


def test_a_colour_picture_in_the_sar_images_place_is_refused_before_any_work(tile, tmp_path,
                                                                             capsys):
    # the optical PNG in the SAR image's place (the roles swapped) was read as its gray
    # values and matched as SAR without a word; register refuses an RGB array there
    optical = np.clip(tile[0], 0, 255).astype(np.uint8)
    picture = tmp_path / "optical.png"
    imsave(picture, np.dstack([optical, optical // 2, 255 - optical]), check_contrast=False)
    sar = tmp_path / "sar.npy"
    np.save(sar, tile[1])
    report = tmp_path / "r.json"
    for command, name, option, swapped in (
            (["register", str(picture), str(sar), "--modality", "sar-optical"],
             "FIXED", "--fixed-band", "optical-sar"),
            (["register", str(sar), str(picture), "--modality", "optical-sar"],
             "MOVING", "--moving-band", "sar-optical"),
            (["register-stack", str(sar), str(picture), "-o", str(tmp_path / "out"),
              "--modality", "optical-sar"], "image", "--image-band", "sar-optical"),
            (["register-stack", str(picture), str(sar), "-o", str(tmp_path / "out"),
              "--modality", "sar-optical"], "REFERENCE", "--reference-band", "optical-sar")):
        more = ["--json", str(report)] if command[0] == "register" else []
        assert main(command + more) == 2
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and said[0].endswith(
            f"{name} {str(picture)!r} is a colour picture (3 channels) where --modality "
            f"{command[command.index('--modality') + 1]} takes a SAR image: if it is the "
            f"optical one, give --modality {swapped}; to match one of its channels as SAR, "
            f"choose it with {option}")
        assert not report.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("rows", [8, 40])
def test_cli_refusal_of_images_too_small_for_the_fine_stage_says_so(tile, rows, tmp_path,
                                                                    capsys):
    """A strip 40 (or 8) pixels high was refused after the whole search with a hint to widen
    turns and scales (--turns any, --scales wide), which points away from the cause: no
    template of the fine stage fits in it."""
    paths = [tmp_path / "optical.npy", tmp_path / "sar.npy"]
    for path, image in zip(paths, tile):
        np.save(path, image[:rows, :8 if rows == 8 else None].astype(np.float32))
    report = tmp_path / "r.json"
    status = main(["register", *map(str, paths), "--modality", "optical-sar", "--json",
                   str(report)])
    said = capsys.readouterr()
    assert status == 1, said.err
    hint = json.loads(report.read_text(encoding="utf-8"))["hint"]
    assert hint.startswith("FIXED and MOVING are too small for the fine stage, which places "
                           "its templates in 61 x 61 pixel windows"), hint
    assert "--turns any" not in hint and "--scales wide" not in hint and hint in said.out


def test_register_stack_refusal_of_images_too_small_for_the_fine_stage_says_so(tile, tmp_path,
                                                                                capsys):
    pytest.importorskip("distributed")
    paths = [tmp_path / "optical.npy", tmp_path / "sar.npy"]
    for path, image in zip(paths, tile):
        np.save(path, image[:40].astype(np.float32))
    out = tmp_path / "out"
    status = main(["register-stack", *map(str, paths), "-o", str(out), "--modality",
                   "optical-sar", "--format", "npy", "--no-progress", "--workers", "1"])
    assert status == 1, capsys.readouterr().out
    hint = json.loads((out / "sar.json").read_text(encoding="utf-8"))["hint"]
    assert hint.startswith("REFERENCE and the image are too small for the fine stage"), hint
    assert "--turns any" not in hint
