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
