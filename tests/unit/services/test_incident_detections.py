"""Detections into incidents against the fake stores: open once, join with
optimistic concurrency retried on conflict, notify what each write added."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import pytest

from audit.adapters.bundled_data import load_attributes, load_checklist_template
from audit.domain.checklists import ChecklistTemplate
from audit.domain.incidents import incident_id_for
from audit.domain.notifications import EventKind
from audit.errors import ConflictError, StoreUnavailable
from audit.services.incidents import IncidentService
from tests.fakes.incidents import FakeDetectionStore, FakeIncidentStore, FakeNotifier
from tests.unit.incidents.helpers import T0, detection


@functools.cache
def template(name: str) -> ChecklistTemplate:
    return load_checklist_template(name)


class World:
    def __init__(self, max_attempts: int = 5) -> None:
        self.store = FakeIncidentStore()
        self.detections = FakeDetectionStore()
        self.notifier = FakeNotifier()
        self.service = IncidentService(
            self.store,
            self.detections,
            self.notifier,
            load_attributes(None),
            template,
            max_attempts=max_attempts,
        )


def test_a_detection_opens_one_incident_and_a_replay_changes_nothing() -> None:
    world = World()
    first = world.service.handle_detection(detection("d1", "high"), T0)
    again = world.service.handle_detection(detection("d1", "high"), T0 + timedelta(hours=1))

    assert first.action == "opened" and first.incident_id == incident_id_for("d1")
    assert again.action == "unchanged"
    assert len(world.store.find()) == 1
    assert [n.kind for n in world.notifier.delivered()] == [EventKind.INCIDENT_OPENED]


def test_a_join_that_loses_a_race_is_reapplied_on_the_newer_version() -> None:
    world = World()
    shared = {"user.id": ["u1"]}
    world.service.handle_detection(detection("d1", "high", entities=shared), T0)
    incident_id = incident_id_for("d1")

    def someone_comments(document: dict[str, Any]) -> None:
        stored = world.store.get(incident_id).value
        document["history"] = [*document["history"], document["history"][-1]]
        document["title"] = stored.title + " (edited)"

    world.store.docs.race(incident_id, someone_comments, times=2)
    outcome = world.service.handle_detection(
        detection("d2", "critical", at=T0 + timedelta(minutes=10), entities=shared),
        T0 + timedelta(minutes=11),
    )

    assert outcome.action == "joined"
    incident = world.service.get(incident_id)
    assert incident.detection_ids == ("d1", "d2")
    assert incident.title.endswith("(edited)")  # the other writer's change is kept
    assert world.store.docs.conflicts == 2
    kinds = [n.kind for n in world.notifier.delivered()]
    assert kinds.count(EventKind.SEVERITY_RAISED) == 1


def test_endless_conflicts_give_up_with_a_conflict_error_and_write_nothing() -> None:
    world = World(max_attempts=3)
    world.service.handle_detection(detection("d1"), T0)
    incident_id = incident_id_for("d1")
    world.store.docs.race(incident_id, lambda document: None, times=3)
    with pytest.raises(ConflictError, match="3 attempts"):
        world.service.assign(incident_id, "dana", by="lead", note="on call", now=T0)
    assert world.service.get(incident_id).assignee is None


def test_an_unavailable_store_surfaces_and_nothing_half_happens() -> None:
    world = World()
    world.store.docs.outages.down(1, after=1)  # the search for open incidents passes
    with pytest.raises(StoreUnavailable):
        world.service.handle_detection(detection("d1"), T0)
    assert world.notifier.sent == []
    assert world.service.handle_detection(detection("d1"), T0).action == "opened"


def test_a_failing_receiver_does_not_undo_the_change() -> None:
    world = World()
    world.notifier.failing = True
    outcome = world.service.handle_detection(detection("d1", "high"), T0)
    assert outcome.action == "opened"
    assert world.service.get(outcome.incident_id or "").id == incident_id_for("d1")
    assert [n.outcome for n in world.notifier.sent] == ["failed"]


def test_stored_detections_are_synced_into_incidents_once() -> None:
    world = World()
    for det in (detection("d1", "high"), detection("d2", "low", orgs=("org_b",))):
        world.detections.put(det)
    first = world.service.sync_detections(None, T0 + timedelta(hours=1))
    second = world.service.sync_detections(None, T0 + timedelta(hours=2))
    assert first == {"detection_only": 1, "opened": 1}
    assert second == {"detection_only": 1, "unchanged": 1}
    assert len(world.store.find()) == 1
