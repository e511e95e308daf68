"""Impossible travel compares each login with the one before it in event
time (consecutive logins). In event-time order the engine fires for exactly
the users with such a pair (brute-force reference); in an arrival order
perturbed by less than the allowed lateness it judges every consecutive
pair still, so it fires for those users too, and for no user without a
too-fast pair at all (a pair can be consecutive for a while, until an event
between the two arrives: then it may fire where event-time order would not)."""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations, pairwise

from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit.domain.detection import parse_rule_text
from audit.domain.detection.evaluators import haversine_km

from .helpers import BERLIN, NEW_YORK, PARIS, at, detect_arrival, ev

LATENESS = timedelta(seconds=60)
#: Frankfurt: under 500 km from both Paris and Berlin, which are 878 km apart
FRANKFURT = {"lat": 50.1109, "lon": 8.6821}
PLACES = (PARIS, BERLIN, NEW_YORK, FRANKFURT)
RULE = """
type: geo_velocity
id: prop.geo
name: property travel
description: consecutive logins too far apart
severity: low
mitre: {technique: T1078}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id, user.id]
where: [{field: event.action, eq: user.login}]
location_field: source.geo.location
min_distance_km: 500
min_speed_kmh: 900
max_interval: 1h
suppression: 60s
"""


def _too_fast(a, b) -> bool:
    (ta, pa), (tb, pb) = a, b
    if pa == pb or abs(ta - tb) > 3600:
        return False
    km = haversine_km(PLACES[pa]["lat"], PLACES[pa]["lon"], PLACES[pb]["lat"], PLACES[pb]["lon"])
    hours = abs(ta - tb) / 3600
    return km >= 500 and (hours == 0 or km / hours >= 900)


def _references(items) -> tuple[set[str], set[str]]:
    consecutive, any_pair = set(), set()
    for user in {u for _, u, _, _ in items}:
        mine = sorted((s, i, p) for i, (s, u, p, _) in enumerate(items) if u == user)
        logins = [(s, p) for s, _, p in mine]
        if any(_too_fast(a, b) for a, b in pairwise(logins)):
            consecutive.add(f"u{user}")
        if any(_too_fast(a, b) for a, b in combinations(logins, 2)):
            any_pair.add(f"u{user}")
    return consecutive, any_pair


stream = st.lists(
    st.tuples(
        st.integers(0, 900),  # second of the login
        st.integers(0, 1),  # user
        st.integers(0, len(PLACES) - 1),  # where
        st.floats(0, 59.0),  # arrival delay, under the lateness
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
# Paris at 0 s, Frankfurt at 20 s, then the Berlin login of 10 s, 15 s late:
# compared with the newest only (Frankfurt, 424 km) it was never judged
# against Paris (878 km in 10 s), the login before it in event time.
@example(items=[(0, 0, 0, 0.0), (10, 0, 1, 15.0), (20, 0, 3, 0.0)])
# Berlin at 0 s; Frankfurt (e2) and Paris (e0) in the same second, Paris
# arriving after: before Frankfurt by id, so judged against Berlin.
@example(items=[(206, 1, 0, 46.9), (0, 1, 1, 0.0), (206, 1, 3, 0.0)])
@given(items=stream)
def test_every_consecutive_pair_is_judged_whatever_the_arrival_order(items) -> None:
    rule, problems = parse_rule_text(RULE, "prop_geo.yaml")
    assert rule is not None, problems
    events = [
        ev(
            "user.login",
            when=at(s),
            user=f"u{u}",
            event_id=f"e{i:04d}",
            source__geo__location=PLACES[p],
        )
        for i, (s, u, p, _) in enumerate(items)
    ]
    consecutive, any_pair = _references(items)
    in_order = sorted(range(len(events)), key=lambda i: (items[i][0], f"e{i:04d}"))
    assert _users(rule, [events[i] for i in in_order]) == consecutive
    arrival = sorted(range(len(events)), key=lambda i: (items[i][0] + items[i][3], i))
    perturbed = _users(rule, [events[i] for i in arrival])
    assert consecutive <= perturbed <= any_pair


def _users(rule, events) -> set[str]:
    return {d.group_key["user.id"] for d in detect_arrival(rule, events, LATENESS)}
