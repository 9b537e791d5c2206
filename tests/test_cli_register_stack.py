"""What ``sarfeat register-stack`` writes for each image, against ``sarfeat register``.

Real SAR: the Sentinel-1 Labrador scene's VV band as the reference and a
shifted, two-band (VV, VH) uint16 amplitude chip of it as the stack member.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sarfeat.data import load_sar_scene

pytest.importorskip("distributed")
rasterio = pytest.importorskip("rasterio")

from rasterio.transform import Affine  # noqa: E402 - after the skip

UTM, ORIGIN, PIXEL = "EPSG:32633", (500000.0, 5600000.0), 10.0


def _write(path, bands: np.ndarray, origin, nodata) -> None:
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype=bands.dtype.name, crs=UTM, nodata=nodata,
                       transform=Affine(PIXEL, 0, origin[0], 0, -PIXEL, origin[1])) as target:
        target.write(bands)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A float32 reference and a 2-band uint16 member whose georeferencing is 30 m off."""
    folder = tmp_path_factory.mktemp("pair")
    scene = load_sar_scene("labrador")
    reference = folder / "reference.tif"
    _write(reference, scene[..., 0][None].astype(np.float32), ORIGIN, float("nan"))
    amplitude = np.clip(np.rint(100 * np.sqrt(scene[16:240, 24:232])), 1, 65535)
    member = folder / "member.tif"
    _write(member, np.moveaxis(amplitude, -1, 0).astype(np.uint16),
           (ORIGIN[0] + 240 + 30, ORIGIN[1] - 160), 0)
    return reference, member


def test_register_stack_writes_every_band_in_its_dtype_as_register_does(pair, tmp_path):
    """register-stack wrote each image as one float32 band (the matched one) while
    `sarfeat register -o` writes every band in the image's dtype and nodata."""
    from sarfeat.cli import main

    reference, member = pair
    out = tmp_path / "out"
    status = main(["register-stack", str(reference), str(member), "-o", str(out), "--band", "0",
                   "--no-progress", "-q", "--workers", "1"])
    assert status == 0
    single = tmp_path / "single.tif"
    assert main(["register", str(reference), str(member), "--band", "0", "-o", str(single),
                 "-q"]) == 0
    report = json.loads((out / "member.json").read_text())
    assert report["status"] == "registered"
    with rasterio.open(out / "member.registered.tif") as stacked, rasterio.open(single) as one:
        assert stacked.count == 2 and stacked.dtypes == ("uint16", "uint16")
        assert stacked.nodata == one.nodata == 0
        assert stacked.shape == one.shape == (256, 256)
        assert stacked.transform == one.transform and stacked.crs == one.crs
        written, expected = stacked.read(), one.read()
    np.testing.assert_array_equal(written, expected)
    assert (written[1] > 0).mean() > 0.6  # the second band (VH) resampled too


def test_a_multi_band_file_without_a_band_is_told_the_option_of_its_side(pair, tmp_path,
                                                                         capsys):
    """The error for a file of several bands with no band chosen said "--band" where the
    option of its side fits (--band N would ask the one-band file beside it for band N):
    --fixed-band or --moving-band for register, --reference-band or --image-band for
    register-stack; for two such files register names both, and --band (added later)."""
    from sarfeat.cli import main

    reference, member = pair  # one band; two bands
    wanted = f"{str(member)!r} has 2 bands of shape (224, 208): choose one with"
    for files, option in (((reference, member), "--moving-band"),
                          ((member, reference), "--fixed-band")):
        assert main(["register", *map(str, files), "--json", str(tmp_path / "r.json")]) == 2
        assert capsys.readouterr().err.strip().endswith(f"{wanted} {option} 0..1")
    # two such files: both options, and --band, which chooses the same band of both (the
    # message named --fixed-band alone)
    assert main(["register", str(member), str(member), "--json", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{wanted} --fixed-band 0..1; {wanted} --moving-band 0..1; or --band N: band N of both")
    assert main(["register-stack", str(member), str(reference), "-o", str(tmp_path / "a"),
                 "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{wanted} --reference-band 0..1")
    # an image of several bands: refused before any work (it failed in its task), naming
    # --image-band (tests/test_cli_register_stack_inputs.py: every image is looked at)
    out = tmp_path / "b"
    assert main(["register-stack", str(reference), str(member), "-o", str(out), "-q",
                 "--no-progress", "--workers", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{wanted} --image-band 0..1")
    assert not out.exists()


def test_multi_band_reference_and_images_without_a_band_are_told_both_options(pair, tmp_path,
                                                                           capsys):
    """A multi-band REFERENCE and multi-band images with no band chosen: the error named
    --reference-band alone (the run given it then failed on every image); it names both
    sides' options and --band, as `sarfeat register` does for two such files."""
    from sarfeat.cli import main

    reference, member = pair  # one band; two bands
    wanted = f"{str(member)!r} has 2 bands of shape (224, 208): choose one with"
    assert main(["register-stack", str(member), str(member), "-o", str(tmp_path / "a"),
                 "-q"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{wanted} --reference-band 0..1; {wanted} --image-band 0..1; or --band N: band N "
        "of both")
    # an image band chosen, or images of one band: REFERENCE's option alone
    for extra, images in ((["--image-band", "1"], [member]), ([], [reference])):
        assert main(["register-stack", str(member), *map(str, images), "-o",
                     str(tmp_path / "b"), "-q", *extra]) == 2
        assert capsys.readouterr().err.strip().endswith(f"{wanted} --reference-band 0..1")


def test_register_stack_says_what_ran_the_network(tmp_path):
    """summary.json had no ``network``, and the report of an image that failed had none:
    what ran the keypoint network for the stack (null for an image refused before it ran)."""
    from sarfeat.cli import main
    from sarfeat.cli.register_stack import _stack_network

    scene = load_sar_scene("labrador")[..., 0]
    np.save(tmp_path / "reference.npy", scene)
    np.save(tmp_path / "shifted.npy", np.roll(scene, (4, 6), axis=(0, 1)))
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).gamma(1.0, 1.0, scene.shape))
    np.save(tmp_path / "flat.npy", np.ones_like(scene))
    out = tmp_path / "out"
    status = main(["register-stack", *(str(tmp_path / f"{name}.npy") for name in
                                       ("reference", "shifted", "noise", "flat")),
                   "-o", str(out), "--format", "npy", "-q", "--workers", "1"])
    assert status == 1
    summary = json.loads((out / "summary.json").read_text())
    assert [entry["name"] for entry in summary["successes"]] == ["shifted"]
    network = json.loads((out / "shifted.json").read_text())["network"]
    assert set(network) == {"runtime", "precision", "device"}
    assert summary["network"] == network
    noise = json.loads((out / "noise.json").read_text())
    assert "no consistent transform" in noise["error"] and noise["network"] == network
    assert json.loads((out / "flat.json").read_text())["network"] is None  # never matched
    other = dict(network, device="cuda:0")  # workers that differed: each network, once
    assert _stack_network([network, None, other, network]) == [network, other]
    assert _stack_network([None, None]) is None


def test_register_stack_order_is_register_s(pair, tmp_path, capsys):
    """register-stack had no --order (always bilinear): it takes register's values, refuses
    another before any work as register does, and order 0 writes only the image's values."""
    from sarfeat.cli import main

    reference, member = pair
    refused = tmp_path / "refused"
    messages = []
    for command in (["register-stack", str(reference), str(member), "-o", str(refused)],
                    ["register", str(reference), str(member), "-o", str(tmp_path / "one.tif")]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--order", "2"])
        assert exit_.value.code == 2
        messages.append(capsys.readouterr().err.splitlines()[-1].split("error: ")[-1])
    assert messages[0] == messages[1] and "argument --order: invalid choice: 2" in messages[0]
    assert not refused.exists()
    out = tmp_path / "out"
    assert main(["register-stack", str(reference), str(member), "-o", str(out), "--band", "0",
                 "--order", "0", "--no-progress", "-q", "--workers", "1"]) == 0
    with rasterio.open(member) as source, rasterio.open(out / "member.registered.tif") as written:
        original, nearest = source.read(), written.read()
    for band, values in zip(original, nearest):
        assert (values > 0).mean() > 0.6
        assert np.isin(values, np.append(band, 0)).all()  # no value between two pixels'


def test_register_stack_summary_records_the_options_that_shape_the_outputs(pair, tmp_path):
    """summary.json had weights and model but not --order (nor --format, --band, --input-kind,
    --nodata, --seed, --precision, --device): a run could not be repeated from it."""
    from sarfeat.cli import main

    reference, member = pair
    out = tmp_path / "out"
    assert main(["register-stack", str(reference), str(member), "-o", str(out), "--band", "0",
                 "--order", "0", "--format", "npy", "--input-kind", "amplitude", "--nodata",
                 "0", "--seed", "5", "--precision", "fp32", "--device", "cpu", "--no-progress",
                 "-q", "--workers", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {key: summary[key] for key in ("format", "order", "band", "input_kind", "nodata",
                                          "seed", "precision", "device", "model")} == {
        "format": "npy", "order": 0, "band": 0, "input_kind": "amplitude", "nodata": 0.0,
        "seed": 5, "precision": "fp32", "device": "cpu", "model": "affine"}
    assert summary["network"]["precision"] == "fp32" and summary["network"]["device"] == "cpu"
    # each image's report records them too, as given (it had only what ran, ``network``),
    # with the search options, as register's report does
    options = json.loads((out / "member.json").read_text())["options"]
    assert options == {key: summary[key] for key in (
        "format", "order", "modality", "turns", "scales", "dense_model", "band",
        "reference_band", "image_band", "keep_border_fill", "min_valid_fraction",
        "max_fine_patches", "input_kind", "nodata", "seed", "precision", "device",
        "creation_options", "overviews", "overview_resampling")}
    assert (options["modality"], options["turns"], options["reference_band"]) == ("sar", "auto",
                                                                                  None)


def _eight_bit(scene: np.ndarray) -> np.ndarray:
    """An 8-bit quick-look of ``scene`` (dB, 1-99 % stretch), as a uint8 picture."""
    db = 10 * np.log10(np.maximum(scene, 1e-6))
    low, high = np.percentile(db, (1, 99))
    return np.round(255 * np.clip((db - low) / (high - low), 0, 1)).astype(np.uint8)


def _built_matchers(tmp_path, monkeypatch, options: list[str], dtype=np.float32) -> dict:
    """The matchers that register-stack's workers and `sarfeat register` build from the
    same ``options``, each where its command builds it (register's ``run``, the task of
    register-stack's workers): ``stacked`` and ``single`` for two .npy files of ``dtype``,
    ``stacked_georeferenced`` and ``single_georeferenced`` for two GeoTIFFs of it;
    ``register_options`` of each: the options the command gives :func:`sarfeat.register`."""
    import inspect

    from _stack_helpers import record_stack_calls

    from sarfeat.cli import main
    from sarfeat.cli import register as single_command
    from sarfeat.parallel import _worker, stack

    scene = load_sar_scene("labrador")[..., 0]
    scene = _eight_bit(scene) if dtype == np.uint8 else scene.astype(dtype)
    pairs = {}
    for name, suffix in (("", ".npy"), ("_georeferenced", ".tif")):
        for side in ("fixed", "moving"):
            path = tmp_path / f"{side}{suffix}"
            if suffix == ".npy":
                np.save(path, scene)
            else:
                _write(path, scene[None], ORIGIN, None)
        pairs[name] = [str(tmp_path / f"fixed{suffix}"), str(tmp_path / f"moving{suffix}")]
    given, built = record_stack_calls(monkeypatch), {}

    class Stop(Exception):
        """Stops a command once its matcher is built: nothing is matched."""

    def recorded(name, build):
        def record(*args, **keywords):
            built[name] = build(*args, **keywords)
            return built[name]
        return record

    def stop(name, *keywords):
        def refuse(*args, **given_options):
            given_options.update(zip(keywords, args[len(args) - len(keywords):]))
            built.setdefault("register_options", {})[name] = given_options
            raise Stop()
        return refuse

    assert main(["register-stack", *pairs[""], "-o", str(tmp_path / "out"), "-q",
                 "--overwrite", *options]) == 0  # called again on one tmp_path
    own = set(inspect.signature(stack.iter_register_pairs).parameters) - {"options"}
    options_, register_options = stack._check_options(
        given["weights"], {key: value for key, value in given.items() if key not in own})
    monkeypatch.setattr(stack, "register", stop("stacked"))
    worker_matcher, make_matcher = _worker.matcher, single_command.make_matcher
    for name, files in pairs.items():
        monkeypatch.setattr(_worker, "matcher", recorded(f"stacked{name}", worker_matcher))
        outcome = stack._register_task(0, "moving", *files, given["weights"], options_,
                                       given["georeferenced_options"], register_options,
                                       given["band"], False, None, 1)
        assert outcome.error_type == "Stop", outcome.error
    monkeypatch.setattr(single_command, "_register",
                        stop("single", "matcher", "console", "min_valid_fraction"))
    for name, files in pairs.items():
        monkeypatch.setattr(single_command, "make_matcher",
                            recorded(f"single{name}", make_matcher))
        assert main(["register", *files, "-o", str(tmp_path / "o.npy"), "-q", *options]) == 1
    for side in ("stacked", "single"):  # what is not a register() option
        for key in ("matcher", "console"):
            built["register_options"][side].pop(key, None)
    # a worker draws no bar (the client shows its own over the pairs)
    assert built["register_options"]["stacked"].pop("progress") is False
    return built


def _settings(item, *dropped) -> dict:
    return {key: repr(value) for key, value in vars(item).items()
            if not key.startswith("_") and key not in dropped}


@pytest.mark.parametrize("weights", [[], ["--weights", "sarfeat-sar-v1"],
                                     ["--weights", "sarfeat-sar-v2"]])
def test_register_stack_builds_register_s_matcher_for_the_same_weights(tmp_path, weights,
                                                                       monkeypatch):
    """What each worker of register-stack matches with (the matcher, its stage detectors and
    the turn estimate's detector) is what `sarfeat register` builds from the same --weights
    and options: both are given --weights as it was given, a release name kept (a loaded
    network would lose what the name brings: sarfeat-sar-v2's polar weighting, and the
    release of the turn estimate)."""
    built = _built_matchers(tmp_path, monkeypatch, [
        *weights, "--model", "similarity", "--seed", "3", "--nodata", "0", "--input-kind",
        "intensity", "--precision", "fp32", "--device", "cpu"])
    stacked, single = built["stacked"], built["single"]
    assert _settings(stacked, "progress") == _settings(single, "progress")
    assert _settings(built["stacked_georeferenced"], "progress") == _settings(stacked, "progress")
    given_weights = weights[1] if weights else None
    assert stacked.weights == single.weights == given_weights
    for stage in ({}, {"max_keypoints": 300, "min_size": 128}):
        detectors = [matcher._detector(**stage) for matcher in (stacked, single)]
        assert _settings(detectors[0]) == _settings(detectors[1])
        assert detectors[0].weights == given_weights
    turns = [matcher._turn_detector(matcher.coarse_settings) for matcher in (stacked, single)]
    assert _settings(turns[0]) == _settings(turns[1]) and turns[0].weights == given_weights


@pytest.mark.parametrize("options", [
    ["--modality", "optical-sar"],
    ["--modality", "sar-optical", "--turns", "any", "--scales", "wide", "--dense-model",
     "affine", "--model", "similarity", "--seed", "4"],
    ["--modality", "optical-sar", "--turns", "upright", "--nodata", "0", "--input-kind",
     "amplitude"],
])
def test_register_stack_builds_register_s_matcher_for_an_optical_pair(tmp_path, options,
                                                                      monkeypatch):
    """register-stack's workers build `sarfeat register`'s matcher for --modality, --turns,
    --scales and --dense-model, for a pair on its own grid and for two georeferenced files
    (only the upright turn by default, as register searches them)."""
    built = _built_matchers(tmp_path, monkeypatch, options)
    for name in ("", "_georeferenced"):
        stacked, single = built[f"stacked{name}"], built[f"single{name}"]
        assert _settings(stacked, "progress") == _settings(single, "progress")
        assert stacked.weights is single.weights is None
    upright = built["stacked_georeferenced"].rotations == (0.0,)
    assert upright is ("any" not in options)  # auto or upright: upright when georeferenced
    assert (built["stacked"].rotations == (0.0,)) is ("upright" in options)


@pytest.mark.parametrize("options", [[], ["--modality", "optical-sar"]])
def test_register_stack_reads_two_uint8_files_as_display_images_as_register_does(
        tmp_path, options, monkeypatch):
    """`sarfeat register` reads two uint8 files as display images under --input-kind auto
    (a moving image resampled onto the fixed grid loses its 8-bit levels); register-stack's
    workers matched them with 'auto', so the same pair could be matched differently. Each
    pair now gets register's input kind; another dtype, or a kind given, is left as it is."""
    built = _built_matchers(tmp_path, monkeypatch, options, dtype=np.uint8)
    for name in ("", "_georeferenced"):
        stacked, single = built[f"stacked{name}"], built[f"single{name}"]
        assert stacked.input_kind == single.input_kind == "display"
        assert _settings(stacked, "progress") == _settings(single, "progress")
    other = _built_matchers(tmp_path, monkeypatch, [*options, "--input-kind", "amplitude"],
                            dtype=np.uint8)
    assert other["stacked"].input_kind == other["single"].input_kind == "amplitude"
    floats = _built_matchers(tmp_path, monkeypatch, options, dtype=np.float32)
    assert floats["stacked_georeferenced"].input_kind == "auto"


@pytest.mark.parametrize("options", [
    ["--max-fine-patches", "4", "--min-valid-fraction", "0.2"],
    ["--max-fine-patches", "all"],
    ["--modality", "sar-optical", "--keep-border-fill", "--min-valid-fraction", "0.5"],
])
def test_register_stack_takes_register_s_border_fill_valid_fraction_and_fine_patches(
        tmp_path, options, monkeypatch):
    """--keep-border-fill, --min-valid-fraction and --max-fine-patches were register's alone
    (register-stack refused them): its workers now build register's matcher from them and
    give register() the same min_valid_fraction."""
    built = _built_matchers(tmp_path, monkeypatch, options)
    for name in ("", "_georeferenced"):
        stacked, single = built[f"stacked{name}"], built[f"single{name}"]
        assert _settings(stacked, "progress") == _settings(single, "progress")
    given = built["register_options"]
    assert given["stacked"] == given["single"] == {
        "min_valid_fraction": float(options[options.index("--min-valid-fraction") + 1])
        if "--min-valid-fraction" in options else 0.05}
    stacked = built["stacked"]
    assert stacked.border_fill is ("--keep-border-fill" not in options)
    assert stacked.max_fine_patches == (None if "all" in options else 4 if "4" in options
                                        else 16)


@pytest.fixture(scope="module")
def optical_stack(tmp_path_factory):
    """A 3-band optical GeoTIFF reference (the 3MOS tile of the optical-SAR tests; band 1
    its gray values stretched) and
    three SAR images with their truths (reference (x, y) -> image (x, y)): the SAR tile
    moved by two similarities (.npy, no georeferencing), and a georeferenced chip of it
    whose georeferencing is 30 m (3 pixels) off."""
    from skimage.transform import SimilarityTransform, warp

    from sarfeat.data import load_optical_sar_tile
    from _optical_sar_helpers import CENTRE, TRUTH

    folder = tmp_path_factory.mktemp("optical")
    optical, sar = load_optical_sar_tile()
    reference = folder / "s2.tif"
    bands = np.stack([optical, 0.8 * optical + 30, 255 - 0.5 * optical])
    _write(reference, np.clip(bands, 0, 255).astype(np.uint8), ORIGIN, None)
    other = (SimilarityTransform(translation=-CENTRE)
             + SimilarityTransform(rotation=np.deg2rad(-12), scale=1.1)
             + SimilarityTransform(translation=CENTRE + (-6, 4)))
    images, truths = [], []
    for name, truth in (("s1_a", TRUTH), ("s1_b", other)):
        np.save(folder / f"{name}.npy", warp(sar, truth.inverse, order=1, cval=np.nan,
                                             preserve_range=True).astype(np.float32))
        images.append(folder / f"{name}.npy")
        truths.append(truth.params)
    chip = folder / "s1_geo.tif"  # rows 10:240, columns 14:246 of the tile
    _write(chip, sar[None, 10:240, 14:246].astype(np.float32),
           (ORIGIN[0] + 14 * PIXEL + 30, ORIGIN[1] - 10 * PIXEL), float("nan"))
    images.append(chip)
    truths.append(SimilarityTransform(translation=(-14, -10)).params)
    return reference, images, truths


def test_register_stack_registers_sar_images_onto_an_optical_reference(optical_stack,
                                                                        tmp_path, capsys):
    """register-stack had no --modality: a SAR time series could not be registered onto an
    optical (Sentinel-2) reference. Each image now registers as `sarfeat register
    --modality optical-sar` registers it, the georeferenced one at the upright turn only,
    and the reports and summary record the modality and the search."""
    from sarfeat.cli import main
    from sarfeat.metrics import registration_rmse

    reference, images, truths = optical_stack
    out = tmp_path / "out"
    status = main(["register-stack", str(reference), *map(str, images), "-o", str(out),
                   "--modality", "optical-sar", "--reference-band", "1", "--format", "npy",
                   "--no-progress", "--workers", "1"])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert "searched at the upright turn only" in printed.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["registered"] == 3 and summary["weights"] is None
    assert summary["network"] is None  # an optical pair runs no network
    assert {key: summary[key] for key in ("modality", "turns", "scales", "dense_model",
                                          "band", "reference_band", "image_band")} == {
        "modality": "optical-sar", "turns": "auto", "scales": "default",
        "dense_model": "similarity", "band": None, "reference_band": 1, "image_band": None}
    for image, truth in zip(images, truths):
        report = json.loads((out / f"{image.stem}.json").read_text())
        estimate = np.array(report["transform_fixed_to_moving"])
        moving_shape = report["moving_shape"][-2:]
        assert registration_rmse(estimate, truth, (256, 256), moving_shape) < 3.0
        assert report["options"]["modality"] == "optical-sar" and report["weights"] is None
        assert (report["fixed_band"], report["moving_band"]) == (1, None)
        upright = image.suffix == ".tif"  # two georeferenced files: upright, as register
        assert report["upright_search"] is upright and report["whole_circle_search"] is False
        angles = {h["angle"] for h in report["diagnostics"]["coarse_hypotheses"]}
        assert (angles == {0.0}) is upright
        single = tmp_path / f"{image.stem}.single.json"
        assert main(["register", str(reference), str(image), "--modality", "optical-sar",
                     "--fixed-band", "1", "--json", str(single), "-q"]) == 0
        saved = json.loads(single.read_text())
        np.testing.assert_allclose(estimate, saved["transform_fixed_to_moving"], atol=1e-9)
        assert saved["upright_search"] is upright
    # --band 1 alone would ask the one-band SAR images for a second band: refused before
    # any work (each image failed in its task)
    status = main(["register-stack", str(reference), str(images[0]), "-o", str(tmp_path / "b"),
                   "--modality", "optical-sar", "--band", "1", "--no-progress", "-q",
                   "--workers", "1"])
    assert status == 2
    assert "band 1 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_register_stack_says_how_to_widen_a_refused_optical_search(optical_stack, tmp_path,
                                                                    capsys):
    """`sarfeat register` says how to widen the search of a refused optical pair
    (refusal_hint); register-stack's failed images had no hint. NAME.json and the image's
    failure line now give register's hint, and so does its entry of summary.json's failures
    (added later: it had none); an image that fails before any search (its footprint
    beside the reference's) gets none."""
    from sarfeat.cli import main

    reference = optical_stack[0]
    noise = tmp_path / "noise.npy"
    np.save(noise, np.random.default_rng(1).gamma(1.0, 1.0, (256, 256)).astype(np.float32))
    away = tmp_path / "away.tif"  # 10 km east: no overlap with the reference
    _write(away, np.ones((1, 64, 64), np.float32), (ORIGIN[0] + 10000, ORIGIN[1]), None)
    out = tmp_path / "out"
    status = main(["register-stack", str(reference), str(noise), str(away), "-o", str(out),
                   "--modality", "optical-sar", "--reference-band", "0", "--format", "npy",
                   "--no-progress", "--workers", "1"])
    printed = capsys.readouterr().out
    assert status == 1
    report = json.loads((out / "noise.json").read_text())
    assert report["error_type"] == "RegistrationError"
    assert "--turns any" in report["hint"] and "--scales wide" in report["hint"]
    assert f"noise: FAILED (RegistrationError): {report['error']}; {report['hint']}" in printed
    assert json.loads((out / "away.json").read_text())["hint"] is None
    # and so does the image's entry of summary.json (it had none)
    failures = json.loads((out / "summary.json").read_text())["failures"]
    assert {entry["name"]: entry["hint"] for entry in failures} == {
        "noise": report["hint"], "away": None}
    assert main(["register", str(reference), str(noise), "--modality", "optical-sar",
                 "--fixed-band", "0", "--json", str(tmp_path / "single.json")]) == 1
    assert report["hint"] in capsys.readouterr().out.splitlines()
    # register's own JSON failure report carries the same hint, and none before any search
    assert json.loads((tmp_path / "single.json").read_text())["hint"] == report["hint"]
    assert main(["register", str(reference), str(away), "--modality", "optical-sar",
                 "--fixed-band", "0", "--json", str(tmp_path / "single_away.json")]) == 1
    assert json.loads((tmp_path / "single_away.json").read_text())["hint"] is None


def test_no_refusal_hint_for_an_image_under_min_valid_fraction(optical_stack, tmp_path,
                                                                capsys):
    """A refusal of register's input checks (here --min-valid-fraction) came with the hint
    to widen the turns and scales searched, which cannot help: register printed it and
    wrote it in its --json report. Only a refusal of the search itself has it now, in
    register and in register-stack (NAME.json, summary.json, the failure line)."""
    from sarfeat.cli import main

    reference = optical_stack[0]
    sparse = tmp_path / "sparse.npy"  # a fifth of its pixels valid
    image = np.full((256, 256), np.nan, np.float32)
    image[:, :52] = np.random.default_rng(2).gamma(1.0, 1.0, (256, 52))
    np.save(sparse, image)
    common = ["--modality", "optical-sar", "--min-valid-fraction", "0.5"]
    assert main(["register", str(reference), str(sparse), *common, "--fixed-band", "0",
                 "--json", str(tmp_path / "single.json")]) == 1
    printed = capsys.readouterr()
    report = json.loads((tmp_path / "single.json").read_text())
    assert "mostly no-data" in report["error"] and report["hint"] is None
    assert "searches the whole circle" not in printed.out + printed.err
    out = tmp_path / "out"
    assert main(["register-stack", str(reference), str(sparse), "-o", str(out), *common,
                 "--reference-band", "0", "--format", "npy", "--no-progress",
                 "--workers", "1"]) == 1
    printed = capsys.readouterr().out
    report = json.loads((out / "sparse.json").read_text())
    assert "mostly no-data" in report["error"] and report["hint"] is None
    assert json.loads((out / "summary.json").read_text())["failures"][0]["hint"] is None
    assert f"sparse: FAILED (RegistrationError): {report['error']}" in printed
    assert "searches the whole circle" not in printed  # the hint


@pytest.mark.parametrize("options, message", [
    (["--scales", "wide"], "--scales wide is for a pair with an optical image"),
    (["--dense-model", "affine"], "--dense-model is for a pair with an optical image"),
    (["--keep-border-fill"], "--keep-border-fill is for a pair with an optical image"),
    (["--modality", "optical-sar", "--weights", "sarfeat-sar-v1"],
     "--weights: for two SAR images"),
    (["--modality", "sar-optical", "--precision", "fp32", "--model", "projective"],
     "--precision, --model projective: for two SAR images"),
    (["--modality", "optical-lidar"], "argument --modality: invalid choice"),
    (["--turns", "some"], "argument --turns: invalid choice"),
])
def test_register_stack_refuses_search_options_as_register_does(options, message, tmp_path,
                                                                 capsys):
    """The search options of register-stack are register's: the same refusals, exit 2,
    before any work (no output folder made)."""
    from sarfeat.cli import main

    np.save(tmp_path / "a.npy", np.ones((32, 32), np.float32))
    files = [str(tmp_path / "a.npy")] * 2
    errors = []
    for command in (["register-stack", *files, "-o", str(tmp_path / "out")],
                    ["register", *files, "--json", str(tmp_path / "r.json")]):
        try:
            status = main([*command, *options])
        except SystemExit as exit_:  # argparse's refusal
            status = exit_.code
        assert status == 2
        errors.append(capsys.readouterr().err.strip().splitlines()[-1].split("error: ")[-1])
    assert errors[0] == errors[1] and message in errors[0]
    assert not (tmp_path / "out").exists()


def test_the_options_register_stack_shares_with_register_read_the_same_in_help():
    """register-stack's --weights, --trust, --input-kind and --nodata were its own, shorter
    words (its --nodata did not say that the file's own nodata counts too): the options
    the two commands share are now defined once and described in the same words, but for
    the names of each command's inputs."""
    import argparse

    from sarfeat.cli import build_parser

    commands = next(action for action in build_parser()._actions
                    if isinstance(action, argparse._SubParsersAction)).choices
    helps = [{action.dest: action.help for action in commands[name]._actions}
             for name in ("register", "register-stack")]
    shared = set(helps[0]) & set(helps[1]) - {"help"}
    sides = {"band", "max_fine_patches", "modality", "order", "turns"}  # inputs named
    assert {"weights", "trust", "input_kind", "nodata", "keep_border_fill",
            "min_valid_fraction"} <= shared
    assert {dest for dest in shared if helps[0][dest] != helps[1][dest]} == sides
    assert "two uint8 files of a pair are display images" in helps[1]["input_kind"]
