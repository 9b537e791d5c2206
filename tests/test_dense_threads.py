"""The dense matcher's candidates on threads (sarfeat.matching.dense_threads): the same
answers, to the bit, at any number of threads, set by sarfeat.set_dense_threads or by
OMP_NUM_THREADS. (conftest.py unsets set_dense_threads's count after every test.)"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from skimage.transform import SimilarityTransform, warp

import sarfeat
from sarfeat.data import load_optical_sar_tile
from sarfeat.matching.dense_threads import dense_threads, parallel_map, set_dense_threads

CENTRE = np.array([127.5, 127.5])


@pytest.mark.parametrize("text, expected", [("2", 2), ("1", 1), (" 3 ", 3)])
def test_omp_num_threads_sets_the_threads(monkeypatch, text, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", text)
    assert dense_threads() == expected


@pytest.mark.parametrize("text", [None, "", "0", "two", "-1"])
def test_without_a_usable_omp_num_threads_every_cpu_is_used(monkeypatch, text):
    if text is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", text)
    assert dense_threads() == len(__import__("os").sched_getaffinity(0))


def test_set_dense_threads_outweighs_omp_num_threads_until_unset(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    sarfeat.set_dense_threads(2)
    assert dense_threads() == 2
    set_dense_threads(np.int64(1))  # a NumPy integer is a count too
    assert dense_threads() == 1 and type(dense_threads()) is int
    sarfeat.set_dense_threads(None)
    assert dense_threads() == 3


@pytest.mark.parametrize("threads, error, message", [
    (0, ValueError, "at least 1, got 0"), (-2, ValueError, "at least 1, got -2"),
    (True, TypeError, "got True"), (False, TypeError, "got False"),
    (2.0, TypeError, "got 2.0"), ("2", TypeError, "got '2'"),
])
def test_a_bad_thread_count_is_refused_and_changes_nothing(threads, error, message):
    sarfeat.set_dense_threads(3)
    with pytest.raises(error, match=f"threads must be .*{message}"):
        sarfeat.set_dense_threads(threads)
    assert dense_threads() == 3


@pytest.mark.parametrize("env, threads, pooled", [("1", 3, True), ("3", 1, False)])
def test_the_pool_follows_set_dense_threads(monkeypatch, env, threads, pooled):
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    sarfeat.set_dense_threads(threads)
    names = {name for _, name in parallel_map(
        lambda value: (time.sleep(0.02), threading.current_thread().name), range(6))}
    if pooled:
        assert 1 < len(names) <= threads
        assert all(name.startswith("sarfeat-dense") for name in names)
    else:
        assert names == {threading.current_thread().name}


def test_results_come_in_the_items_order_from_several_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    seen = set()

    def slow_square(value):
        seen.add(threading.current_thread().name)
        time.sleep(0.02 * (5 - value))  # the first items finish last
        return value * value

    assert list(parallel_map(slow_square, range(5))) == [0, 1, 4, 9, 16]
    assert len(seen) > 1 and all(name.startswith("sarfeat-dense") for name in seen)


def test_one_thread_runs_in_the_caller_lazily(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    calls = []
    results = parallel_map(lambda value: calls.append(threading.current_thread()) or value,
                           [1, 2])
    assert calls == []  # nothing made before it is asked for
    assert list(results) == [1, 2] and calls == [threading.current_thread()] * 2


def test_a_task_s_own_map_runs_inline_without_deadlock(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")

    def outer(value):
        inner = list(parallel_map(lambda x: (x, threading.current_thread().name), [1, 2, 3]))
        return {name for _, name in inner} == {threading.current_thread().name}

    assert all(parallel_map(outer, range(4)))


def test_an_error_in_a_task_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")

    def fails(value):
        if value == 2:
            raise ValueError("candidate 2")
        return value

    with pytest.raises(ValueError, match="candidate 2"):
        list(parallel_map(fails, range(4)))


@pytest.fixture(scope="module")
def turned_pair():
    optical, sar = load_optical_sar_tile()
    truth = (SimilarityTransform(translation=-CENTRE)
             + SimilarityTransform(rotation=np.deg2rad(-150), scale=1.05)
             + SimilarityTransform(translation=CENTRE + (5, -3)))
    moving = warp(sar, truth.inverse, order=1, cval=np.nan, preserve_range=True)
    return optical, moving.astype(np.float32)


def _register(pair, threads: int, monkeypatch, names: set):
    # OMP_NUM_THREADS says the other count: set_dense_threads's is the one used
    monkeypatch.setenv("OMP_NUM_THREADS", str(3 - threads))
    sarfeat.set_dense_threads(threads)
    names.clear()
    # turns half a circle apart (the later one turns the other's maps over) and the
    # affine polish
    result = sarfeat.register(*pair, modality="optical-sar",
                              rotations=(0.0, 30.0, 180.0, 210.0), angle_step=None,
                              dense_model="affine", rng=0, progress=False)
    return result, set(names)


def test_the_answer_is_the_same_at_one_and_two_threads(turned_pair, monkeypatch,
                                                       candidate_threads):
    one, one_ran_on = _register(turned_pair, 1, monkeypatch, candidate_threads)
    two, two_ran_on = _register(turned_pair, 2, monkeypatch, candidate_threads)
    assert one_ran_on == {threading.current_thread().name}  # no pool at one thread
    assert 1 <= len(two_ran_on) <= 2  # on the pool, of two threads
    assert all(name.startswith("sarfeat-dense") for name in two_ran_on)
    assert np.array_equal(one.transform.params, two.transform.params)
    assert np.array_equal(one.matches, two.matches)
    assert np.array_equal(one.inliers, two.inliers)
    assert np.array_equal(one.warped, two.warped, equal_nan=True)
    for key in ("coarse_hypotheses", "coarse_score", "verify_score", "fine_inliers",
                "refined_levels"):
        assert one.diagnostics.get(key) == two.diagnostics.get(key), key
    # and it is right: the pair was turned by -150 degrees (210)
    angle = np.degrees(np.arctan2(one.transform.params[1, 0], one.transform.params[0, 0]))
    assert abs((angle + 150 + 180) % 360 - 180) < 2
