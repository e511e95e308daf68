"""The consumer's garbage-collector tuning applies while it runs and is undone after."""

from __future__ import annotations

import gc

import pytest

from audit.wiring.ingest import GC_YOUNG_THRESHOLD, steady_heap


def test_steady_heap_freezes_what_exists_and_restores_the_collector() -> None:
    before = gc.get_threshold()
    assert before[0] != GC_YOUNG_THRESHOLD
    with steady_heap():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 1000  # modules, classes, schemas
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_steady_heap_restores_the_collector_when_the_loop_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), steady_heap():
        raise RuntimeError("the loop failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
