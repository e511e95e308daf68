"""A sequence rule fires for the same keys in event-time order and in an
arrival order perturbed by less than the allowed lateness, and for exactly
the keys where some window of its width, ending at an event of the last
step, holds the steps in event-time order (a brute-force reference)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit.domain.detection import parse_rule_text

from .helpers import at, detect_arrival, ev

LATENESS = timedelta(seconds=60)


def _rule(window: int, suppression: int, failures: int):
    text = f"""
type: sequence
id: prop.seq
name: property sequence
description: failures then a success
severity: low
mitre: {{technique: T1110}}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
window: {window}s
suppression: {suppression}s
steps:
  - name: failures
    count: {failures}
    where:
      - {{field: event.action, eq: user.login}}
      - {{field: event.outcome, eq: failure}}
  - name: success
    where:
      - {{field: event.action, eq: user.login}}
      - {{field: event.outcome, eq: success}}
"""
    rule, problems = parse_rule_text(text, "prop_seq.yaml")
    assert rule is not None, problems
    return rule


def _reference(window_s: int, failures: int, items) -> set[str]:
    """Users with a success at ``t`` preceded (in (time, index) order), within
    [t - window, t], by ``failures`` failures."""
    width = window_s
    fired = set()
    ordered = sorted((second, index, user, ok) for index, (second, user, ok, _) in enumerate(items))
    for second, index, user, ok in ordered:
        if not ok:
            continue
        before = [
            1
            for s2, i2, u2, ok2 in ordered
            if u2 == user and not ok2 and second - width <= s2 and (s2, i2) < (second, index)
        ]
        if len(before) >= failures:
            fired.add(f"u{user}")
    return fired


stream = st.lists(
    st.tuples(
        st.integers(0, 600),  # second of the event
        st.integers(0, 1),  # user
        st.booleans(),  # success?
        st.floats(0, 59.0),  # arrival delay, under the lateness
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
# The same second: the failure (e0) precedes the success (e1) by id; it arrives after.
@example(window=30, suppression=30, failures=1, items=[(0, 0, False, 1.0), (0, 0, True, 0.0)])
# e0 fails at 0 s, e2 (a failure at 40 s) arrives and moves it out of the window;
# e1, the success at 5 s, arrives 55 s late: e0 must still be there for it.
@example(
    window=30,
    suppression=30,
    failures=1,
    items=[(0, 0, False, 0.0), (5, 0, True, 55.0), (40, 0, False, 0.0)],
)
@given(
    window=st.integers(30, 300),
    suppression=st.integers(30, 900),
    failures=st.integers(1, 3),
    items=stream,
)
def test_sequence_fires_for_the_same_keys_whatever_the_arrival_order(
    window, suppression, failures, items
) -> None:
    rule = _rule(window, suppression, failures)
    events = [
        ev(
            "user.login",
            "success" if ok else "failure",
            when=at(second),
            user=f"u{user}",
            event_id=f"e{index:04d}",
        )
        for index, (second, user, ok, _) in enumerate(items)
    ]
    expected = _reference(window, failures, items)
    in_order = sorted(range(len(events)), key=lambda i: (items[i][0], f"e{i:04d}"))
    assert _users(rule, [events[i] for i in in_order]) == expected
    arrival = sorted(range(len(events)), key=lambda i: (items[i][0] + items[i][3], i))
    assert _users(rule, [events[i] for i in arrival]) == expected


def _users(rule, events) -> set[str]:
    return {d.group_key["user.id"] for d in detect_arrival(rule, events, LATENESS)}
