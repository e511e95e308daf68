"""The detector's collector settings: raised young threshold, frozen survivors."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from audit.wiring import collector


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks
    gc.unfreeze()


@pytest.mark.usefixtures("restore_gc")
def test_tune_collector_raises_the_young_threshold_once() -> None:
    _, gen1, gen2 = gc.get_threshold()
    collector.tune_collector()
    collector.tune_collector()
    assert gc.get_threshold() == (collector.GEN0_THRESHOLD, gen1, gen2)
    assert gc.callbacks.count(collector._freeze_survivors) == 1
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restore_gc")
def test_survivors_of_full_collections_are_frozen_then_thawed() -> None:
    collector.tune_collector()
    collector._freeze_survivors.full_collections = 0
    gc.unfreeze()
    kept = [[i] for i in range(1000)]  # long-lived state
    gc.collect(2)  # the callback freezes the survivors
    assert gc.get_freeze_count() >= len(kept)
    gc.collect(1)  # not a full collection: nothing thawed
    assert gc.get_freeze_count() >= len(kept)
    for _ in range(collector.THAW_EVERY - 1):
        gc.collect(2)
    assert gc.get_freeze_count() == 0  # thawed: the next full collection sees all


@pytest.mark.usefixtures("restore_gc")
def test_tuned_collector_is_undone_on_exit_even_after_a_failure() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collector.tuned_collector():
        assert gc.get_threshold()[0] == collector.GEN0_THRESHOLD
        assert gc.get_freeze_count() > 1000  # modules, classes, schemas
        raise RuntimeError("the measured block failed")
    assert gc.get_threshold() == before
    assert collector._freeze_survivors not in gc.callbacks
    assert gc.get_freeze_count() == 0
