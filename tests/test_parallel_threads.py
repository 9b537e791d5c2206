"""The threads of :mod:`sarfeat.parallel`'s worker processes, tested in this process without
a Dask cluster: each task calls ``_worker.prepare_process(torch_threads)``, which caps the
optical-SAR matcher's pool (:func:`sarfeat.set_dense_threads`) as it caps ONNX Runtime's and
torch's threads, whatever the worker's ``OMP_NUM_THREADS`` says (a ``distributed.Client`` of
the user's own may leave it unset: every CPU). Stacks on a cluster are in test_parallel.py.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from _optical_sar_helpers import TRUTH

from sarfeat.matching.dense_threads import dense_threads
from sarfeat.parallel import _worker, detect_tiled, register_pairs, stack
from sarfeat.runtime.onnx import set_threads as set_onnx_threads


@pytest.fixture(autouse=True)
def _process_threads_restored():
    """prepare_process sets this process's threads: torch's back as they were, ONNX
    Runtime's to its default (conftest.py unsets the dense matcher's)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    set_onnx_threads(None)
    if torch is not None:
        torch.set_num_threads(before)


def test_a_worker_s_threads_cap_the_dense_matcher_whatever_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert dense_threads() == 4
    _worker.prepare_process(1)  # torch_threads' default
    assert dense_threads() == 1
    _worker.prepare_process(None)  # leaves the setting alone
    assert dense_threads() == 1
    _worker.prepare_process(np.int64(3))
    assert dense_threads() == 3 and type(dense_threads()) is int


@pytest.mark.parametrize("threads, error", [(0, ValueError), (-1, ValueError),
                                            (True, TypeError), (1.5, TypeError)])
def test_a_bad_worker_thread_count_is_refused(monkeypatch, threads, error):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    with pytest.raises(error, match="threads must be"):
        _worker.prepare_process(threads)
    assert dense_threads() == 4


@pytest.mark.parametrize("threads, error", [(0, ValueError), (True, TypeError),
                                            ("1", TypeError)])
def test_a_bad_torch_threads_fails_once_before_any_cluster(threads, error):
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(error, match="torch_threads must be"):
        register_pairs([(image, image)], torch_threads=threads)
    with pytest.raises(error, match="torch_threads must be"):
        detect_tiled(np.random.default_rng(0).random((64, 64)), torch_threads=threads)


def test_an_optical_pair_s_task_runs_its_candidates_on_the_worker_s_threads(
        monkeypatch, tile, moved_sar, candidate_threads):
    """A stack's task (as a worker runs it, here in this thread) of an optical-SAR pair:
    with ``torch_threads=1`` the dense matcher runs every candidate in the task's own
    thread, though OMP_NUM_THREADS allows two."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    options, register_options = stack._check_options(None, {"modality": "optical-sar"})
    outcome = stack._register_task(0, "pair", tile[0], moved_sar, None, options, {},
                                   register_options, None, False, None, 1)
    assert outcome.error is None and outcome.result is not None
    assert candidate_threads == {threading.current_thread().name}
    corners = np.array([[0.0, 0.0], [255.0, 0.0], [0.0, 255.0], [255.0, 255.0]])
    assert np.abs(outcome.result.transform(corners) - TRUTH(corners)).max() < 3
