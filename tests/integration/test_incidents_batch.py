"""Batched incident handling (the detector's path for an alert storm) on the real node."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .incident_support import (  # noqa: F401 - incident_env is a fixture
    T0,
    IncidentEnv,
    attack_chain,
    detection,
    incident_env_fixture,
)

pytestmark = pytest.mark.integration


def test_a_batch_gives_the_incidents_one_by_one_handling_gives(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    chain = attack_chain()
    others = [
        detection(f"det-other-{i}", "high", rule="auth.brute_force", at=T0, orgs=(f"org_o{i}",))
        for i in range(3)
    ]
    batch = [*chain, *others]
    wiring.detections.put_many(batch)
    outcomes = wiring.service.handle_detections(batch, T0 + timedelta(hours=1))
    assert [o.action for o in outcomes] == ["opened", "joined", "joined", "joined"] + ["opened"] * 3

    incidents = {i.id: i for i in wiring.service.list()}
    assert len(incidents) == 4
    (chain_incident,) = [i for i in incidents.values() if "det-spray" in i.detection_ids]
    assert chain_incident.detection_ids == ("det-spray", "det-success", "det-grant", "det-export")
    assert chain_incident.severity.value == "critical"
    assert chain_incident.event_count == 30 + 5 + 1 + 40

    # The same batch again (a detector restarted before its commit): nothing changes.
    again = wiring.service.handle_detections(batch, T0 + timedelta(hours=2))
    assert {o.action for o in again} == {"unchanged"}
    assert wiring.service.get(chain_incident.id).history == chain_incident.history
    assert len(wiring.service.list()) == 4


def test_a_detection_updated_in_place_moves_its_incident(incident_env: IncidentEnv) -> None:
    wiring = incident_env.wiring()
    first = detection("det-burst", "high", rule="auth.brute_force", at=T0, count=10)
    other = detection("det-else", "high", rule="auth.brute_force", at=T0, orgs=("org_x",))
    wiring.service.handle_detections([first, other], T0)
    later = first.model_copy(
        update={
            "last_seen": T0 + timedelta(minutes=20),
            "event_count": 14,
            "entities": {"source.ip": ["198.51.100.99"]},
        }
    )
    outcomes = wiring.service.handle_detections([later, other], T0 + timedelta(minutes=21))
    assert [o.action for o in outcomes] == ["joined", "unchanged"]
    (incident,) = [i for i in wiring.service.list() if "det-burst" in i.detection_ids]
    assert incident.last_event_at == T0 + timedelta(minutes=20)
    assert incident.entities["source.ip"] == ("198.51.100.99",)
    assert incident.detection_ids == ("det-burst",)
    assert incident.event_count == 14  # the burst's growth, not 10 + 14

    # The same update again (a detector restarted before its commit): counted once.
    again = wiring.service.handle_detections([later], T0 + timedelta(minutes=22))
    assert [o.action for o in again] == ["unchanged"]
    assert wiring.service.get(incident.id).event_count == 14
    assert wiring.service.get(incident.id).detection_event_counts == {"det-burst": 14}
