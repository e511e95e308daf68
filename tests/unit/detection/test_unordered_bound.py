"""An event arriving out of order skips the scan of its windows when a bound
shows none of them can hold, and then leaves the engine exactly where the
scan would have.

The bound (``_Windowed._could_hold``) is what keeps a key's steady traffic,
shuffled by its producers, from costing its whole window per event. It is
checked here against the scan itself: two engines get the same stream in
the same perturbed order, one with the bound and one scanning every
out-of-order event; after every event they must have emitted the same
detections and hold the same state, byte for byte.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit.domain.detection import DetectionEngine, Router, parse_rule_text
from audit.domain.detection.evaluators import _Windowed

from .helpers import at, ev

LATENESS = timedelta(seconds=60)
HEADER = """
id: bound.rule
name: bound
description: bound against scan
severity: low
mitre: {technique: T1110}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
where: [{field: event.action, eq: user.login}]
"""
BODIES = {
    "threshold": "type: threshold\nthreshold: {amount}\n",
    "value_count": "type: value_count\ndistinct: [{{fields: [source.ip], at_least: {amount}}}]\n",
    "value_count_two": (
        "type: value_count\ndistinct:\n"
        "  - {{fields: [source.ip], at_least: {amount}}}\n"
        "  - {{fields: [user.agent.original], at_least: 2}}\n"
    ),
    "sum": "type: sum\nfield: elastra.records\nat_least: {total}\n",
}


def _rule(kind: str, window: int, suppression: int, amount: int):
    body = BODIES[kind].format(amount=amount, total=amount * 10 + 0.3)
    text = f"{HEADER}{body}window: {window}s\nsuppression: {suppression}s\n"
    rule, problems = parse_rule_text(text, "bound.yaml")
    assert rule is not None, problems
    return rule


def _engines(rule) -> tuple[Router, DetectionEngine, DetectionEngine]:
    bounded = DetectionEngine([rule], lateness=LATENESS)
    scanning = DetectionEngine([rule], lateness=LATENESS)
    evaluator = scanning._evaluators[rule.id]
    assert isinstance(evaluator, _Windowed)
    evaluator.bounded = False
    return Router([rule]), bounded, scanning


def _states(engine: DetectionEngine) -> dict[str, Any]:
    """Each key's state as written, and its window's aggregates as kept."""
    states: dict[str, Any] = {}
    for key in engine.state_keys():
        data = engine._states[key].data
        states[key] = (
            engine.dump_state(key),
            list(data.values),
            [dict(sorted(counts.items())) for counts in data.counts],
            round(data.total, 6),
        )
    return states


stream = st.lists(
    st.tuples(
        st.integers(0, 300),  # second of the event
        st.integers(0, 1),  # user
        st.integers(0, 3),  # ip
        st.floats(0, 40.0),  # records, as a float amount
        st.floats(0, 59.0),  # arrival delay, under the lateness
        st.integers(0, 2),  # user agent
    ),
    max_size=120,
)


LET_GO = [  # two events at 0 s, one at 31 s, then a third at 0 s arrives 59 s late
    (0, 0, 0, 11.0, 0.0, 0),
    (0, 0, 1, 11.0, 0.0, 1),
    (0, 0, 2, 11.0, 59.0, 2),
    (31, 0, 3, 0.0, 0.0, 0),
]


@settings(max_examples=300, deadline=None)
@example(kind="sum", window=30, suppression=30, amount=3, items=LET_GO)
@example(kind="value_count_two", window=30, suppression=30, amount=3, items=LET_GO)
@example(kind="value_count", window=30, suppression=30, amount=3, items=LET_GO)
@example(kind="threshold", window=30, suppression=30, amount=3, items=LET_GO)
@given(
    kind=st.sampled_from(sorted(BODIES)),
    window=st.integers(10, 120),
    suppression=st.integers(10, 300),
    amount=st.integers(1, 6),
    items=stream,
)
def test_the_bound_leaves_what_the_scan_leaves(kind, window, suppression, amount, items) -> None:
    rule = _rule(kind, window, suppression, amount)
    router, bounded, scanning = _engines(rule)
    arrivals = sorted(
        (second + delay, index) for index, (second, *_, delay, _agent) in enumerate(items)
    )
    for _, index in arrivals:
        second, user, ip, records, _delay, agent = items[index]
        event = ev(
            "user.login",
            "failure",
            when=at(second),
            user=f"u{user}",
            event_id=f"e{index:04d}",
            source__ip=f"10.0.0.{ip}",
            elastra__records=records,
            user__agent__original=f"agent {agent}",
        )
        for routed in router.route(event):
            assert bounded.process(routed) == scanning.process(routed)
        assert _states(bounded) == _states(scanning)
    assert bounded.flush() == scanning.flush()


def _refresh(second: float, event_id: str, country: str) -> Any:
    """One event of session sess_1, seen from ``country``."""
    return ev(
        "session.refresh",
        when=at(second),
        event_id=event_id,
        elastra__session__id="sess_1",
        source__geo__country_iso_code=country,
    )


def _session_events(count: int, country_of: Any) -> list:
    return [_refresh(index * 0.5, f"s{index:05d}", country_of(index)) for index in range(count)]


def _hijack_engine():
    from .helpers import pack

    rule = pack()["session.hijack"]
    return Router([rule]), DetectionEngine([rule], lateness=timedelta(minutes=2))


def test_a_session_shuffled_by_its_producers_is_not_scanned(monkeypatch) -> None:
    # A session's steady traffic, one country, each event a moment out of
    # order: no window can reach two countries, so nothing is scanned.
    router, engine = _hijack_engine()
    scanned: list[str] = []
    original = _Windowed._scan_unordered

    def counting(self, data, event):
        scanned.append(event.event_id)
        return original(self, data, event)

    monkeypatch.setattr(_Windowed, "_scan_unordered", counting)
    events = _session_events(2000, lambda index: "FR")
    for first, second in zip(events[::2], events[1::2], strict=True):
        for event in (second, first):  # each pair swapped
            for routed in router.route(event):
                assert engine.process(routed) == []
    assert scanned == []
    (key,) = engine.state_keys()
    assert b'"s01999"' in (engine.dump_state(key) or b"")
    assert b'"s00000"' in (engine.dump_state(key) or b"")

    # One event from another country, out of order: that one is scanned, and fires.
    other = _refresh(999.2, "x00001", "BR")
    (found,) = [d for routed in router.route(other) for d in engine.process(routed)]
    assert scanned == ["x00001"]
    assert found.rule_id == "session.hijack"
    assert found.event_count == 2001


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_an_event_that_completes_a_window_out_of_order_fires(kind) -> None:
    # The bound must not hide a window that the late event completes.
    # Two events then the one between them: threshold 3, two addresses,
    # two agents, a sum of 24 against 20.3.
    rule = _rule(kind, 60, 60, 3 if kind == "threshold" else 2)
    router, bounded, _ = _engines(rule)

    def login(second: float, event_id: str, ip: str, agent: str) -> Any:
        return ev(
            "user.login",
            "failure",
            when=at(second),
            event_id=event_id,
            source__ip=ip,
            elastra__records=8,
            user__agent__original=agent,
        )

    found = []
    for event in (login(10, "a", "10.0.0.1", "x"), login(50, "c", "10.0.0.1", "x")):
        for routed in router.route(event):
            found += bounded.process(routed)
    assert found == []
    for routed in router.route(login(20, "b", "10.0.0.2", "y")):
        found += bounded.process(routed)
    (detection,) = found
    assert detection.event_ids == ["a", "b", "c"]


def test_the_events_a_rule_holds_are_counted() -> None:
    # What the detector's memory grows with (audit_detection_state_entries).
    router, engine = _hijack_engine()
    for event in _session_events(40, lambda index: "FR"):
        for routed in router.route(event):
            engine.process(routed)
    assert engine.entries_per_rule() == {"session.hijack": 40}
    other = _refresh(20.2, "x00002", "BR")
    for routed in router.route(other):
        assert engine.process(routed)  # fires: the window's events leave it
    assert engine.entries_per_rule() == {"session.hijack": 0}


def test_held_events_share_their_keys_key_objects() -> None:
    # ~280 of an event's ~830 bytes in a window were its own copies of the
    # key string and group key tuples: held events share the state's.
    router, engine = _hijack_engine()
    events = _session_events(6, lambda index: "FR")
    for event in events[3:] + events[:3]:  # in order, then three out of order
        for routed in router.route(event):
            engine.process(routed)
    (state,) = engine._states.values()
    held = list(state.data.older or ()) + list(state.data.events)
    assert len(held) == 6
    assert all(e.key is state.key and e.group_key is state.group_key for e in held)
    assert all(e.rule_id is state.rule_id for e in held)
    assert len({id(e.organization_id) for e in held}) == 1


def test_equal_fields_are_shared_but_not_across_types() -> None:
    # A key's events mostly project the same fields; an event equal to the
    # previous one keeps its dict. 1, 1.0 and True are == but not the same
    # to a rule (a sum counts numbers, not booleans): those are not shared.
    rule = _rule("sum", 60, 60, 2)
    router, engine, _ = _engines(rule)

    def login(second: float, records: Any) -> Any:
        return ev("user.login", "failure", when=at(second), elastra__records=records)

    for index, records in enumerate([1, 1, True, 1.0, 1]):
        for routed in router.route(login(index, records)):
            engine.process(routed)
    (state,) = engine._states.values()
    held = list(state.data.events)
    assert [e.fields["elastra.records"] for e in held] == [1, 1, True, 1.0, 1]
    assert [type(e.fields["elastra.records"]) for e in held] == [int, int, bool, float, int]
    assert held[1].fields is held[0].fields
    assert held[2].fields is not held[1].fields
    assert held[3].fields is not held[1].fields
    assert held[4].fields is not held[3].fields
    assert state.data.total == 1 + 1 + 0 + 1.0 + 1  # True counts nothing


def test_restored_events_share_as_live_ones_do() -> None:
    router, engine = _hijack_engine()
    for event in _session_events(10, lambda index: "FR"):
        for routed in router.route(event):
            engine.process(routed)
    (key,) = engine.state_keys()
    _, restored = _hijack_engine()
    restored.load_state(key, engine.dump_state(key))
    state = restored._states[key]
    held = list(state.data.events)
    assert len(held) == 10
    assert all(e.key is state.key and e.rule_id is state.rule_id for e in held)
    assert len({id(e.fields) for e in held}) == 1  # ten equal dicts decoded, one kept
    assert restored.dump_state(key) == engine.dump_state(key)
