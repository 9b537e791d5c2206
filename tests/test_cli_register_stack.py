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
    # each image's report records them too, as given (it had only what ran, ``network``)
    options = json.loads((out / "member.json").read_text())["options"]
    assert options == {key: summary[key] for key in ("format", "order", "band", "input_kind",
                                                     "nodata", "seed", "precision", "device")}


@pytest.mark.parametrize("weights", [[], ["--weights", "sarfeat-sar-v1"],
                                     ["--weights", "sarfeat-sar-v2"]])
def test_register_stack_builds_register_s_matcher_for_the_same_weights(tmp_path, weights,
                                                                       monkeypatch):
    """What each worker of register-stack matches with (the matcher, its stage detectors and
    the turn estimate's detector) is what `sarfeat register` builds from the same --weights
    and options: both are given --weights as it was given, a release name kept (a loaded
    network would lose what the name brings: sarfeat-sar-v2's polar weighting, and the
    release of the turn estimate)."""
    import contextlib
    import inspect

    import sarfeat.parallel
    from sarfeat.cli import build_parser, main
    from sarfeat.cli.common import checked_weights
    from sarfeat.cli.register import make_matcher
    from sarfeat.parallel import _client, _worker, stack

    scene = load_sar_scene("labrador")[..., 0]
    for name in ("fixed", "moving"):
        np.save(tmp_path / f"{name}.npy", scene)
    files = [str(tmp_path / "fixed.npy"), str(tmp_path / "moving.npy")]
    common = [*weights, "--model", "similarity", "--seed", "3", "--nodata", "0",
              "--input-kind", "intensity", "--precision", "fp32", "--device", "cpu"]
    given = {}

    class Cluster:
        def scheduler_info(self):
            return {"workers": {}}

    def capture(pairs, **keywords):
        given.update(keywords)
        return iter(())

    monkeypatch.setattr(_client, "client_for", lambda *args: contextlib.nullcontext(Cluster()))
    monkeypatch.setattr(sarfeat.parallel, "iter_register_pairs", capture)
    assert main(["register-stack", *files, "-o", str(tmp_path / "out"), "-q", *common]) == 0
    own = set(inspect.signature(stack.iter_register_pairs).parameters) - {"options"}
    options, _ = stack._check_options(given["weights"], {key: value for key, value in
                                                         given.items() if key not in own})
    stacked = _worker.matcher(given["weights"], options)

    args = build_parser().parse_args(["register", *files, "-o", str(tmp_path / "o.npy"),
                                      *common])
    single = make_matcher(args, checked_weights(args.weights, args.trust), args.input_kind,
                          False)

    def settings(item, *dropped):
        return {key: repr(value) for key, value in vars(item).items()
                if not key.startswith("_") and key not in dropped}

    assert settings(stacked, "progress") == settings(single, "progress")
    given_weights = weights[1] if weights else None
    assert stacked.weights == single.weights == given_weights
    for stage in ({}, {"max_keypoints": 300, "min_size": 128}):
        detectors = [matcher._detector(**stage) for matcher in (stacked, single)]
        assert settings(detectors[0]) == settings(detectors[1])
        assert detectors[0].weights == given_weights
    turns = [matcher._turn_detector(matcher.coarse_settings) for matcher in (stacked, single)]
    assert settings(turns[0]) == settings(turns[1]) and turns[0].weights == given_weights
