"""The training loop: config, checkpoints that resume exactly, validation and export.

A run lives in one output folder::

    <output>/config.json      the resolved configuration
    <output>/last.pt          the latest training state (model, optimiser, RNG, history)
    <output>/final.pt         the trained network in sarfeat's safe format

Batches are a pure function of (seed, iteration), so a run stopped at any
checkpoint and resumed computes the same iterates as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import __version__
from ..argument_checks import positive_int
from ..runtime.torch import resolve_device
from ..checkpoint import CheckpointError, save_checkpoint, write_atomically
from ..network import R2D2Net, imagenet_normalize
from .config_checks import check_values, from_plain
from .losses import LossWeights, SamplerConfig, r2d2_loss

__all__ = ["BENCHMARKS", "RUN_STATE", "TrainConfig", "Trainer", "atomic_save", "atomic_save_json",
           "benchmark_module", "code_version", "config_changes", "load_run_state",
           "positive_minutes", "read_state", "resume_state", "refuse_existing", "save_run_state",
           "set_threads", "thread_count"]

#: Options that a resumed run may change: none of them changes what is computed.
RESUMABLE_CHANGES = ("output", "iterations", "device", "checkpoint_every", "validate_every")
#: The source checkout's benchmark scripts: not part of an installed sarfeat.
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Each field is documented at its declaration.

    Raises
    ------
    ValueError
        For a value out of range (``iterations`` or ``batch_size`` below 1, ``lr``
        not above 0, an unknown ``device`` or ``architecture``...), naming the option.
    """

    output: str = "runs/sarfeat"
    """str: folder of the run (checkpoints, config, final weights)."""
    iterations: int = 3000
    """int: optimiser steps in total."""
    batch_size: int = 4
    """int: pairs per batch."""
    crop_size: int = 128
    """int: the side of each image of a pair, in pixels."""
    lr: float = 1e-4
    """float: Adam's learning rate (DESIGN: 1e-4)."""
    weight_decay: float = 5e-4
    """float: Adam's weight decay (DESIGN: 5e-4)."""
    seed: int = 0
    """int: seed of the initial weights and of every batch."""
    device: str = "auto"
    """str: ``'auto'``, ``'cpu'`` or ``'cuda'``."""
    bf16: bool = True
    """bool: run forward and backward under bf16 autocast (fp32 master weights)."""
    checkpoint_every: int = 100
    """int: iterations between checkpoints (0: never)."""
    validate_every: int = 250
    """int: iterations between validations (0: never)."""
    architecture: str = "fast_r2d2"
    """str: ``'fast_r2d2'`` or ``'r2d2'``."""
    init: str | None = None
    """str or None: a checkpoint to start from instead of random weights, of the network
    ``architecture`` names (the command line takes it from the checkpoint unless
    ``--config`` gives it)."""
    loss: LossWeights = field(default_factory=LossWeights)
    """LossWeights: weights of the four loss terms."""
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    """SamplerConfig: descriptor sampler and AP-loss settings."""
    data: dict = field(default_factory=dict)
    """dict: description of the training data, recorded in the final checkpoint."""

    def __post_init__(self) -> None:
        """Refuse out-of-range values at once (ValueError naming the option)."""
        check_values(self, integers=(("iterations", 1), ("batch_size", 1), ("crop_size", 8),
                                     ("seed", 0), ("checkpoint_every", 0), ("validate_every", 0)),
                     positive=("lr",), non_negative=("weight_decay",))

    def to_dict(self) -> dict:
        """Plain-data form (JSON and checkpoint metadata)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys (of ``loss`` and ``sampler`` too) are
        a ValueError."""
        return from_plain(cls, values)


def code_version(source: Path | None = None) -> str:
    """``'sarfeat <version> (git <commit>)'`` of the running code, for provenance.

    The commit is ``git describe --always --dirty`` of the source checkout that
    holds this module (``-dirty`` when its files differ from the commit), and
    ``not a git checkout`` for an installed package, even one installed inside
    another repository (a virtual environment in a project's folder), whose commit
    says nothing of this code. ``source`` stands for this module's path (tests).
    """
    source = Path(__file__ if source is None else source).resolve()
    root = source.parents[2]  # <root>/sarfeat/training/trainer.py

    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=source.parent, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            commit = "not a git checkout"
        else:
            commit = git("describe", "--always", "--dirty", "--abbrev=7")
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    return f"sarfeat {__version__} (git {commit})"


def benchmark_module(name: str):
    """The module ``name`` of the source checkout's ``benchmarks/`` folder.

    Parameters
    ----------
    name : str
        Module name, e.g. ``"eval_invariant_descriptor"``.

    Returns
    -------
    module

    Raises
    ------
    ModuleNotFoundError
        When ``benchmarks/<name>.py`` is not there, as in an installed sarfeat,
        which does not ship ``benchmarks/``; the message says so.
    """
    if not (BENCHMARKS / f"{name}.py").is_file():
        raise ModuleNotFoundError(
            f"this needs benchmarks/{name}.py of sarfeat's source checkout, which an installed "
            f"sarfeat does not ship (looked in {BENCHMARKS}): run it from a clone of the "
            "repository, with PYTHONPATH=.", name=name)
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


def atomic_save(payload: dict, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename it: a reader never sees half a file."""
    write_atomically(Path(path), lambda partial: torch.save(payload, partial))


def atomic_save_json(payload, path: Path, indent: int = 1) -> None:
    """``json.dumps`` to a temporary file, then rename it: a reader never sees half a file,
    and a failed write (a full disk, a killed job) leaves the previous file as it was."""
    write_atomically(Path(path), lambda partial: partial.write_text(
        json.dumps(payload, indent=indent), encoding="utf-8"))


def thread_count(text: str) -> int:
    """The value of a ``--threads`` option: a whole number of at least 1
    (:func:`sarfeat.argument_checks.positive_int`, whose message it gives).

    Raises :class:`argparse.ArgumentTypeError` otherwise (argparse reports it).
    """
    return positive_int(text)


def positive_minutes(text: str) -> float:
    """The value of a ``--minutes`` option: a number above 0 (0 would export untrained weights).

    Raises :class:`argparse.ArgumentTypeError` otherwise (argparse reports it).
    """
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of minutes above 0, not {text!r}")
    return value


def set_threads(count: int) -> None:
    """Use at most ``count`` CPU threads in torch, numba's parallel kernels and OpenCV."""
    torch.set_num_threads(count)
    try:
        import numba
    except ImportError:
        pass
    else:
        numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
    try:
        import cv2
    except ImportError:
        pass
    else:
        cv2.setNumThreads(count)


def refuse_existing(*paths: Path) -> None:
    """Raise FileExistsError naming those of ``paths`` that exist (outputs never overwritten)."""
    if any(Path(path).exists() for path in paths):
        raise FileExistsError(f"{', '.join(str(p) for p in paths if Path(p).exists())} exists: "
                              "not overwritten (choose another output, or remove it)")


#: The file of a run folder that holds the state to resume from.
RUN_STATE = "last.pt"


def resume_state(path: Path, net, optimiser, generator=None, config: dict | None = None,
                 free: tuple[str, ...] = ("minutes",)) -> tuple[float, int, list]:
    """Load a time-bounded run's ``last.pt`` (if it exists) into ``net``, ``optimiser``
    and ``generator``; returns (seconds spent, steps, history), zeros for a new run.

    With ``config`` (plain data, saved as the state's ``'config'``), a state
    written with other options than those of ``free`` is refused (ValueError);
    so is a ``last.pt`` that cannot be read (:func:`read_state`).
    """
    if not os.path.lexists(path):
        return 0.0, 0, []
    keys = ("net", "optimiser", "seconds", "step", "history") + (
        ("generator",) if generator is not None else ())
    state = read_state(Path(path), keys=keys)
    changed = config_changes(state["config"], config, free) if (
        config is not None and "config" in state) else []
    if changed:
        raise ValueError(f"{path} is a run with other options ({'; '.join(changed)}): resume "
                         "it with the same options, or start a new run in another folder")
    net.load_state_dict(state["net"])
    optimiser.load_state_dict(state["optimiser"])
    if generator is not None:
        generator.set_state(state["generator"])
    return state["seconds"], state["step"], state["history"]


def save_run_state(output: Path, state: dict) -> Path:
    """Write a run's state to ``output/last.pt`` atomically; returns its path."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / RUN_STATE
    atomic_save(state, path)
    return path


def config_changes(saved: dict, current: dict, free: tuple[str, ...] = ()) -> list[str]:
    """The options of ``current`` that differ from those of a saved run, as ``'name: a -> b'``.

    Parameters
    ----------
    saved, current : dict
        Configurations in their plain-data form (``to_dict()``).
    free : tuple of str
        Options that may differ (they are not listed).

    Returns
    -------
    list of str
        One entry per differing option, sorted by name; empty when they agree.
    """
    saved, current = (json.loads(json.dumps(c, sort_keys=True)) for c in (saved, current))
    return [f"{name}: {saved.get(name)!r} -> {current.get(name)!r}"
            for name in sorted(set(saved) | set(current))
            if name not in free and saved.get(name) != current.get(name)]


#: What every run's ``last.pt`` holds (the Trainer's and the Distiller's): a file without
#: them is no run state (exported weights copied there, say).
RUN_STATE_KEYS = ("iteration", "model", "optimizer", "history", "config")
#: How an error about a run's ``last.pt`` ends.
START_OVER = ("move it away to start over (python -m sarfeat.training: --restart), or use "
              "another output folder")


def read_state(path: Path, map_location=None, keys: tuple[str, ...] = RUN_STATE_KEYS) -> dict:
    """The training state saved in ``path``, checked to hold ``keys``.

    Raises
    ------
    CheckpointError
        (a ValueError) naming ``path`` when it is not a file, cannot be read
        (cut short, empty, not a torch file) or lacks one of ``keys``.
    """
    if not path.is_file():
        raise CheckpointError(f"cannot resume from {path}: it is not a file; {START_OVER}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CheckpointError(f"cannot resume from {path}: it is damaged or unreadable "
                              f"({reason}); {START_OVER}") from error
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"cannot resume from {path}: it is not the state of a training "
                              f"run (it has no {', '.join(map(repr, missing))}; exported "
                              f"weights, or another trainer's?); {START_OVER}")
    return state


def load_run_state(output: Path, map_location) -> dict | None:
    """The state saved in ``output/last.pt``, or None when the run folder has none.

    Raises :class:`~sarfeat.checkpoint.CheckpointError` (a ValueError) when
    ``last.pt`` cannot be read or is not a run's state (:func:`read_state`).
    """
    path = output / RUN_STATE
    if not os.path.lexists(path):
        return None
    return read_state(path, map_location)


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every value of ``tensors`` is finite (one device synchronisation)."""
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True


class Trainer:
    """Trains an R2D2 network on a dataset of pairs.

    Parameters
    ----------
    config : TrainConfig
        The run's settings.
    dataset : torch.utils.data.Dataset
        Deterministic pairs (``dataset[i]`` depends on ``i`` only): dicts with
        ``image1``, ``image2`` (1, H, W) in [0, 1] and ``flow`` (2, H, W).
    validate : callable, optional
        ``validate(net) -> dict[str, float]``, run every ``validate_every``
        iterations and at the end (for example held-out MMA).

    Attributes
    ----------
    net : R2D2Net
        The network being trained.
    iteration : int
        Optimiser steps done so far.
    history : list of dict
        Logged loss terms and validation results.
    validated_at : int
        The iteration of the latest validation (-1: none yet).
    running : dict of str to float
        Running means of the loss terms (logged in ``history``).
    """

    def __init__(self, config: TrainConfig, dataset: Dataset, validate=None) -> None:
        self.config = config
        self.dataset = dataset
        self.validate = validate
        self.device = resolve_device(config.device)
        self.output = Path(config.output)
        torch.manual_seed(config.seed)
        if config.init:
            from ..checkpoint import load_checkpoint

            self.net = load_checkpoint(config.init)
            if self.net.architecture != config.architecture:  # config would misrecord it
                raise ValueError(
                    f"init {config.init!r} is a {self.net.architecture!r} network but "
                    f"architecture is {config.architecture!r}: give architecture="
                    f"{self.net.architecture!r} to train it (in --config on the command line)")
        else:
            self.net = R2D2Net(config.architecture)
        self.net.to(self.device).to(memory_format=torch.channels_last).train()
        self.optimizer = torch.optim.Adam(
            self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.iteration = 0
        self.history: list[dict] = []
        self.elapsed = 0.0  # seconds of training, summed over resumed sessions
        self.validated_at = -1
        self.running: dict[str, float] = {}

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where training stands."""
        return {
            "iteration": self.iteration,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
            "elapsed": self.elapsed,
            "validated_at": self.validated_at,
            "running": self.running,
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state written by :meth:`state_dict`."""
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        # the file is loaded onto the training device; the generator's state lives on the CPU
        torch.set_rng_state(state["torch_rng"].cpu())
        self.iteration = int(state["iteration"])
        self.history = list(state["history"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.validated_at = int(state.get("validated_at", -1))
        self.running = dict(state.get("running", {}))

    def save(self) -> Path:
        """Write ``last.pt`` (atomically) and return its path.

        Raises FloatingPointError, writing nothing, when the weights are not finite
        (the previous ``last.pt`` is kept).
        """
        self._check_weights("not saved: " + str(self.output / RUN_STATE))
        return save_run_state(self.output, self.state_dict())

    def _check_weights(self, consequence: str) -> None:
        """FloatingPointError when a weight or an Adam moment is NaN or inf."""
        tensors = [*self.net.state_dict().values()]
        for state in self.optimizer.state.values():
            tensors += [value for value in state.values() if value.dim()]
        if not _all_finite([t for t in tensors if t.is_floating_point()]):
            raise FloatingPointError(
                f"the weights are not finite at iteration {self.iteration} (training "
                f"diverged: try a lower learning rate); {consequence}")

    def resume(self) -> bool:
        """Load ``last.pt`` if the output folder has one; True when it did.

        Raises ValueError when ``last.pt`` was written with other options than
        this trainer's (only those of ``RESUMABLE_CHANGES`` may change).
        """
        state = load_run_state(self.output, self.device)
        if state is None:
            return False
        changed = config_changes(state["config"], self.config.to_dict(),
                                 RESUMABLE_CHANGES)
        if changed:
            raise ValueError(
                f"{self.output / RUN_STATE} is a run with other options ({'; '.join(changed)}): "
                "resume it with the same options, or start a new run (another output folder, "
                "or --restart to start this one over)")
        self.load_state_dict(state)
        return True

    # -- training --------------------------------------------------------------------------------

    def batch(self, iteration: int) -> dict[str, torch.Tensor]:
        """The batch of an iteration: a pure function of the iteration number."""
        size = self.config.batch_size
        first = iteration * size
        samples = [self.dataset[(first + k) % len(self.dataset)] for k in range(size)]
        return {key: torch.stack([s[key] for s in samples]) for key in ("image1", "image2", "flow")}

    def step(self) -> dict[str, float]:
        """One optimiser step on the next batch; returns the logged loss values."""
        batch = self.batch(self.iteration)
        images = [
            imagenet_normalize(batch[key].to(self.device)).contiguous(
                memory_format=torch.channels_last
            )
            for key in ("image1", "image2")
        ]
        flow = batch["flow"].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            out1, out2 = (self.net(x) for x in images)
        # NaN or inf maps break the loss's indexing before its value can be checked
        if not _all_finite([*out1.values(), *out2.values()]):
            raise FloatingPointError(
                f"the network's outputs are not finite at iteration {self.iteration}: the "
                "weights diverged (try a lower learning rate) or the batch holds NaN or inf")
        total, values = r2d2_loss(out1, out2, flow, self.config.loss, self.config.sampler)
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"loss is {values['total']} at iteration {self.iteration}")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.iteration += 1
        return values

    def _run_validation(self) -> None:
        if self.validate is None:
            return
        self.net.eval()
        try:
            result = self.validate(self.net)
        finally:
            self.net.train()
        self.history.append({"iteration": self.iteration, **result})
        self.validated_at = self.iteration

    def fit(self, iterations: int | None = None, progress: bool = True) -> None:
        """Train up to ``iterations`` (default ``config.iterations``) total steps.

        Checkpoints every ``checkpoint_every`` steps and at the end; validation
        every ``validate_every`` steps and at the end.
        """
        from tqdm.auto import tqdm

        target = self.config.iterations if iterations is None else iterations
        bar = tqdm(total=target, initial=self.iteration, desc="training", disable=not progress)
        running = self.running
        while self.iteration < target:
            started = time.perf_counter()
            values = self.step()
            self.elapsed += time.perf_counter() - started
            for key, value in values.items():  # exponential running means for the bar
                running[key] = value if key not in running else 0.95 * running[key] + 0.05 * value
            bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()}, refresh=False)
            bar.update()
            if self.iteration % 25 == 0:
                self.history.append({"iteration": self.iteration, **running})
            every = self.config.validate_every
            if every and self.iteration % every == 0:
                self._run_validation()
            every = self.config.checkpoint_every
            if every and self.iteration % every == 0:
                self.save()
        bar.close()
        if self.validated_at != self.iteration:
            self._run_validation()
        self.save()

    def export(self, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
        """Write the trained network in sarfeat's safe format, with its provenance
        (FloatingPointError, writing nothing, when its weights are not finite)."""
        self._check_weights(f"not exported: {path}")
        metadata = {
            "config": self.config.to_dict(),
            "iterations": self.iteration,
            "training_seconds": round(self.elapsed, 1),
            "code_version": code_version(),
            "history": self.history[-50:],
            "torch": torch.__version__,
            "numpy": np.__version__,
            **(extra_metadata or {}),
        }
        net = R2D2Net(self.net.architecture)
        net.load_state_dict({
            k: (v.float() if v.is_floating_point() else v).cpu()
            for k, v in self.net.state_dict().items()
        })
        return save_checkpoint(net.eval(), path, metadata=json.loads(json.dumps(metadata)))
