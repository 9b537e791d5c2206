"""The training command line's run folder and option types (``python -m sarfeat.training``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sarfeat.training.cli import main as train_main


def _run(tmp_path, *options: str) -> int:
    scene = tmp_path / "scene.npy"
    if not scene.exists():
        np.save(scene, np.random.default_rng(0).gamma(1.0, 1.0, (96, 96)).astype(np.float32))
    return train_main(["--output", str(tmp_path / "run"), "--sar-images", str(scene),
                       "--no-validate", "--no-calibrate", "--quiet", "--batch-size", "1",
                       "--crop-size", "48", "--checkpoint-every", "1", "--no-bf16",
                       "--iterations", "5", *options])


def _stop_at(monkeypatch, iteration: int) -> None:
    """Ctrl-C when the trainer is about to take step ``iteration`` + 1."""
    from sarfeat.training import trainer as module

    step = module.Trainer.step

    def interrupted(self):
        if self.iteration == iteration:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(module.Trainer, "step", interrupted)


def test_restart_leaves_no_stale_checkpoint_for_a_later_resume(tmp_path, monkeypatch, capsys):
    """--restart kept the earlier run's last.pt until the new run wrote its own: a restart
    stopped before its first checkpoint left it there, and the next run without --restart
    resumed the earlier run (iteration 2) under the new run's config.json."""
    run = tmp_path / "run"
    _stop_at(monkeypatch, 2)
    assert _run(tmp_path) == 130
    assert torch.load(run / "last.pt", weights_only=True)["iteration"] == 2
    earlier = (run / "last.pt").read_bytes()
    capsys.readouterr()
    # a restart refused before any work (exit 2) or failing before it starts (exit 1) keeps it
    assert _run(tmp_path, "--restart", "--lr", "-1") == 2
    monkeypatch.setattr("sarfeat.training.cli.build_dataset",
                        lambda *args: (_ for _ in ()).throw(OSError("unreadable data")))
    assert _run(tmp_path, "--restart") == 1
    assert (run / "last.pt").read_bytes() == earlier
    monkeypatch.undo()
    # a restart stopped before its first checkpoint: nothing of the earlier run to resume
    _stop_at(monkeypatch, 0)
    assert _run(tmp_path, "--restart") == 130
    err = capsys.readouterr().err
    assert not (run / "last.pt").exists() and "no checkpoint of the run was written" in err
    assert (run / "last.pt.replaced").read_bytes() == earlier  # set aside, not lost
    monkeypatch.undo()
    _stop_at(monkeypatch, 1)
    assert _run(tmp_path) == 130  # a new run from iteration 0, not a resume at 2
    err = capsys.readouterr().err
    assert "resumed" not in err and "last.pt holds iteration 1" in err
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt",
                                                     "last.pt.replaced"]


def test_restart_is_explained_in_the_help(capsys):
    with pytest.raises(SystemExit):
        train_main(["--help"])
    assert "last.pt.replaced" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("text", ["3", " 7 ", "0", "-2", "1.5", "x", ""])
def test_whole_numbers_of_at_least_one_are_the_command_lines_positive_integers(text):
    """config_checks.whole_number(1) and trainer.thread_count (--threads) each parsed an
    integer >= 1 again, with their own message: they are argument_checks.positive_int."""
    import argparse

    from sarfeat.argument_checks import positive_int
    from sarfeat.training.config_checks import whole_number
    from sarfeat.training.trainer import thread_count

    outcomes = []
    for parse in (positive_int, whole_number(1), thread_count):
        try:
            outcomes.append(parse(text))
        except argparse.ArgumentTypeError as error:
            outcomes.append(str(error))
    assert outcomes[1:] == outcomes[:1] * 2
    assert whole_number(0)("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a whole number >= 0, got '-1'"):
        whole_number(0)("-1")
