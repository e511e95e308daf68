"""Keys written to the changelog as a head and time segments (issue 12).

What must hold, each checked against the detector's own task (no servers):

* restoring from the changelog gives every key the state it had when
  written, from the compacted topic or the whole log, at every write-out,
  and a restored task writes on where the last one stopped;
* a write-out cut after any of its records restores each key to its state
  before or after that write-out, never a mixture, and what the cut left
  behind is tombstoned by the next write-out;
* a write-out of a busy key costs what changed (one segment), not its window;
* a key uses a bounded set of record keys however long it lives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import orjson
import pytest

from audit.domain.detection import Router, parse_rule_text
from audit.domain.detection.routing import RoutedEvent, to_us
from audit.domain.detection.rules import RuleBase
from audit.domain.detection.segments import SegmentedState, is_segment, owner_of, ring_of
from audit.services.detection import CLOCKS_KEY, DetectionTask

from .helpers import at, ev

LATENESS = timedelta(seconds=60)
PARIS = {"lat": 48.8566, "lon": 2.3522}
SAO_PAULO = {"lat": -23.5505, "lon": -46.6333}
SOURCES = ("audit.events:0",)
WIDTH_US = 10_000_000
HEADER = """
name: segments
description: segmented changelog
severity: low
mitre: {technique: T1110}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
"""
RULES = {
    # fires now and then (a fourth address), which empties the window
    "seg.addresses": (
        "type: value_count\nwhere: [{field: event.action, eq: user.login}]\n"
        "distinct: [{fields: [source.ip], at_least: 4}]\nwindow: 300s\nsuppression: 20s\n"
    ),
    # never fires: its window only fills and slides
    "seg.volume": (
        "type: threshold\nwhere: [{field: event.action, eq: user.login}]\n"
        "threshold: 100000\nwindow: 300s\nsuppression: 60s\n"
    ),
    # its events wait for the watermark: pending events are a sequence too
    "seg.country": (
        "type: new_value\nwhere: [{field: event.action, eq: user.login}]\n"
        "field: source.geo.country_iso_code\nhistory: 1d\nmin_history_events: 5\n"
        "min_history_span: 60s\n"
    ),
    # keeps the events within the lateness (recent) beside the newest
    "seg.travel": (
        "type: geo_velocity\nwhere: [{field: event.action, eq: user.login}]\n"
        "location_field: source.geo.location\nmin_distance_km: 500\nmin_speed_kmh: 900\n"
        "max_interval: 1h\nsuppression: 60s\n"
    ),
    # two sequences (one per step) of many events
    "seg.sequence": (
        "type: sequence\nwindow: 300s\nsuppression: 60s\nsteps:\n"
        "  - name: failures\n    count: 40\n    where:\n"
        "      - {field: event.action, eq: user.login}\n"
        "      - {field: event.outcome, eq: failure}\n"
        "  - name: success\n    where:\n"
        "      - {field: event.action, eq: user.login}\n"
        "      - {field: event.outcome, eq: success}\n"
    ),
}


def rules() -> list[RuleBase]:
    parsed = []
    for rule_id, body in RULES.items():
        rule, problems = parse_rule_text(f"id: {rule_id}\n{HEADER}{body}", f"{rule_id}.yaml")
        assert rule is not None, problems
        parsed.append(rule)
    return parsed


def task(min_events: int = 8, rule_set: Sequence[RuleBase] | None = None) -> DetectionTask:
    return DetectionTask(
        0,
        rules() if rule_set is None else rule_set,
        lateness=LATENESS,
        expected_sources=SOURCES,
        segments=SegmentedState(min_events=min_events, width_us=WIDTH_US),
    )


def stream(seed: int, count: int, users: int = 3, rate: float = 4.0) -> list[RoutedEvent]:
    """``count`` logins of ``users`` users at ``rate`` a second, each up to
    5 s early: one key's events arrive out of order, as from several producers."""
    rng = random.Random(seed)
    router = Router(rules())
    routed: list[tuple[float, RoutedEvent]] = []
    for index in range(count):
        moment = index / rate
        event = ev(
            "user.login",
            "failure" if rng.random() < 0.9 else "success",
            when=at(seconds=moment - rng.uniform(0, 5)),
            user=f"usr_{rng.randrange(users)}",
            source__ip=f"10.0.0.{4 if rng.random() < 0.005 else rng.randrange(1, 4)}",
            source__geo__country_iso_code="FR" if rng.random() < 0.99 else "BR",
            source__geo__location=PARIS if rng.random() < 0.995 else SAO_PAULO,
        )
        routed.extend((moment, record) for record in router.route(event))
    return [record for _, record in routed]


def compacted(log: Iterable[tuple[str, bytes | None]]) -> list[tuple[str, bytes | None]]:
    """What a compacted topic keeps: the latest record per key, in the order
    of those latest records (tombstones kept, as until delete.retention)."""
    latest: dict[str, tuple[int, bytes | None]] = {}
    for offset, (key, value) in enumerate(log):
        latest[key] = (offset, value)
    return [(key, value) for key, (_, value) in sorted(latest.items(), key=lambda i: i[1][0])]


def states(detection_task: DetectionTask) -> dict[str, bytes | None]:
    engine = detection_task.engine
    return {key: engine.dump_state(key) for key in engine.state_keys()}


def restored(log: Iterable[tuple[str, bytes | None]], **kw: Any) -> DetectionTask:
    fresh = task(**kw)
    fresh.restore(log)
    return fresh


def live_slots(log: Iterable[tuple[str, bytes | None]]) -> tuple[set[str], set[str]]:
    """(segment records alive in the topic, segment records some live head refers to)."""
    alive: dict[str, bytes] = {}
    for key, value in compacted(log):
        if value is None:
            alive.pop(key, None)
        else:
            alive[key] = value
    slots = {key for key in alive if is_segment(key)}
    referenced: set[str] = set()
    for key, value in alive.items():
        if is_segment(key) or key == CLOCKS_KEY:
            continue
        shape = orjson.loads(value).get("segments")
        if shape is None:
            continue
        rings, width = shape["rings"], shape["width"]
        for index, refs in enumerate(shape["seqs"]):
            for start, side, _ in refs:
                position = start // width % rings[index]
                referenced.add(f"\x00seg\x00{index}.{position}.{side}\x00{key}")
    return slots, referenced


def run(detection_task: DetectionTask, records: Sequence[RoutedEvent], until_s: float) -> list[Any]:
    found = []
    for record in records:
        found += detection_task.apply_event(record)
    found += detection_task.apply_progress({SOURCES[0]: to_us(at(seconds=until_s))})
    detection_task.expire()
    return found


def chunks(records: list[RoutedEvent], size: int) -> list[list[RoutedEvent]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_write_out_restores_each_key_as_it_was_written(seed: int) -> None:
    records = stream(seed, 3_000)
    original = task()
    log: list[tuple[str, bytes | None]] = []
    segmented = reused = 0
    segmented_rules: set[str] = set()
    for turn, part in enumerate(chunks(records, 150)):
        run(original, part, until_s=turn * 150 / 4 - 70)
        written = original.take_changes()
        segmented += sum(is_segment(key) and value is not None for key, value in written)
        segmented_rules |= {owner_of(key).split("|")[0] for key, _ in written if is_segment(key)}
        for key, value in written:
            if value is not None and not is_segment(key) and b'"segments"' in value:
                shape = orjson.loads(value)["segments"]
                reused += sum(skip > 0 for refs in shape["seqs"] for _, _, skip in refs)
        log.extend(written)
        expected = states(original)
        assert states(restored(compacted(log))) == expected
        assert states(restored(log)) == expected
    assert segmented > 50, "the test must exercise the segmented form"
    # windows, both steps of a sequence, geo_velocity's recent and the
    # pending events of new_value
    assert segmented_rules == set(RULES)
    assert reused > 0, "segments must be kept while their head skips what left"
    slots, referenced = live_slots(log)
    assert slots == referenced  # nothing stale left alive in the topic


@pytest.mark.parametrize("seed", [5, 6])
def test_the_unchanged_segments_shortcut_writes_what_comparing_every_segment_writes(
    seed: int,
) -> None:
    """A write-out compares the new events with what was written once, in C,
    up to the last segment written, and keeps those segments as they are;
    it must write exactly the records that comparing each segment writes,
    restored or not, with events in and out of order."""
    records = stream(seed, 3_000)
    shortcut, every = task(), task()
    every._segments._compare_every_segment = True
    log: list[tuple[str, bytes | None]] = []
    for turn, part in enumerate(chunks(records, 120)):
        until = turn * 120 / 4 - 70
        run(shortcut, part, until_s=until)
        run(every, part, until_s=until)
        written = shortcut.take_changes()
        assert written == every.take_changes()
        log.extend(written)
        if turn % 7 == 3:  # a restart: the layouts come from the changelog
            shortcut, every = restored(log), restored(log)
            every._segments._compare_every_segment = True
    assert sum(is_segment(key) for key, _ in log) > 50


def test_a_restored_task_writes_on_and_detects_as_the_uninterrupted_one() -> None:
    records = stream(4, 4_000)
    parts = chunks(records, 200)
    uninterrupted = task()
    expected = []
    for turn, part in enumerate(parts):
        expected += run(uninterrupted, part, until_s=turn * 50 - 70)
        uninterrupted.take_changes()

    log: list[tuple[str, bytes | None]] = []
    first = task()
    found = []
    for turn, part in enumerate(parts[:8]):
        found += run(first, part, until_s=turn * 50 - 70)
        log.extend(first.take_changes())
    # a new owner of the partition, restored, twice over
    owner = restored(compacted(log))
    for turn, part in enumerate(parts[8:14], start=8):
        found += run(owner, part, until_s=turn * 50 - 70)
        log.extend(owner.take_changes())
    last = restored(compacted(log))
    for turn, part in enumerate(parts[14:], start=14):
        found += run(last, part, until_s=turn * 50 - 70)
        log.extend(last.take_changes())

    assert [(d.id, d.event_count) for d in found] == [(d.id, d.event_count) for d in expected]
    assert {d.rule_id for d in expected} >= {
        "seg.addresses",
        "seg.sequence",
        "seg.country",
        "seg.travel",
    }
    assert states(last) == states(uninterrupted)
    assert states(restored(compacted(log))) == states(uninterrupted)
    slots, referenced = live_slots(log)
    assert slots == referenced


def test_a_write_out_cut_anywhere_restores_each_key_before_or_after_it() -> None:
    records = stream(5, 2_400)
    parts = chunks(records, 300)
    original = task()
    log: list[tuple[str, bytes | None]] = []
    cuts = 0
    for turn, part in enumerate(parts):
        before = states(original)
        run(original, part, until_s=turn * 75 - 70)
        written = original.take_changes()
        after = states(original)
        if turn < 2:  # windows still small: cut the write-outs of full ones
            log.extend(written)
            continue
        for cut in range(len(written) + 1):
            prefix = log + written[:cut]
            again = restored(compacted(prefix))
            for key, state in states(again).items():
                assert state in (before.get(key), after.get(key)), (turn, cut, key)
            # the next write-out tombstones what the cut left behind first
            following = again.take_changes()
            slots, referenced = live_slots(prefix + following)
            assert slots == referenced, (turn, cut)
            cuts += 1
        log.extend(written)
    assert cuts > 100


def test_a_busy_key_in_order_writes_its_newest_segment_not_its_window() -> None:
    router = Router(rules())
    detection_task = task()

    def login(second: float) -> list[RoutedEvent]:
        event = ev("user.login", "failure", when=at(seconds=second), source__ip="10.0.0.1")
        return router.route(event)

    for second in range(0, 250):
        for record in login(second):
            detection_task.apply_event(record)
    detection_task.take_changes()
    for record in login(250.5):
        detection_task.apply_event(record)
    written = detection_task.take_changes()
    volume = [r for r in written if "seg.volume" in (owner_of(r[0]) if is_segment(r[0]) else r[0])]
    new_segments = [key for key, value in volume if is_segment(key) and value is not None]
    assert len(new_segments) == 1  # the segment the new event fell into
    whole = task(min_events=10**9)
    for second in range(0, 250):
        for record in login(second):
            whole.apply_event(record)
    for record in login(250.5):
        whole.apply_event(record)
    whole_bytes = sum(len(v or b"") for k, v in whole.take_changes() if "seg.volume" in k)
    assert sum(len(v or b"") for _, v in volume) * 10 < whole_bytes


def test_a_key_uses_a_bounded_set_of_record_keys_however_long_it_lives() -> None:
    router = Router(rules())
    detection_task = task()
    keys: set[str] = set()
    for second in range(0, 3_600):
        event = ev("user.login", "failure", when=at(seconds=second), source__ip="10.0.0.1")
        for record in router.route(event):
            detection_task.apply_event(record)
        if second % 5 == 4:
            keys |= {key for key, _ in detection_task.take_changes() if is_segment(key)}
    evaluator = detection_task.engine.evaluator("seg.volume")
    assert evaluator is not None
    ring = ring_of(evaluator.held_span_us, WIDTH_US)
    volume = {key for key in keys if "seg.volume" in owner_of(key)}
    assert 0 < len(volume) <= 2 * ring


def test_a_key_back_under_the_threshold_is_written_whole_and_its_segments_deleted() -> None:
    records = stream(6, 600, users=1)
    detection_task = task(min_events=40)
    log: list[tuple[str, bytes | None]] = []
    run(detection_task, records, until_s=100)
    log.extend(detection_task.take_changes())
    assert any(is_segment(key) for key, _ in log)
    # the watermark passes the windows: keys shrink, then go
    for until in (400, 420, 460, 2_000, 6_000):
        run(detection_task, [], until_s=until)
        log.extend(detection_task.take_changes())
        again = restored(compacted(log), min_events=40)
        again.expire()  # expiry prunes a window without writing it: so does the restored
        assert states(again) == states(detection_task)
    slots, referenced = live_slots(log)
    assert slots == referenced == set()
    # only the new_value history (no events) outlives its windows
    assert [key.split("|")[0] for key in states(detection_task)] == ["seg.country"]


def test_segments_of_a_rule_this_engine_does_not_run_are_left_as_written() -> None:
    records = stream(7, 1_000)
    detection_task = task()
    run(detection_task, records, until_s=100)
    log = detection_task.take_changes()
    without_volume = [rule for rule in rules() if rule.id != "seg.volume"]
    partial = task(rule_set=without_volume)
    partial.restore(compacted(log))
    following = partial.take_changes()
    deleted = {owner_of(key) for key, value in following if is_segment(key) and value is None}
    assert not any("seg.volume" in key for key in deleted)
    assert "seg.volume" not in str(list(states(partial)))
