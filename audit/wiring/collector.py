"""The cyclic garbage collector's settings for the long-running processes
(the detector, and the ingest consumer: issue 16 measured the same effect
there, ~10 µs of its validate+normalize per event).

Why: the detector allocates a few short-lived objects per routed record
(the record, its group key, window entries) and keeps a large, long-lived
window state per group key. Almost none of it forms reference cycles:
reference counting frees it. With CPython's default thresholds (700, 10,
10) the cyclic collector nevertheless runs a young collection every few
hundred records and, as the state grows, full collections that walk every
window: measured with ``bench/bench_detection.py``, about a quarter to a
third of route+evaluate's CPU time went to the collector, which found
nothing to free (``collected: 0`` in every collection).

So the detector's entry points call :func:`tune_collector` once at start:

* a young generation of ``GEN0_THRESHOLD`` allocations instead of 700:
  garbage cycles (rare: exceptions, client internals) wait a little longer
  to be reclaimed, a few megabytes at most;
* everything alive at start (modules, the rule pack, compiled predicates,
  client objects) is frozen (:func:`gc.freeze`): never walked again;
* after every full collection its survivors (the aged window state) are
  frozen too, so the next full collection walks only what is newer; every
  ``THAW_EVERY`` full collections they are thawed instead, so a cycle that
  became garbage while frozen is still reclaimed by the following one.

``bench/bench_detection.py`` calls the same function, so it measures the
collector as the detector runs it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Allocations (net of deallocations) before a young collection. Measured
#: on bench_detection (200,000 events): collector time 3.4 s with 700,
#: 0.6 s with 50,000, 0.5 s with 100,000 (pauses of 70-250 ms as the state
#: grows: the young generation also holds tuples reused from CPython's free
#: lists, which the threshold does not count).
GEN0_THRESHOLD = 100_000
#: Every this many full collections, frozen objects are thawed rather than
#: the survivors frozen (reclaims cyclic garbage that aged while frozen).
THAW_EVERY = 10


class _FreezeSurvivors:
    """A ``gc.callbacks`` entry: after a full collection, freeze its
    survivors, or every THAW_EVERY-th time thaw everything."""

    def __init__(self) -> None:
        self.full_collections = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        self.full_collections += 1
        if self.full_collections % THAW_EVERY == 0:
            gc.unfreeze()
        else:
            gc.freeze()


_freeze_survivors = _FreezeSurvivors()


def tune_collector() -> None:
    """Set the collector up for a long-running process (idempotent); called
    once at start by the detector's and the ingest consumer's entry points."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


@contextmanager
def tuned_collector() -> Iterator[None]:
    """:func:`tune_collector` for a block only, undone on exit (benchmarks
    that compare both settings in one process)."""
    threshold = gc.get_threshold()
    tune_collector()
    try:
        yield
    finally:
        if _freeze_survivors in gc.callbacks:
            gc.callbacks.remove(_freeze_survivors)
        gc.set_threshold(*threshold)
        gc.unfreeze()
