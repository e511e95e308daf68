"""Validate + normalize, and the index choice: process CPU per event, before vs after.

The "before" code is ``audit/domain/event.py`` and
``audit/services/retention_classes.py`` as of a baseline commit (default
632a7f9, before issue 16's validation work), read with ``git show`` and
loaded beside the current modules, so both run in the same process on the
same messages, alternately, ``--rounds`` times each. The messages are the
ingest bench's stream (``bench/bench_ingest.py``: 50 organizations, 40 users
each, seed 99) with ``--malformed`` of them malformed.

Before timing, every message's outcome is compared: the stored document
(serialized, byte for byte) and the event's fields, or the rejection's type
and message, must be the same before and after; the bench stops otherwise.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_validate.py [--events 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from audit.adapters.bundled_data import load_retention_policy
from audit.domain import event as current_event
from audit.errors import EventRejected
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services import retention_classes as current_classes
from audit.services.ports.retention import OrgClassRecord
from audit.wiring.collector import tuned_collector

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "632a7f9"


def load_baseline(rev: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as of commit ``rev``, importable as ``name``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{rev}:{path}"
    sys.modules[name] = module  # pydantic resolves annotations through sys.modules
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def messages(count: int, malformed: float) -> list[bytes]:
    profile = TrafficProfile.benchmark(datetime.now(UTC))
    stream = mixed_stream(TrafficGenerator(profile), count, malformed_ratio=malformed)
    return [m.value for m in stream.messages]


def outcome(normalize: Callable[..., Any], value: bytes, now: datetime) -> tuple[Any, ...]:
    try:
        event = normalize(value, received_at=now)
    except EventRejected as err:
        return ("rejected", err.error_type, err.message)
    return (
        "accepted",
        event.event_id,
        event.organization_id,
        event.action,
        event.outcome,
        event.timestamp,
        event.data_category,
        orjson.dumps(event.document),
    )


def run_normalize(
    normalize: Callable[..., Any], values: list[bytes], now: datetime, batch: int = 2000
) -> list[Any]:
    """The accepted events of the last batch; each batch's are kept until it
    is done, as the consumer keeps them until its bulk write is answered
    (what the cyclic garbage collector walks meanwhile is part of the cost)."""
    accepted: list[Any] = []
    for start in range(0, len(values), batch):
        accepted = []
        for value in values[start : start + batch]:
            try:
                event = normalize(value, received_at=now)
            except EventRejected:
                continue
            accepted.append(event)
    return accepted


class _Settings:
    """An in-memory org settings store: a tenth of the organizations chose a class."""

    def __init__(self) -> None:
        self.records = {f"org_{i:04d}": "extended" for i in range(0, 50, 10)}

    def get_class(self, organization_id: str) -> str | None:
        return self.records.get(organization_id)

    def set_class(self, record: OrgClassRecord) -> str | None:
        before = self.records.get(record.organization_id)
        self.records[record.organization_id] = record.retention_class
        return before


class _Store:
    def index_name(self, retention_class: str, day: str) -> str:
        return f"audit-events-{retention_class}-{day}"


def baseline_index_for(module: types.ModuleType) -> Callable[[Any], str]:
    """``index_for`` as ``audit/wiring/ingest.py`` built it at the baseline."""
    classes = module.RetentionClassResolver(_Settings(), load_retention_policy(None))
    store = _Store()
    days: dict[int, str] = {}

    def index_for(event: Any) -> str:
        retention_class = classes.class_for(event.organization_id, event.data_category)
        ordinal = event.timestamp.toordinal()
        day = days.get(ordinal)
        if day is None:
            if len(days) > 4096:
                days.clear()
            day = days[ordinal] = event.timestamp.strftime("%Y.%m.%d")
        return store.index_name(retention_class, day)

    return index_for


def current_index_for() -> Callable[[Any], str]:
    classes = current_classes.RetentionClassResolver(_Settings(), load_retention_policy(None))
    return current_classes.DailyIndexes(classes, _Store().index_name)


def timed(fn: Callable[[], object], count: int) -> float:
    started = time.process_time()
    fn()
    return (time.process_time() - started) / count * 1e6


def timed_tuned(fn: Callable[[], object], count: int) -> float:
    """``timed`` under the consumers' garbage-collector tuning (audit.wiring.collector)."""
    with tuned_collector():
        return timed(fn, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--malformed", type=float, default=0.01)
    parser.add_argument("--baseline", default=BASELINE, help="commit of the 'before' code")
    args = parser.parse_args()

    old_event = load_baseline(args.baseline, "audit/domain/event.py", "_baseline_event")
    old_classes = load_baseline(
        args.baseline, "audit/services/retention_classes.py", "_baseline_retention_classes"
    )
    values = messages(args.events, args.malformed)
    now = datetime.now(UTC)

    differ = [
        i
        for i, value in enumerate(values)
        if outcome(old_event.normalize_message, value, now)
        != outcome(current_event.normalize_message, value, now)
    ]
    if differ:
        first = values[differ[0]]
        print(f"{len(differ)} outcomes differ; first: {first[:300]!r}")
        print(" before:", outcome(old_event.normalize_message, first, now))
        print(" after: ", outcome(current_event.normalize_message, first, now))
        raise SystemExit(1)
    print(f"{len(values)} messages: every outcome identical before and after")

    results = {
        # No event is kept alive across batches meanwhile: a collection walks
        # what the consumer's would (its batch in hand, not a whole run).
        "validate+normalize (with JSON parse)": measure(
            lambda: run_normalize(old_event.normalize_message, values, now),
            lambda: run_normalize(current_event.normalize_message, values, now),
            len(values),
            args.rounds,
        )
    }
    events = run_normalize(current_event.normalize_message, values, now, batch=len(values))
    old_index, new_index = baseline_index_for(old_classes), current_index_for()
    if [old_index(e) for e in events] != [new_index(e) for e in events]:
        raise SystemExit("index choices differ")
    print(f"{len(events)} events accepted: every index choice identical before and after")
    results["index choice"] = measure(
        lambda: [old_index(e) for e in events],
        lambda: [new_index(e) for e in events],
        len(values),
        args.rounds,
    )

    print(
        f"process CPU µs/event, {args.rounds} alternating rounds (min / median); "
        "'tuned gc': after, with the consumers' garbage-collector tuning"
    )
    print(
        f"{'stage':40s} {'before':>15s} {'after':>15s} {'tuned gc':>15s}"
        f" {'after/before':>12s} {'tuned/before':>13s}"
    )
    for stage, runs in results.items():
        mins = [min(r) for r in runs]
        medians = [statistics.median(r) for r in runs]
        cells = " ".join(f"{lo:6.2f} / {med:6.2f}" for lo, med in zip(mins, medians, strict=True))
        print(
            f"{stage:40s} {cells} {medians[1] / medians[0]:12.2f} {medians[2] / medians[0]:13.2f}"
        )


def measure(
    before: Callable[[], object], after: Callable[[], object], count: int, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """µs/event of each round: before, after, after under the consumer's GC tuning."""
    runs: tuple[list[float], list[float], list[float]] = ([], [], [])
    for _ in range(rounds):
        runs[0].append(timed(before, count))
        runs[1].append(timed(after, count))
        runs[2].append(timed_tuned(after, count))
    return runs


if __name__ == "__main__":
    main()
