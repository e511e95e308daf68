"""A windowed rule keeps its events one allowed lateness longer than its
window, so an event that arrives out of order (within the lateness) still
meets the events it makes a detection with; its state round-trips, and
state written before (the trailing window alone) still loads."""

from __future__ import annotations

from datetime import timedelta

import orjson

from audit.domain.detection import DetectionEngine, Router, parse_rule_text
from audit.domain.detection.record import Detection
from audit.domain.detection.state import dump_event

from .helpers import BERLIN, PARIS, at, ev

FRANKFURT = {"lat": 50.1109, "lon": 8.6821}

RULE = """
id: late.rule
name: late window
description: two failures in 30 s
severity: low
mitre: {technique: T1110}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
where: [{field: event.action, eq: user.login}]
type: threshold
threshold: 2
window: 30s
suppression: 60s
"""
KEY = "late.rule|org_1|usr_1"


def _rule():
    rule, problems = parse_rule_text(RULE, "late.yaml")
    assert rule is not None, problems
    return rule


def _engine() -> tuple[Router, DetectionEngine]:
    rule = _rule()
    return Router([rule]), DetectionEngine([rule], lateness=timedelta(minutes=2))


def _failure(seconds: float, event_id: str):
    return ev("user.login", "failure", when=at(seconds), event_id=event_id)


def _run(router: Router, engine: DetectionEngine, events) -> dict[str, Detection]:
    found: dict[str, Detection] = {}
    for event in events:
        for routed in router.route(event):
            for d in engine.process(routed):
                found[d.id] = d
    return found


def test_a_late_event_meets_what_the_window_had_let_go() -> None:
    # e0 at 0 s; e2 at 31 s moves e0 out of the 30 s window; e1 at 0 s
    # arrives last, 31 s late (under the 120 s lateness): e0 + e1 fire.
    router, engine = _engine()
    first = _run(router, engine, [_failure(0, "e0"), _failure(31, "e2")])
    assert first == {}
    (found,) = _run(router, engine, [_failure(0, "e1")]).values()
    assert found.first_seen == at(0)
    # e0 and e1 made it; e2, inside its suppression, extends it
    assert found.event_ids == ["e0", "e1", "e2"]
    assert engine.state_keys() == [KEY]  # no late lane was needed


def test_the_same_in_event_time_order() -> None:
    router, engine = _engine()
    events = [_failure(0, "e0"), _failure(0, "e1"), _failure(31, "e2")]
    (found,) = _run(router, engine, events).values()
    assert found.first_seen == at(0) and found.event_ids == ["e0", "e1", "e2"]


def test_a_window_ending_before_the_newest_is_checked() -> None:
    # e1 at 10 s arrives after e3 at 45 s: the window ending at e1 (0..10 s)
    # holds two events; the trailing window (15..45 s) holds one.
    router, engine = _engine()
    assert _run(router, engine, [_failure(0, "e0"), _failure(45, "e3")]) == {}
    (found,) = _run(router, engine, [_failure(10, "e1")]).values()
    assert found.first_seen == at(0)
    assert found.event_ids == ["e0", "e1", "e3"]  # e3: 45 s < 0 s + 60 s suppression


def test_no_window_of_the_width_holds_nothing_fires() -> None:
    router, engine = _engine()
    events = [_failure(0, "e0"), _failure(70, "e3"), _failure(35, "e1")]
    assert _run(router, engine, events) == {}  # 0, 35, 70: no two within 30 s


def test_beyond_window_plus_lateness_goes_to_the_late_lane() -> None:
    router, engine = _engine()
    _run(router, engine, [_failure(0, "e0"), _failure(200, "e2")])
    assert _run(router, engine, [_failure(1, "e1")]) == {}  # 1 < 200 - 30 - 120
    assert sorted(engine.state_keys()) == [KEY, KEY + "|~late"]


def test_state_round_trips_with_the_kept_events() -> None:
    router, engine = _engine()
    _run(router, engine, [_failure(0, "e0"), _failure(31, "e2")])
    raw = engine.dump_state(KEY)
    assert raw is not None
    # one list in event-time order: e0 (behind the window, kept) and e2
    assert [item[1] for item in orjson.loads(raw)["data"]] == ["e0", "e2"]
    restored_router, restored = _engine()
    assert restored.load_state(KEY, raw)
    assert restored.dump_state(KEY) == raw
    (found,) = _run(restored_router, restored, [_failure(0, "e1")]).values()
    assert found.event_ids == ["e0", "e1", "e2"]


def test_state_written_before_loads() -> None:
    # Before, the data of a windowed key was the trailing window alone: a
    # list of events. Such a state loads, and the window goes on from it.
    router, engine = _engine()
    (routed,) = router.route(_failure(10, "e0"))
    written_before = orjson.dumps(
        {
            "v": 1,
            "rule_id": "late.rule",
            "group_key": [list(pair) for pair in routed.group_key],
            "floor": [routed.time_us, "e0", 0],
            "pending": [],
            "open": None,
            "data": [dump_event(routed)],
        }
    )
    assert engine.load_state(KEY, written_before)
    assert _run(router, engine, [_failure(50, "e5")]) == {}  # e0 leaves the window
    (found,) = _run(router, engine, [_failure(12, "e1")]).values()
    assert found.event_ids == ["e0", "e1", "e5"]


def test_expire_forgets_what_no_event_within_the_lateness_can_meet() -> None:
    router, engine = _engine()
    _run(router, engine, [_failure(0, "e0"), _failure(31, "e2")])
    engine.advance(at(31 + 120 + 30))  # watermark 61 s: e2 (31 s) may still meet one at 61 s
    engine.expire(at(31 + 120 + 30))
    assert [item[1] for item in orjson.loads(engine.dump_state(KEY) or b"")["data"]] == ["e2"]
    engine.advance(at(31 + 120 + 31))
    engine.expire(at(31 + 120 + 31))
    assert engine.active_keys == 0


GEO_RULE = """
type: geo_velocity
id: late.geo
name: late travel
description: consecutive logins too far apart
severity: low
mitre: {technique: T1078}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
where: [{field: event.action, eq: user.login}]
min_distance_km: 500
min_speed_kmh: 900
max_interval: 1h
"""
GEO_KEY = "late.geo|org_1|usr_1"


def _geo_engine() -> tuple[Router, DetectionEngine]:
    rule, problems = parse_rule_text(GEO_RULE, "late_geo.yaml")
    assert rule is not None, problems
    return Router([rule]), DetectionEngine([rule], lateness=timedelta(minutes=2))


def _login(seconds: float, event_id: str, where: dict[str, float]):
    return ev("user.login", when=at(seconds), event_id=event_id, source__geo__location=where)


def test_geo_state_keeps_the_neighbours_and_round_trips() -> None:
    router, engine = _geo_engine()
    _run(router, engine, [_login(0, "e0", PARIS), _login(20, "e2", FRANKFURT)])
    raw = engine.dump_state(GEO_KEY)
    assert raw is not None
    data = orjson.loads(raw)["data"]
    assert data["event"][1] == "e2" and [item[1] for item in data["recent"]] == ["e0"]
    restored_router, restored = _geo_engine()
    assert restored.load_state(GEO_KEY, raw)
    assert restored.dump_state(GEO_KEY) == raw
    # Berlin at 10 s arrives late: its login before, Paris, is 878 km away
    (found,) = _run(restored_router, restored, [_login(10, "e1", BERLIN)]).values()
    assert found.event_ids == ["e0", "e1"]


def test_geo_state_written_before_loads() -> None:
    # Before, the data was the newest located event alone.
    router, engine = _geo_engine()
    (routed,) = router.route(_login(0, "e0", PARIS))
    written_before = orjson.dumps(
        {
            "v": 1,
            "rule_id": "late.geo",
            "group_key": [list(pair) for pair in routed.group_key],
            "floor": [routed.time_us, "e0", 0],
            "pending": [],
            "open": None,
            "data": dump_event(routed),
        }
    )
    assert engine.load_state(GEO_KEY, written_before)
    (found,) = _run(router, engine, [_login(10, "e1", BERLIN)]).values()
    assert found.event_ids == ["e0", "e1"]
