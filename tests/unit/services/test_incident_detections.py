"""Detections into incidents against the fake stores: open once, join with
optimistic concurrency retried on conflict, notify what each write added."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

import pytest

from audit.adapters.bundled_data import load_attributes, load_checklist_template
from audit.domain.checklists import ChecklistTemplate
from audit.domain.detection.record import Detection
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


def grown(det_id: str, count: int, minutes: int, **extra: object) -> Detection:
    """The detector's later version of a detection: same id, more events."""
    base = detection(det_id, "high", entities={"user.id": ["u1"]})
    return base.model_copy(
        update={
            "event_count": count,
            "event_ids": [f"{det_id}-e{i}" for i in range(count)],
            "last_seen": T0 + timedelta(minutes=minutes),
            **extra,
        }
    )


def test_a_detection_updated_in_place_moves_the_incident_count_once() -> None:
    world = World()
    other = detection("d2", "high", at=T0 + timedelta(minutes=1), entities={"user.id": ["u1"]})
    opened = world.service.handle_detections([grown("d1", 3, 5), other], T0)
    assert [o.action for o in opened] == ["opened", "joined"]
    incident_id = incident_id_for("d1")
    assert world.service.get(incident_id).event_count == 3 + 3

    later = grown("d1", 10, 20, entities={"user.id": ["u1"], "source.ip": ["198.51.100.7"]})
    outcomes = world.service.handle_detections([later], T0 + timedelta(minutes=21))
    assert [(o.action, o.reason) for o in outcomes] == [("joined", "detection updated")]
    incident = world.service.get(incident_id)
    assert incident.event_count == 10 + 3
    assert incident.detection_event_counts == {"d1": 10, "d2": 3}
    assert incident.last_event_at == T0 + timedelta(minutes=20)
    assert incident.entities["source.ip"] == ("198.51.100.7",)
    assert incident.detection_ids == ("d1", "d2")

    # The same update again (a detector restarted before its commit), and an
    # older version arriving after it: nothing moves, nothing is written.
    version = world.store.get(incident_id).version
    for replay in ([later], [later, grown("d1", 4, 6)], [grown("d1", 4, 6)]):
        again = world.service.handle_detections(replay, T0 + timedelta(minutes=30))
        assert {o.action for o in again} == {"unchanged"}
    assert world.store.get(incident_id).version == version
    assert world.service.get(incident_id).event_count == 13


def test_an_update_whose_events_end_before_the_incident_last_event_still_counts() -> None:
    # The incident's last event comes from another detection: the burst's growth
    # (more events, earlier than that) must still reach the count.
    world = World()
    late_other = detection(
        "d2", "high", at=T0 + timedelta(hours=2), entities={"user.id": ["u1"]}, count=5
    )
    world.service.handle_detections([grown("d1", 10, 5), late_other], T0)
    outcomes = world.service.handle_detections([grown("d1", 12, 6)], T0 + timedelta(hours=3))
    assert [o.action for o in outcomes] == ["joined"]
    incident = world.service.get(incident_id_for("d1"))
    assert incident.event_count == 12 + 5
    assert incident.last_event_at == T0 + timedelta(hours=2, minutes=5)


def test_two_versions_in_one_batch_count_the_latest_once() -> None:
    world = World()
    outcomes = world.service.handle_detections([grown("d1", 10, 5), grown("d1", 14, 9)], T0)
    assert [o.action for o in outcomes] == ["opened", "joined"]
    incident = world.service.get(incident_id_for("d1"))
    assert (incident.event_count, incident.detection_event_counts) == (14, {"d1": 14})
    assert incident.last_event_at == T0 + timedelta(minutes=9)


def test_one_by_one_and_sync_follow_an_updated_detection_too() -> None:
    world = World()
    world.service.handle_detection(grown("d1", 10, 5), T0)
    outcome = world.service.handle_detection(grown("d1", 11, 6), T0 + timedelta(minutes=7))
    assert (outcome.action, outcome.reason) == ("joined", "detection updated")
    assert world.service.handle_detection(grown("d1", 11, 6), T0).action == "unchanged"

    world.detections.put(grown("d1", 15, 8))
    assert world.service.sync_detections(None, T0 + timedelta(minutes=9)) == {"joined": 1}
    assert world.service.sync_detections(None, T0 + timedelta(minutes=9)) == {"unchanged": 1}
    assert world.service.get(incident_id_for("d1")).event_count == 15


def test_a_closed_incident_keeps_its_count_when_its_detection_grows() -> None:
    world = World()
    world.service.handle_detections([grown("d1", 10, 5)], T0)
    incident_id = incident_id_for("d1")
    world.service.transition(
        incident_id, "false_positive", by="lead", note="a test account", now=T0
    )
    outcomes = world.service.handle_detections([grown("d1", 20, 9)], T0 + timedelta(minutes=10))
    # correlated as new, its incident id is taken by the closed one: unchanged
    assert [(o.action, o.incident_id) for o in outcomes] == [("unchanged", incident_id)]
    assert [i.event_count for i in world.service.list()] == [10]
