"""The ``sarfeat`` command line as a GDAL or rasterio user types it: which subcommand runs
(and is named in its messages), unknown arguments, ``-`` as an output, progress bars."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path
import sys

import numpy as np
import pytest
from _stack_helpers import record_stack_calls

import sarfeat.__main__ as entry
from sarfeat.cli import detect, main, parse_command_line


def test_the_name_in_the_exit_messages_is_the_parsed_subcommand(monkeypatch):
    """``sarfeat OPTION VALUE detect ...``: the lines said on a signal once the command runs
    (``sarfeat detect: stopped by SIGTERM``) name the subcommand that argparse parsed, not
    the first word of the command line that is no option (here an option's value)."""
    add_subparsers = argparse.ArgumentParser.add_subparsers

    def with_global_option(parser, **keywords):  # a global option that takes a value
        if parser.prog == "sarfeat":
            parser.add_argument("--log-level", metavar="LEVEL")
        return add_subparsers(parser, **keywords)

    named, ran = [], []
    monkeypatch.setattr(argparse.ArgumentParser, "add_subparsers", with_global_option)
    monkeypatch.setattr(entry, "exit_on_signals", lambda name, signals: named.append(name))
    monkeypatch.setattr(entry, "finish_at_exit", lambda: None)
    monkeypatch.setattr(detect, "run", lambda args: ran.append(args.command))
    monkeypatch.setattr(sys, "argv", ["sarfeat", "--log-level", "info", "detect", "--example"])
    assert entry.run() == 0
    assert ran == ["detect"]
    assert named[-2:] == ["sarfeat detect", "sarfeat detect"]
    assert not any("info" in name for name in named)


@pytest.mark.parametrize("argv, unknown", [
    (["detect", "a.npy", "b.npy"], "b.npy"),
    (["register", "a.npy", "b.npy", "--json", "r.json", "--bogus"], "--bogus"),
    (["register-stack", "a.npy", "b.npy", "-o", "out", "--co-bogus", "x"], "--co-bogus x"),
])
def test_an_unknown_argument_is_refused_by_its_subcommand(argv, unknown, capsys):
    """A misspelt option or one file too many is refused with the subcommand's usage and
    name (as its other usage errors are), not with ``sarfeat [-h] [--version] COMMAND``."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: sarfeat {argv[0]} ")
    assert err.rstrip().endswith(f"sarfeat {argv[0]}: error: unrecognized arguments: {unknown}")


def test_an_unknown_option_before_the_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--bogus", "detect", "a.npy"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2
    assert "choose a command" in capsys.readouterr().err


@pytest.fixture
def stack_pair(tmp_path):
    """``sarfeat register-stack REFERENCE IMAGE`` of two small .npy files in tmp_path."""
    pytest.importorskip("distributed")
    image = np.random.default_rng(0).random((32, 32), np.float32)
    for name in ("reference", "image"):
        np.save(tmp_path / f"{name}.npy", image)
    return ["register-stack", str(tmp_path / "reference.npy"), str(tmp_path / "image.npy")]


@pytest.mark.parametrize("terminal, options, shown", [
    (False, [], False), (False, ["-v"], True), (True, [], True), (True, ["-q"], False),
    (True, ["--no-progress"], False), (False, ["-v", "--no-progress"], False)])
def test_register_stack_draws_its_progress_bar_as_the_other_commands_do(
        terminal, options, shown, stack_pair, tmp_path, monkeypatch):
    """A bar over the pairs on a terminal or with -v (as detect and register draw theirs),
    never into a log file or pipe that stderr is redirected to, nor with -q or --no-progress."""
    given = record_stack_calls(monkeypatch)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    assert main([*stack_pair, "-o", str(tmp_path / "out"), *options]) == 0
    assert given["progress"] is shown


@pytest.fixture
def small_pair(tmp_path, monkeypatch):
    """Two small .npy images in the working folder (tmp_path)."""
    monkeypatch.chdir(tmp_path)
    image = np.random.default_rng(1).random((32, 32), np.float32)
    for name in ("fixed.npy", "moving.npy"):
        np.save(name, image)
    return tmp_path


@pytest.mark.parametrize("argv", [
    ["detect", "fixed.npy", "-o", "-"],
    ["register", "fixed.npy", "moving.npy", "--json", "-"],
    ["register", "--example", "--json", "-"],
    ["register-stack", "fixed.npy", "moving.npy", "-o", "-"],
])
def test_a_dash_output_is_refused_not_written_as_a_file_named_dash(argv, small_pair, capsys):
    """``-`` means standard output to a GDAL or rasterio user: sarfeat, which writes files,
    refuses it before any work instead of writing (or making a folder) ``./-``."""
    assert main([*argv, "-q"]) == 2
    assert "does not write to standard output" in capsys.readouterr().err
    assert sorted(path.name for path in small_pair.iterdir()) == ["fixed.npy", "moving.npy"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX pipes and devices")
@pytest.mark.parametrize("special", ["pipe", "device"])
@pytest.mark.parametrize("argv", [["detect", "fixed.npy", "-o"],
                                  ["register", "fixed.npy", "moving.npy", "--json"]])
def test_an_output_that_is_a_device_or_a_pipe_is_never_replaced(argv, special, small_pair,
                                                                 capsys):
    """``-o /dev/null`` or ``--json /dev/stdout``: the output is written to a file renamed
    onto its path, which would replace the device (run as root) or pipe with a regular file;
    it is refused before any work, with --overwrite too."""
    path = small_pair / "special.json"
    if special == "pipe":
        os.mkfifo(path)
    else:
        path.symlink_to(os.devnull)
    assert main([*argv, str(path), "--overwrite", "-q"]) == 2
    assert "is not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(path.stat().st_mode) if special == "pipe" else path.is_symlink()


def test_an_output_under_a_quoted_tilde_is_checked_where_it_is_written(small_pair, monkeypatch,
                                                                       capsys):
    """``-o '~/k.npz'`` (quoted, so that no shell expands it) is written, as GDAL's tools
    write it, under a folder ``~`` of the working folder: its checks look there too, so
    that a file there is not replaced without --overwrite, and a missing folder is refused
    before any work (not checked in $HOME and then failed after the work)."""
    home = small_pair / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert main(["detect", "fixed.npy", "-o", "~/k.npz", "-q"]) == 2
    assert "'~/k.npz': its folder does not exist" in capsys.readouterr().err
    (small_pair / "~").mkdir()
    (small_pair / "~" / "k.npz").write_bytes(b"an earlier result")
    assert main(["detect", "fixed.npy", "-o", "~/k.npz", "-q"]) == 2
    assert "'~/k.npz' already exists" in capsys.readouterr().err
    assert (small_pair / "~" / "k.npz").read_bytes() == b"an earlier result"
    assert list(home.iterdir()) == []


def test_register_stack_verbose_says_what_is_being_done_with_times(stack_pair, tmp_path,
                                                                   monkeypatch, capsys):
    """-v "says what is being done, with times" for register-stack as its help says, as for
    detect and register: timed steps on stderr, none without -v."""
    record_stack_calls(monkeypatch)
    argv = [*stack_pair, "--no-progress", "--overwrite", "-o", str(tmp_path / "out")]
    assert main([*argv, "-v"]) == 0
    steps = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert any(step.endswith("read REFERENCE " + str(tmp_path / "reference.npy")
                             + ": 1 band (32, 32) float32; 1 image to register")
               for step in steps), steps
    assert any("writing" in step and "summary.json" in step for step in steps), steps
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv, files", [
    (["register", "a.tif", "--json", "r.json", "b.tif"], ("a.tif", "b.tif")),
    (["register", "a.tif", "-q", "b.tif", "-o", "o.tif"], ("a.tif", "b.tif")),
    (["register-stack", "ref.tif", "a.tif", "-o", "out", "b.tif", "c.tif"],
     ("ref.tif", ["a.tif", "b.tif", "c.tif"])),
    (["detect", "--band", "0", "image.tif", "-o", "k.npz"], ("image.tif",)),
])
def test_files_and_options_may_come_in_any_order(argv, files):
    """Files after an option, as GDAL's tools and rio take them, are the command's files
    (argparse alone refused the second file as an unrecognized argument)."""
    args = parse_command_line(argv)
    assert args.command == argv[0]
    names = {"register": ("fixed", "moving"), "register-stack": ("reference", "images"),
             "detect": ("image",)}[argv[0]]
    assert tuple(getattr(args, name) for name in names) == files
    assert getattr(args, "json", None) == (Path("r.json") if "--json" in argv else None)


def test_the_weights_errors_speak_the_command_s_words(small_pair, capsys):
    """A --weights file that needs full unpickling is told to pass --trust (not the library's
    trust=True), and an unknown name lists the registry's names once."""
    pytest.importorskip("torch")
    np.save("pickled.npy", np.zeros(3))  # a pickle of no registered checkpoint
    assert main(["detect", "fixed.npy", "--weights", "pickled.npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert "pass --trust" in err and "trust=True" not in err
    assert err.startswith("sarfeat detect: error: --weights 'pickled.npy': ")
    assert main(["detect", "fixed.npy", "--weights", "sarfeat-sar-v9", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("sarfeat-sar-v2-polar.npz") == 1 and "sarfeat-sar-v2" in err


def test_register_stack_refuses_workers_with_a_scheduler(stack_pair, tmp_path, capsys):
    """--workers sizes the local cluster, which --scheduler replaces: given both, it would be
    ignored without a word; refused before any work (no connection tried)."""
    assert main([*stack_pair, "-o", str(tmp_path / "out"), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--workers sizes the local cluster" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, option, side", [
    (["register", "fixed.npy", "moving.npy", "--json", "r.json"], "--fixed-band", "FIXED"),
    (["register", "fixed.npy", "moving.npy", "--json", "r.json"], "--moving-band", "MOVING"),
    (["register-stack", "fixed.npy", "moving.npy", "-o", "out"], "--reference-band",
     "REFERENCE"),
    (["register-stack", "fixed.npy", "moving.npy", "-o", "out"], "--image-band",
     "each of IMAGES")])
def test_band_with_a_side_s_band_option_is_refused(argv, option, side, small_pair, capsys):
    """``--band 0 --fixed-band 1``: the side's option silently won over --band; both choose
    that side's band, so the combination is refused (as a GDAL user expects of two options
    that say one thing), naming both, before any work or file."""
    assert main([*argv, "--band", "0", option, "1", "-q"]) == 2
    assert (f"--band 0 and {option} 1 both choose the band matched of {side}: give one of "
            "them") in capsys.readouterr().err
    assert sorted(path.name for path in small_pair.iterdir()) == ["fixed.npy", "moving.npy"]


def test_register_stack_writes_a_quoted_tilde_folder_where_given(small_pair, monkeypatch,
                                                                 capsys):
    """``register-stack -o '~/out'`` wrote into $HOME/out, where ``detect`` and ``register``
    write a quoted '~' as given (./~/out, as GDAL's tools do); it now writes ./~/out too, and
    an input given under the same quoted '~' is compared where it is read: never written
    over (refused when it is an output of the run), never removed as an earlier run's."""
    pytest.importorskip("distributed")
    home = small_pair / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    record_stack_calls(monkeypatch)
    assert main(["register-stack", "fixed.npy", "moving.npy", "-o", "~/out", "-q"]) == 0
    assert (small_pair / "~" / "out" / "summary.json").is_file()
    assert list(home.iterdir()) == []
    # an input that is this run's output: refused, named in the folder as given
    own = small_pair / "~" / "out" / "moving.registered.tif"
    own.write_bytes(b"an input")
    assert main(["register-stack", "fixed.npy", "moving.npy", "~/out/moving.registered.tif",
                 "-o", "~/out", "-q", "--overwrite"]) == 2
    assert "is the output moving.registered.tif of this run in '~/out'" in \
        capsys.readouterr().err
    # an earlier run's output in another --format, given as an input: kept
    earlier = own.with_suffix(".npy")
    np.save(earlier, np.load("moving.npy"))
    before = earlier.read_bytes()
    assert main(["register-stack", "fixed.npy", "moving.npy", "~/out/moving.registered.npy",
                 "-o", "~/out", "-q", "--overwrite"]) == 0
    assert earlier.read_bytes() == before
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["detect", "d", "-o", "k.npz"],
    ["register", "d", "moving.npy", "--json", "r.json"],
    ["register", "fixed.npy", "d", "--json", "r.json"],
    ["register-stack", "d", "moving.npy", "-o", "out"],
    ["register-stack", "fixed.npy", "d", "-o", "out"]])
def test_a_folder_given_as_an_input_is_said_so_by_every_command(argv, small_pair, capsys):
    """A folder as IMAGE, FIXED, MOVING or REFERENCE was 'a folder' while as one of IMAGES it
    was 'not a regular file': every command now says what it is, in one wording."""
    (small_pair / "d").mkdir()
    assert main([*argv, "-q"]) == 2
    assert "input 'd' is a folder, not an image file: name the image file itself" in \
        capsys.readouterr().err
