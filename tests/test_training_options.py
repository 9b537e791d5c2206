"""The training commands' options and configs: values out of range and unknown names are
refused before any work, and every option parsed is read."""

from __future__ import annotations

import json
import re

import pytest
import torch

from sarfeat.training.cli import main as train_main
from sarfeat.training.trainer import TrainConfig


def test_config_round_trip_and_unknown_options():
    config = TrainConfig(iterations=7)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown training options"):
        TrainConfig.from_dict({"iterationz": 3})


@pytest.mark.parametrize("values", [{"batch_size": 0}, {"iterations": 0}, {"lr": 0.0},
                                    {"weight_decay": -1e-4}, {"device": "gpu"},
                                    {"architecture": "fast-r2d2"}])
def test_config_refuses_values_out_of_range(values):
    name = next(iter(values))
    with pytest.raises(ValueError, match=name):
        TrainConfig.from_dict(values)


def test_distill_config_names_unknown_options():
    from sarfeat.training.distill import DistillConfig

    for values, message in (({"minute": 3}, "unknown distillation options ['minute']"),
                            ({"loss": {"peaks": 1}}, "unknown loss options ['peaks']")):
        with pytest.raises(ValueError, match=re.escape(message)):
            DistillConfig.from_dict(values)


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


@pytest.mark.parametrize("command", [[], ["distill", "--minutes", "1"]])
@pytest.mark.parametrize("threads", ["0", "-2"])
def test_threads_below_one_are_refused(tmp_path, command, threads, capsys):
    args = [*command, "--out" if command else "--output", str(tmp_path / "run"),
            "--threads", threads, "--data-dir", str(tmp_path / "missing")]
    with pytest.raises(SystemExit) as stop:
        train_main(args)
    assert stop.value.code == 2 and "--threads" in capsys.readouterr().err


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

    commands = {"train": (cli.main, [], (cli._train, cli._config, cli._check_paths,
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
