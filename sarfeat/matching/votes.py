"""Features of one image with several descriptors, and the descriptor votes of the fine stage.

Every descriptor votes in both directions among the candidate pairs of a local
search (DESIGN.md section 6): each image-1 keypoint for its nearest image-2
candidate in descriptor space, and each image-2 keypoint for its nearest image-1
candidate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Features", "full_rows", "nearest_per_group", "count_votes", "descriptor_distances"]

#: Candidate pairs whose descriptor differences are computed at once (bounds memory).
_CHUNK = 1 << 16


@dataclass
class Features:
    """Keypoints of one image with every descriptor (full rows) and its mask."""

    keypoints: np.ndarray  # (N, 2) row, col in the image's own full-resolution pixels
    scales: np.ndarray  # (N,)
    descriptors: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    ids: np.ndarray | None = None  # (N,) keypoint ids of a PatchStore, when it holds them

    @classmethod
    def empty(cls, names) -> "Features":
        return cls(np.empty((0, 2)), np.empty(0), {n: np.empty((0, 1), np.float32) for n in names},
                   {n: np.empty(0, bool) for n in names}, np.empty(0, np.int64))

    @classmethod
    def concatenate(cls, parts: list["Features"], names) -> "Features":
        parts = [p for p in parts if len(p.keypoints)]
        if not parts:
            return cls.empty(names)
        described = all(p.descriptors for p in parts)
        return cls(
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scales for p in parts]),
            {n: np.concatenate([p.descriptors[n] for p in parts]) for n in names}
            if described else {},
            {n: np.concatenate([p.masks[n] for p in parts]) for n in names},
            np.concatenate([p.ids for p in parts])
            if all(p.ids is not None for p in parts) else None,
        )

    def subset(self, keep: np.ndarray) -> "Features":
        return Features(self.keypoints[keep], self.scales[keep],
                        {n: d[keep] for n, d in self.descriptors.items()},
                        {n: m[keep] for n, m in self.masks.items()},
                        None if self.ids is None else self.ids[keep])


def full_rows(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Descriptors with one row per keypoint (zeros where ``mask`` is False)."""
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if len(values) == len(mask):
        return values
    full = np.zeros((len(mask), values.shape[1]), np.float32)
    full[mask] = values
    return full


# -- votes ----------------------------------------------------------------------------------------


def nearest_per_group(group: np.ndarray, distance: np.ndarray, ratio: float = 1.0) -> np.ndarray:
    """Index (into the pair arrays) of the smallest distance of each group value.

    With ``ratio`` < 1, a group whose best distance is not below ``ratio`` times its
    second best (Lowe's test among the group's candidates) gives no index.
    """
    if len(group) == 0:
        return np.empty(0, dtype=np.intp)
    order = np.lexsort((distance, group))
    sorted_group = group[order]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    if ratio < 1:
        second = first + 1
        has_second = second < len(order)
        same = sorted_group[second[has_second]] == sorted_group[first[has_second]]
        has_second[has_second] &= same
        best = distance[order[first]]
        runner_up = np.full(len(first), np.inf)
        runner_up[has_second] = distance[order[second[has_second]]]
        first = first[best < ratio * runner_up]
    return order[first]


def count_votes(pairs: np.ndarray, features1: Features, features2: Features,
                ratio: float = 1.0, distances: np.ndarray | None = None) -> np.ndarray:
    """Votes of every descriptor, in both directions, for candidate pairs.

    Parameters
    ----------
    pairs : (P, 2) ndarray of int
        Candidate (image-1 index, image-2 index) pairs, each at most once.
    features1, features2 : Features
        Keypoints and descriptors of the two images (same descriptor names).
    ratio : float
        A keypoint votes only when its nearest candidate's descriptor distance is
        below ``ratio`` times the second nearest's (1: always).
    distances : (P, D) ndarray, optional
        The pairs' descriptor distances, one column per descriptor in the order
        of ``features1.masks``, already computed (then the features need no
        descriptors).

    Returns
    -------
    (P,) ndarray of int
        For each pair, the number of (descriptor, direction) in which it is the
        nearest neighbour among the candidates.
    """
    votes = np.zeros(len(pairs), dtype=np.int64)
    if len(pairs) == 0:
        return votes
    first, second = pairs[:, 0], pairs[:, 1]
    for k, name in enumerate(features1.masks):
        usable = np.flatnonzero(features1.masks[name][first] & features2.masks[name][second])
        if usable.size == 0:
            continue
        if distances is None:
            distance = descriptor_distances(features1.descriptors[name],
                                            features2.descriptors[name], first[usable],
                                            second[usable])
        else:
            distance = distances[usable, k]
        votes[usable[nearest_per_group(first[usable], distance, ratio)]] += 1  # image 1 -> 2
        votes[usable[nearest_per_group(second[usable], distance, ratio)]] += 1  # image 2 -> 1
    return votes


def descriptor_distances(d1: np.ndarray, d2: np.ndarray, first: np.ndarray,
                         second: np.ndarray) -> np.ndarray:
    """Euclidean distances ``|d1[first] - d2[second]|``, computed in chunks of pairs."""
    distance = np.empty(len(first), np.float32)
    for start in range(0, len(first), _CHUNK):
        stop = start + _CHUNK
        diff = d1[first[start:stop]].astype(np.float32) - d2[second[start:stop]]
        distance[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return distance
