"""Features of the fine stage's patches in bounded memory: :class:`PatchStore`.

The fine stage describes a large scene patch by patch. Its keypoints, scales
and masks are small and kept for every patch; its descriptors (about 1.5 kB a
keypoint with the default three descriptors) are what grows with the scene.
The store keeps descriptors only within a byte budget, least recently used
first out, and memoises the descriptor distance of every candidate pair it has
computed, so a later local search over the same pairs (the last local search,
a second prior) needs no descriptor at all. A pair whose patches' descriptors
were dropped is computed again from a fresh description of those patches: the
network is deterministic, so every distance is the same as if nothing had been
dropped. Distances are computed pair by pair (:func:`descriptor_distances`),
so the votes do not depend on how pairs are grouped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .votes import Features, descriptor_distances

__all__ = ["PatchEntry", "PatchStore", "DESCRIPTOR_BUDGET"]

#: Bytes of descriptors a :class:`PatchStore` keeps by default beyond the rows of patches in
#: use (a 4096² pair needs about 0.4 GB with every patch kept, an 8192² pair about 1.6 GB).
DESCRIPTOR_BUDGET = 64 << 20

#: Image-1 patches whose pairs are computed in one group when distances are missing.
_GROUP = 8
#: Pairs looked up in the memo at once.
_LOOKUP = 1 << 20


@dataclass
class PatchEntry:
    """One described patch: features (keypoints in its windows' frame) and ids.

    ``features.descriptors`` is emptied when the store drops them; ``first_id``
    is the id of its first keypoint (ids are consecutive within a patch).
    """

    features: Features
    first_id: int
    key: tuple
    read: Callable[[], Features | None]
    nbytes: int = 0
    used: int = 0

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first_id, self.first_id + len(self.features.keypoints))


class PatchStore:
    """Patch features with descriptors under a byte budget, and memoised pair distances.

    Parameters
    ----------
    names : sequence of str
        Descriptor names, in the order of the distance columns.
    budget : int
        Bytes of descriptors kept at most once a group of pairs is done.
    """

    def __init__(self, names, budget: int = DESCRIPTOR_BUDGET) -> None:
        self.names = tuple(names)
        self.budget = int(budget)
        self.entries: dict[tuple, PatchEntry | None] = {}
        self._by_id: list[PatchEntry] = []  # entries with keypoints, by first_id
        self._next_id = 0
        self._clock = 0
        self.held = 0  # bytes of descriptors held
        self.peak_held = 0
        self.redescribed = 0
        self._memo: list[tuple[np.ndarray, np.ndarray]] = []  # sorted runs of (keys, values)

    # -- patches --------------------------------------------------------------------------------

    def add(self, key: tuple, features: Features | None,
            read: Callable[[], Features | None]) -> PatchEntry | None:
        """Keep the features of a newly described patch; ``read`` describes it again."""
        if features is None or len(features.keypoints) == 0:
            self.entries[key] = None
            return None
        entry = PatchEntry(features, self._next_id, key, read)
        self._next_id += len(features.keypoints)
        self._by_id.append(entry)
        self.entries[key] = entry
        self._hold(entry)
        return entry

    def _hold(self, entry: PatchEntry) -> None:
        entry.nbytes = sum(d.nbytes for d in entry.features.descriptors.values())
        self.held += entry.nbytes
        self.peak_held = max(self.peak_held, self.held)
        self._touch(entry)

    def _touch(self, entry: PatchEntry) -> None:
        self._clock += 1
        entry.used = self._clock

    def descriptors(self, entry: PatchEntry) -> dict[str, np.ndarray]:
        """The descriptors of a patch, described again when they were dropped."""
        if not entry.features.descriptors:
            again = entry.read()
            if again is None or not np.array_equal(again.keypoints, entry.features.keypoints):
                raise RuntimeError("a patch described again gave other keypoints")
            entry.features.descriptors = again.descriptors
            self.redescribed += 1
            self._hold(entry)
        self._touch(entry)
        return entry.features.descriptors

    def release(self, keep=()) -> None:
        """Drop descriptors, least recently used first, until within the budget."""
        if self.held <= self.budget:
            return
        keep = {id(e) for e in keep}
        for entry in sorted(self._by_id, key=lambda e: e.used):
            if self.held <= self.budget:
                break
            if entry.nbytes and id(entry) not in keep:
                entry.features.descriptors = {}
                self.held -= entry.nbytes
                entry.nbytes = 0

    # -- distances ------------------------------------------------------------------------------

    def distances(self, ids1: np.ndarray, ids2: np.ndarray, keep=()) -> np.ndarray:
        """(P, descriptors) float32 distances of the pairs of keypoint ids.

        Descriptors of the patches in ``keep`` are not dropped meanwhile.
        """
        values = np.empty((len(ids1), len(self.names)), np.float32)
        found = np.empty(len(ids1), bool)
        for start in range(0, len(ids1), _LOOKUP):  # bounded temporaries
            chunk = slice(start, start + _LOOKUP)
            found[chunk] = self._lookup(_pair_keys(ids1[chunk], ids2[chunk]), values[chunk])
        missing = np.flatnonzero(~found)
        if missing.size:
            values[missing] = self._compute(ids1[missing], ids2[missing], keep)
        return values

    def _lookup(self, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Fill ``values`` of the ``keys`` found in the memo; which were found."""
        found = np.zeros(len(keys), bool)
        order = np.argsort(keys)
        ordered = keys[order]
        for memo_keys, memo_values in self._memo:
            lo = np.searchsorted(ordered, memo_keys[0], side="left")
            hi = np.searchsorted(ordered, memo_keys[-1], side="right")
            if lo == hi:
                continue
            where = np.searchsorted(memo_keys, ordered[lo:hi])
            np.minimum(where, len(memo_keys) - 1, out=where)
            hit = memo_keys[where] == ordered[lo:hi]
            rows = order[lo:hi][hit]
            values[rows] = memo_values[where[hit]]
            found[rows] = True
        return found

    def _compute(self, ids1: np.ndarray, ids2: np.ndarray, keep) -> np.ndarray:
        """Distances of pairs not in the memo, a few image-1 patches at a time; memoised."""
        out = np.empty((len(ids1), len(self.names)), np.float32)
        patch1 = self._entry_index(ids1)
        order = np.argsort(patch1, kind="stable")
        groups = np.unique(patch1)
        for start in range(0, len(groups), _GROUP):
            chosen = groups[start:start + _GROUP]
            lo, hi = np.searchsorted(patch1[order], [chosen[0], chosen[-1] + 1])
            rows = order[lo:hi]
            out[rows] = self._compute_group(ids1[rows], ids2[rows], keep)
        # memoised as one more sorted run (these pairs were in none of the earlier ones)
        keys = _pair_keys(ids1, ids2)
        order = np.argsort(keys)
        self._memo.append((keys[order], out[order]))
        return out

    def _compute_group(self, ids1: np.ndarray, ids2: np.ndarray, keep) -> np.ndarray:
        (d1, local1), (d2, local2) = self._gather(ids1), self._gather(ids2)
        out = np.empty((len(ids1), len(self.names)), np.float32)
        for k, name in enumerate(self.names):
            out[:, k] = descriptor_distances(d1[name], d2[name], local1, local2)
        self.release(keep)
        return out

    def _gather(self, ids: np.ndarray):
        """Descriptors of the patches holding ``ids`` (stacked) and the rows of ``ids`` in them."""
        index = self._entry_index(ids)
        patches, inverse = np.unique(index, return_inverse=True)
        entries = [self._by_id[i] for i in patches]
        sizes = np.array([len(e.features.keypoints) for e in entries])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        firsts = np.array([e.first_id for e in entries])
        local = ids - firsts[inverse] + starts[inverse]
        parts = [self.descriptors(e) for e in entries]
        stacked = {n: np.concatenate([p[n] for p in parts]) for n in self.names}
        return stacked, local

    def _entry_index(self, ids: np.ndarray) -> np.ndarray:
        firsts = np.array([e.first_id for e in self._by_id], np.int64)
        return np.searchsorted(firsts, ids, side="right") - 1


def _pair_keys(ids1: np.ndarray, ids2: np.ndarray) -> np.ndarray:
    return (np.asarray(ids1, np.int64) << 32) | np.asarray(ids2, np.int64)
