"""A weighted mixture of pair datasets, and the batching of pair samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sarfeat.training.datasets.base import probabilities

__all__ = ["MixedPairs", "collate"]


class MixedPairs(Dataset):
    """A weighted mixture of pair datasets.

    Sample ``i`` draws dataset ``k`` with probability ``weights[k]`` from a
    generator seeded by ``(seed, i)`` and returns ``datasets[k][i % len(datasets[k])]``:
    deterministic, and without repeats inside one dataset until its length is
    exhausted.

    Parameters
    ----------
    datasets : sequence of Dataset
        Pair datasets.
    weights : sequence of float
        Relative probabilities (normalised to sum 1).
    length : int
        Number of samples.
    seed : int
        Base seed of the choice of dataset.
    names : sequence of str, optional
        A name per dataset (for logs).
    """

    def __init__(
        self,
        datasets: Sequence[Dataset],
        weights: Sequence[float],
        length: int = 100_000,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ) -> None:
        if len(datasets) == 0:
            raise ValueError("datasets is empty")
        self.datasets = list(datasets)
        self.weights = probabilities(weights, len(self.datasets))
        self.length = int(length)
        self.seed = int(seed)
        self.names = list(names) if names is not None else [type(d).__name__ for d in datasets]

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, tuple[Dataset, float]], length: int = 100_000, seed: int = 0
    ) -> MixedPairs:
        """Mix ``{name: (dataset, weight)}``, as :func:`default_training_sources` returns."""
        names = list(sources)
        return cls(
            [sources[n][0] for n in names], [sources[n][1] for n in names], length, seed, names
        )

    def __len__(self) -> int:
        return self.length

    def source_of(self, index: int) -> int:
        """Return the position of the dataset that sample ``index`` comes from."""
        rng = np.random.default_rng([self.seed, int(index), 0x6D6978])
        return int(rng.choice(len(self.datasets), p=self.weights))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        dataset = self.datasets[self.source_of(index)]
        return dataset[index % len(dataset)]


def collate(samples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack pair samples into a batch.

    Parameters
    ----------
    samples : sequence of dict
        Pair samples (see the module docstring).

    Returns
    -------
    batch : dict of torch.Tensor
        ``image1``, ``image2`` (B, 1, H, W), ``flow`` (B, 2, H, W), ``mask``
        (B, H, W), and ``matrix`` (B, 3, 3) when every sample has one.
    """
    if len(samples) == 0:
        raise ValueError("cannot collate an empty list of samples")
    keys = [k for k in samples[0] if all(k in s for s in samples)]
    return {k: torch.stack([s[k] for s in samples]) for k in keys}
