"""Incidents on the real node: correlation, idempotence, rebuild, concurrency, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from audit.domain.incidents import IncidentStatus, incident_id_for
from audit.errors import InvalidTransition, NotFound
from audit.services.incidents import BadInput

from .conftest import ROOT
from .incident_support import (  # noqa: F401 - incident_env is a fixture
    IP,
    T0,
    IncidentEnv,
    attack_chain,
    detection,
    incident_env_fixture,
)

pytestmark = pytest.mark.integration


def test_attack_chain_opens_exactly_one_incident(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    chain = attack_chain()
    actions = []
    for index, det in enumerate(chain):
        wiring.detections.put(det)
        actions.append(wiring.service.handle_detection(det, T0 + timedelta(hours=index)).action)
    assert actions == ["opened", "joined", "joined", "joined"]

    incidents = wiring.service.list()
    assert [i.id for i in incidents] == [incident_id_for("det-spray")]
    incident = incidents[0]
    assert incident.detection_ids == ("det-spray", "det-success", "det-grant", "det-export")
    assert incident.severity.value == "critical"
    assert incident.event_count == 30 + 5 + 1 + 40
    assert incident.data_categories == ("account", "authentication_security", "customer_content")
    assert incident.opened_at == T0
    assert [h.action for h in incident.history] == [
        "opened",
        "detection_added",
        "severity_raised",
        "detection_added",
        "detection_added",
        "severity_raised",
    ]

    # Replays change nothing: same incident, same history.
    for det in chain:
        assert wiring.service.handle_detection(det, T0 + timedelta(days=1)).action == "unchanged"
    again = wiring.service.get(incident.id)
    assert again.history == incident.history
    assert len(wiring.service.list()) == 1


def test_incidents_rebuilt_from_stored_detections(incident_env: IncidentEnv) -> None:
    first = incident_env.wiring()
    for det in attack_chain():
        first.detections.put(det)
    # A second version of the spraying detection (more events) overwrites the first.
    first.detections.put(attack_chain()[0].model_copy(update={"event_count": 31}))
    first.detections.refresh()
    stored = first.detections.list()
    assert [d.id for d in stored] == ["det-spray", "det-success", "det-grant", "det-export"]
    assert stored[0].event_count == 31
    assert [d.id for d in first.detections.list(rule_id="data.mass_export")] == ["det-export"]
    assert first.detections.list(organization_id="org_other") == []
    late = first.detections.list(since=T0 + timedelta(hours=3))
    assert [d.id for d in late] == ["det-export"]

    counts = first.service.sync_detections(None, T0 + timedelta(days=2))
    assert counts == {"joined": 3, "opened": 1}
    assert first.service.sync_detections(None, T0 + timedelta(days=2)) == {"unchanged": 4}
    (incident,) = first.service.list()
    # T0 comes from the detection, not from the time of the sync.
    assert incident.opened_at == stored[0].detected_at


def test_cross_org_detection_makes_one_incident_listing_every_org(
    incident_env: IncidentEnv,
) -> None:
    wiring = incident_env.wiring()
    orgs = ("org_0b1d", "org_2c44", "org_7f3a")
    spray = detection(
        "det-xorg",
        "high",
        rule="auth.password_spraying",
        at=T0,
        orgs=orgs,
        entities={"source.ip": [IP]},
        count=90,
    )
    wiring.service.handle_detection(spray, T0)
    # A later detection of one of those tenants from the same IP joins it.
    follow = detection(
        "det-follow",
        "medium",
        rule="auth.brute_force",
        at=T0 + timedelta(hours=1),
        orgs=("org_2c44",),
        entities={"source.ip": [IP]},
    )
    assert wiring.service.handle_detection(follow, T0 + timedelta(hours=1)).action == "joined"
    incidents = wiring.service.list()
    assert len(incidents) == 1
    assert incidents[0].organization_ids == orgs
    for org in orgs:
        assert [i.id for i in wiring.service.list(org=org)] == [incidents[0].id]
    assert wiring.service.list(org="org_unrelated") == []
    assert len(wiring.service.list(rule="auth.brute_force")) == 1
    assert wiring.service.list(status="closed") == []


def test_low_detection_alone_stays_a_detection(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    low = detection("det-low", "low", rule="auth.new_country", at=T0)
    outcome = wiring.service.handle_detection(low, T0)
    assert (outcome.action, outcome.incident_id) == ("detection_only", None)
    assert wiring.service.list() == []


def test_two_writer_processes_lose_nothing(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    spray = attack_chain()[0]
    incident_id = wiring.service.handle_detection(spray, T0).incident_id
    assert incident_id is not None
    env = {**os.environ, **incident_env.env()}
    start = time.time() + 3.0  # both import and connect first, then start together
    writers = [
        ["--name", "alice", "--status", "acknowledged"],
        ["--name", "bob", "--assign", "carol"],
    ]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.incident_support",
                "writer",
                "--incident",
                incident_id,
                "--count",
                "20",
                "--start",
                str(start),
                *extra,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for extra in writers
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    conflicts = [json.loads(out.splitlines()[-1])["conflicts"] for out in outputs]
    print(f"write conflicts retried per writer: {conflicts}")

    incident = wiring.service.get(incident_id)
    comments = sorted(h.why for h in incident.history if h.action == "commented")
    assert comments == sorted([f"alice-{i}" for i in range(20)] + [f"bob-{i}" for i in range(20)])
    # opened + 40 comments + a transition + an assignment
    assert len(incident.history) == 43
    assert incident.status is IncidentStatus.ACKNOWLEDGED
    assert incident.assignee == "carol"
    # Each writer's own entries are in its order.
    for name in ("alice", "bob"):
        mine = [h.why for h in incident.history if h.action == "commented" and h.by == name]
        assert mine == [f"{name}-{i}" for i in range(20)]


def test_refused_transitions_change_nothing(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    service = wiring.service
    incident_id = service.handle_detection(attack_chain()[1], T0).incident_id
    assert incident_id is not None
    now = T0 + timedelta(hours=1)

    with pytest.raises(InvalidTransition, match="cannot go from open to closed; allowed next"):
        service.transition(incident_id, "closed", by="oncall", note="done", now=now)
    with pytest.raises(InvalidTransition, match="unknown status 'fixed'"):
        service.transition(incident_id, "fixed", by="oncall", note="", now=now)
    with pytest.raises(InvalidTransition, match="false_positive needs a reason"):
        service.transition(incident_id, "false_positive", by="oncall", note=" ", now=now)
    with pytest.raises(BadInput, match="by must not be blank"):
        service.transition(incident_id, "acknowledged", by="", note="x", now=now)
    with pytest.raises(NotFound):
        service.transition("inc-nope", "acknowledged", by="oncall", note="x", now=now)
    assert len(service.get(incident_id).history) == 1

    for status in ("acknowledged", "investigating", "contained", "resolved", "closed"):
        service.transition(incident_id, status, by="oncall", note=f"to {status}", now=now)
    closed = service.get(incident_id)
    assert closed.status is IncidentStatus.CLOSED
    with pytest.raises(InvalidTransition, match="closed is final"):
        service.transition(incident_id, "false_positive", by="oncall", note="oops", now=now)
    with pytest.raises(InvalidTransition, match="assigning it is not possible"):
        service.assign(incident_id, "dana", by="oncall", now=now)
    assert service.get(incident_id).history == closed.history


def test_checklist_decisions_and_show(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    service = wiring.service
    chain = attack_chain()
    incident_id = service.handle_detection(chain[0], T0).incident_id
    assert incident_id is not None
    service.handle_detection(chain[3], T0 + timedelta(minutes=5))  # customer content
    now = T0 + timedelta(hours=2)

    service.decide(
        incident_id, "personal_data_involved", answer="yes", rationale="logins", by="dpo", now=now
    )
    service.decide(
        incident_id,
        "t0_and_legal_hold",
        answer="recorded",
        rationale="rule engine",
        by="dpo",
        now=now,
    )
    with pytest.raises(InvalidTransition, match="answer 'maybe' is not allowed"):
        service.decide(
            incident_id, "personal_data_involved", answer="maybe", rationale="x", by="dpo", now=now
        )
    with pytest.raises(InvalidTransition, match="no item 'coffee'"):
        service.decide(incident_id, "coffee", answer="yes", rationale="x", by="dpo", now=now)

    view = service.show(incident_id, now)
    items = {i["item_id"]: i for i in view["checklist"]}
    assert items["personal_data_involved"]["decision"]["answer"] == "yes"
    assert items["personal_data_involved"]["status"] == "done"
    hold = items["t0_and_legal_hold"]["decision"]["details"]["hold_id"]
    assert hold == view["legal_hold_request"]["hold_id"]
    # Customer content: the processor notice to the owner is due 24 h after T0.
    notice = items["processor_notice:org_7f3a"]
    assert notice["applicable"] is True
    assert notice["due_at"] == (T0 + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert items["risk_assessment"]["applicable"] is True
    assert view["allowed_next"] == ["acknowledged", "false_positive"]
    assert view["facts"]["roles"]["customer_content"] == "processor"
    assert [h["action"] for h in view["history"]][-2:] == ["decision_recorded"] * 2
