from datetime import timedelta

import pytest

from audit.domain.detection.record import Severity
from audit.domain.incidents import (
    DataRole,
    DecisionKind,
    IncidentStatus,
    apply_detection,
    correlate,
    incident_id_for,
    open_incident,
    process_detection,
    refresh_detection,
    transition,
)
from audit.errors import InvalidTransition

from .helpers import T0, detection

IP = "198.51.100.23"


def run(detections, now_step=timedelta(minutes=1)):
    """Feed detections through process_detection, keeping the incidents store in a dict."""
    store = {}
    decisions = []
    for index, det in enumerate(detections):
        decision, incident = process_detection(det, list(store.values()), T0 + index * now_step)
        decisions.append(decision)
        if incident is not None:
            store[incident.id] = incident
    return decisions, store


def test_attack_chain_becomes_one_incident_with_maximum_severity() -> None:
    spray = detection(
        "spray",
        "medium",
        entities={"source.ip": [IP], "user.id": ["u1", "u2", "u3"]},
    )
    success = detection(
        "success",
        "high",
        at=T0 + timedelta(minutes=20),
        entities={"source.ip": [IP], "user.id": ["u2"]},
    )
    grant = detection(
        "grant",
        "high",
        at=T0 + timedelta(hours=2),
        entities={"user.id": ["u2"], "user.target.id": ["u9"]},
        categories=("account",),
    )
    export = detection(
        "export",
        "critical",
        at=T0 + timedelta(hours=5),
        entities={"user.id": ["u9"], "elastra.session.id": ["s1"]},
        categories=("customer_content",),
        count=40,
    )
    decisions, store = run([spray, success, grant, export])
    assert [d.kind for d in decisions] == [
        DecisionKind.OPEN,
        DecisionKind.JOIN,
        DecisionKind.JOIN,
        DecisionKind.JOIN,
    ]
    assert list(store) == [incident_id_for("spray")]
    incident = store[incident_id_for("spray")]
    assert incident.detection_ids == ("spray", "success", "grant", "export")
    assert incident.severity is Severity.CRITICAL
    assert incident.event_count == 3 + 3 + 3 + 40
    assert incident.entities["user.id"] == ("u1", "u2", "u3", "u9")
    assert incident.data_categories == ("account", "authentication_security", "customer_content")
    assert incident.roles["customer_content"] is DataRole.PROCESSOR
    assert incident.roles["account"] is DataRole.CONTROLLER
    assert incident.opened_at == T0
    assert incident.first_event_at == T0
    assert incident.last_event_at == T0 + timedelta(hours=5, minutes=5)
    assert decisions[2].shared_entities == {"user.id": ("u2",)}
    raised = [h for h in incident.history if h.action == "severity_raised"]
    assert [(h.changes["from"], h.changes["to"]) for h in raised] == [
        ("medium", "high"),
        ("high", "critical"),
    ]


def test_low_detection_joins_a_matching_incident_or_stays_a_detection() -> None:
    opened = open_incident(detection("d1", entities={"source.ip": [IP]}), T0)
    low_match = detection("low1", "low", at=T0 + timedelta(hours=1), entities={"source.ip": [IP]})
    low_other = detection(
        "low2", "low", at=T0 + timedelta(hours=1), entities={"source.ip": ["203.0.113.9"]}
    )
    assert correlate(low_match, [opened], T0).kind is DecisionKind.JOIN
    decision = correlate(low_other, [opened], T0)
    assert decision.kind is DecisionKind.DETECTION_ONLY
    assert decision.incident_id is None


def test_medium_without_match_opens_with_deterministic_id() -> None:
    det = detection("abc", "medium")
    first = correlate(det, [], T0)
    again = correlate(det, [], T0 + timedelta(hours=1))
    assert first.kind is DecisionKind.OPEN
    assert first.incident_id == again.incident_id == incident_id_for("abc")
    assert incident_id_for("abc") != incident_id_for("abd")


@pytest.mark.parametrize(
    ("org", "gap", "kind"),
    [
        ("org_a", timedelta(hours=23, minutes=50), DecisionKind.JOIN),
        ("org_a", timedelta(hours=24, minutes=10), DecisionKind.OPEN),
        ("org_b", timedelta(minutes=10), DecisionKind.OPEN),
    ],
)
def test_join_needs_same_organization_and_24_hours(org, gap, kind) -> None:
    opened = open_incident(detection("d1", entities={"user.id": ["u1"]}), T0)
    # the opening detection's events end at T0 + 5 min
    later = detection(
        "d2", orgs=(org,), at=T0 + timedelta(minutes=5) + gap, entities={"user.id": ["u1"]}
    )
    assert correlate(later, [opened], T0).kind is kind


def test_cross_organization_detection_opens_one_incident_listing_every_organization() -> None:
    spray = detection(
        "xspray", "high", orgs=("org_c", "org_a", "org_b"), entities={"source.ip": [IP]}
    )
    decisions, store = run(
        [spray, detection("later", "medium", orgs=("org_b",), entities={"source.ip": [IP]})]
    )
    assert [d.kind for d in decisions] == [DecisionKind.OPEN, DecisionKind.JOIN]
    (incident,) = store.values()
    assert incident.organization_ids == ("org_a", "org_b", "org_c")
    assert incident.affected_organization_ids == ("org_a", "org_b", "org_c")


def test_affected_organizations_come_from_the_resource_owner() -> None:
    det = detection(
        "cross", "high", orgs=("org_a",), affected=("org_z",), categories=("customer_content",)
    )
    incident = open_incident(det, T0)
    assert incident.affected_organization_ids == ("org_z",)
    assert incident.organization_ids == ("org_a",)


def test_replayed_detection_changes_nothing_and_closed_incidents_take_none() -> None:
    det = detection("d1", entities={"user.id": ["u1"]})
    incident = open_incident(det, T0)
    assert apply_detection(incident, det, T0) is incident
    assert correlate(det, [incident], T0).incident_id == incident.id
    closed = transition(incident, IncidentStatus.FALSE_POSITIVE, by="u", at=T0, why="test")
    other = detection("d2", "medium", entities={"user.id": ["u1"]})
    assert correlate(other, [closed], T0).kind is DecisionKind.OPEN
    with pytest.raises(InvalidTransition, match="active"):
        apply_detection(closed, other, T0)


def test_a_grown_detection_moves_the_count_by_its_growth_in_any_order() -> None:
    first = detection("d1", entities={"user.id": ["u1"]}, count=3)
    incident = apply_detection(
        open_incident(first, T0), detection("d2", entities={"user.id": ["u1"]}, count=4), T0
    )
    assert incident.event_count == 7
    v2 = first.model_copy(update={"event_count": 9, "last_seen": T0 + timedelta(hours=1)})
    v3 = first.model_copy(
        update={
            "event_count": 12,
            "last_seen": T0 + timedelta(hours=2),
            "entities": {"user.id": ["u1"], "source.ip": [IP]},
        }
    )
    # every order of every subset of updates, each possibly twice, ends the same
    for updates in ([v2, v3], [v3, v2], [v3, v3, v2, v2], [v2, v2, v3]):
        result = incident
        for update in updates:
            result = refresh_detection(result, update)
        assert result.event_count == 12 + 4
        assert result.detection_event_counts == {"d1": 12, "d2": 4}
        assert result.last_event_at == T0 + timedelta(hours=2)
        assert result.entities == {"source.ip": (IP,), "user.id": ("u1",)}
        assert result.history == incident.history
    assert refresh_detection(incident, first) is incident
    # process_detection (correlation) routes a known detection to the same refresh
    decision, changed = process_detection(v2, [incident], T0)
    assert decision.kind is DecisionKind.JOIN and changed is not None
    assert changed.event_count == 9 + 4
    # a detection it does not hold, or an inactive incident: nothing moves
    assert refresh_detection(incident, detection("d3", count=50)) is incident
    closed = transition(incident, IncidentStatus.FALSE_POSITIVE, by="u", at=T0, why="test")
    assert refresh_detection(closed, v3) is closed


def test_an_incident_stored_before_the_counts_map_never_double_counts() -> None:
    det = detection("d1", entities={"user.id": ["u1"]}, count=10)
    legacy = open_incident(det, T0).model_copy(update={"detection_event_counts": {}})
    # it cannot know what d1 added when it joined: the count only rises to what it knows
    assert refresh_detection(legacy, det).event_count == 10
    grown = refresh_detection(legacy, det.model_copy(update={"event_count": 15}))
    assert grown.event_count == 15 and grown.detection_event_counts == {"d1": 15}
    assert refresh_detection(grown, det.model_copy(update={"event_count": 16})).event_count == 16


def test_best_match_shares_most_entity_kinds() -> None:
    a = open_incident(detection("a", entities={"user.id": ["u1"]}), T0)
    b = open_incident(detection("b", entities={"user.id": ["u1"], "source.ip": [IP]}), T0)
    det = detection("c", entities={"user.id": ["u1"], "source.ip": [IP]})
    assert correlate(det, [a, b], T0).incident_id == b.id
