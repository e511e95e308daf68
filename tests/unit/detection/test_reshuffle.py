"""Determinism: the same stream twice gives identical detections; a stream
reshuffled within the allowed lateness gives the same (rule, key) detections."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import dry_run
from audit.domain.detection.record import Detection
from audit.domain.event import NormalizedEvent, normalize_document
from audit.replay import scenarios as sc

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _stream() -> list[NormalizedEvent]:
    built = sc.build_many(sc.resolve(["all"]), START, 11)
    raw = [event for scenario in built for event in scenario.events]
    latest = max(datetime.fromisoformat(e["@timestamp"]) for e in raw)
    received = latest + timedelta(minutes=1)
    events = [normalize_document(e, received_at=received) for e in raw]
    return sorted(events, key=lambda e: (e.timestamp, e.event_id))


def _shuffled(events: list[NormalizedEvent], bound: float, seed: int) -> list[NormalizedEvent]:
    rng = random.Random(seed)
    keyed = [(e.timestamp.timestamp() + rng.uniform(0, bound), i) for i, e in enumerate(events)]
    return [events[i] for _, i in sorted(keyed)]


def _pairs(found: list[Detection]) -> set[tuple[str, str]]:
    return {(d.rule_id, json.dumps(d.group_key, sort_keys=True)) for d in found}


def _whole(found: list[Detection]) -> list[tuple[object, ...]]:
    return sorted(
        (d.id, d.rule_id, json.dumps(d.group_key), tuple(d.event_ids), d.event_count) for d in found
    )


def test_same_stream_twice_gives_identical_detections() -> None:
    rules = load_rule_dir()
    events = _stream()
    first, second = dry_run(rules, events), dry_run(rules, list(events))
    assert first and _whole(first) == _whole(second)


def test_reshuffled_within_the_lateness_gives_the_same_rule_key_pairs() -> None:
    rules = load_rule_dir()
    events = _stream()
    reference = _pairs(dry_run(rules, events))
    assert len(reference) > 10
    for seed in range(3):
        # 110 s: under the default allowed lateness of 120 s
        assert _pairs(dry_run(rules, _shuffled(events, 110, seed))) == reference
