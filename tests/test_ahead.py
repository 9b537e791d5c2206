"""sarfeat.runtime.ahead: the next item computed in a second thread, nothing else changed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sarfeat import SARR2D2Detector
from sarfeat.runtime.ahead import one_ahead


def test_items_come_in_order_each_computed_in_the_second_thread():
    workers = []

    def produce():
        for value in range(5):
            workers.append(threading.current_thread().name)
            yield value

    assert list(one_ahead(produce())) == [0, 1, 2, 3, 4]
    assert all(name.startswith("sarfeat-ahead") for name in workers)


def test_an_error_is_raised_where_its_item_would_come():
    def produce():
        yield 1
        raise KeyError("broken tile")

    got = []
    with pytest.raises(KeyError, match="broken tile"):
        for value in one_ahead(produce()):
            got.append(value)
    assert got == [1]


def test_stopping_early_closes_the_source():
    closed = []

    def produce():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    items = one_ahead(produce())
    assert next(items) == 0
    items.close()
    assert closed == [True]


def test_the_detector_finds_the_same_with_and_without_the_network_ahead(airsar_cube,
                                                                       monkeypatch):
    image = airsar_cube[..., 0]  # several tiles at each of the first levels
    ahead = SARR2D2Detector(max_keypoints=300, tile_size=128)
    monkeypatch.setattr(SARR2D2Detector, "_network_runs_ahead", staticmethod(lambda r: True))
    ahead.detect_and_extract(image)
    plain = SARR2D2Detector(max_keypoints=300, tile_size=128)
    monkeypatch.setattr(SARR2D2Detector, "_network_runs_ahead", staticmethod(lambda r: False))
    plain.detect_and_extract(image)
    assert len(plain.keypoints) > 100
    for name in ("keypoints", "scales", "orientations", "responses", "descriptors"):
        np.testing.assert_array_equal(getattr(ahead, name), getattr(plain, name))


def test_one_thread_asked_for_keeps_the_network_in_the_calling_thread(monkeypatch):
    from sarfeat.runtime import onnx

    monkeypatch.setattr(onnx, "_THREADS", [1])
    detector = SARR2D2Detector().load()
    runner = detector._get_runner()
    assert runner.threads == 1 and not detector._network_runs_ahead(runner)
