"""Webhooks against a local HTTP receiver; the delivery log on the real node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.domain.notifications import SIGNATURE_HEADER, verify_signature

from .incident_support import (  # noqa: F401 - incident_env is a fixture
    IncidentEnv,
    Receiver,
    attack_chain,
    incident_env_fixture,
)

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-tests"


def hooked(env: IncidentEnv, receiver: Receiver, **extra: object):  # type: ignore[no-untyped-def]
    return env.wiring(
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        webhook_backoff_seconds=0.05,
        webhook_timeout_seconds=5,
        **extra,
    )


def delivery_log(env: IncidentEnv) -> list[dict[str, object]]:
    index = env.overrides["notification_index"]
    env.es.indices.refresh(index=index)
    hits = env.es.search(index=index, size=100, query={"match_all": {}})["hits"]["hits"]
    return [h["_source"] for h in hits]


def test_signature_verifies_and_events_follow_the_incident(incident_env: IncidentEnv) -> None:
    with Receiver() as receiver:
        wiring = hooked(incident_env, receiver)
        chain = attack_chain()
        now = datetime.now(UTC)
        incident_id = wiring.service.handle_detection(chain[0], now).incident_id
        assert incident_id is not None
        wiring.service.handle_detection(chain[1], now)  # medium -> high: severity raised
        wiring.service.transition(incident_id, "acknowledged", by="oncall", note="mine", now=now)
        wiring.service.comment(incident_id, "looking", by="oncall", now=now)  # not notified

        assert [b["kind"] for b in receiver.bodies()] == [
            "incident.opened",
            "incident.severity_raised",
            "incident.status_changed",
        ]
        for request in receiver.requests:
            assert verify_signature(request.body, SECRET, request.headers[SIGNATURE_HEADER])
            assert not verify_signature(
                request.body, "wrong-secret", request.headers[SIGNATURE_HEADER]
            )
        ids = [b["id"] for b in receiver.bodies()]
        assert [r.headers["X-Elastra-Notification-Id"] for r in receiver.requests] == ids
        assert receiver.bodies()[-1]["incident"]["status"] == "acknowledged"
        log = {entry["id"]: entry for entry in delivery_log(incident_env)}
        assert set(log) == set(ids)
        assert {entry["status"] for entry in log.values()} == {"delivered"}


def test_a_500_is_retried_then_delivered_once(incident_env: IncidentEnv) -> None:
    with Receiver(statuses=[500, 503]) as receiver:
        wiring = hooked(incident_env, receiver)
        wiring.service.handle_detection(attack_chain()[0], datetime.now(UTC))
        bodies = receiver.bodies()
        assert len(bodies) == 3
        assert bodies[0] == bodies[1] == bodies[2]
        (entry,) = delivery_log(incident_env)
        assert (entry["status"], entry["attempts"], entry["http_status"]) == ("delivered", 3, 200)
        assert (
            wiring.metrics.registry.get_sample_value(
                "audit_notifications_total", {"outcome": "delivered"}
            )
            == 1
        )


def test_a_receiver_that_keeps_failing_is_given_up_and_logged(incident_env: IncidentEnv) -> None:
    with Receiver(statuses=[500] * 10) as receiver:
        wiring = hooked(incident_env, receiver, webhook_max_attempts=3)
        wiring.service.handle_detection(attack_chain()[0], datetime.now(UTC))
        assert len(receiver.requests) == 3
        (entry,) = delivery_log(incident_env)
        assert (entry["status"], entry["attempts"], entry["error"]) == ("failed", 3, "HTTP 500")


def test_deadlines_job_twice_sends_nothing_twice(incident_env: IncidentEnv) -> None:
    with Receiver() as receiver:
        wiring = hooked(incident_env, receiver)
        chain = attack_chain()
        now = datetime.now(UTC)
        t0 = now - timedelta(hours=65)
        incident_id = wiring.service.handle_detection(chain[0], t0).incident_id
        wiring.service.handle_detection(chain[3], t0)  # customer content: 24 h notice to owner
        assert incident_id is not None
        wiring.service.decide(
            incident_id,
            "personal_data_involved",
            answer="yes",
            rationale="logins",
            by="dpo",
            now=t0 + timedelta(hours=1),
        )
        opened = len(receiver.requests)

        job = wiring.deadline_job()
        first = job.run(now)
        assert first.overdue >= 2  # processor notice and NIS2 early warning: T0 + 24 h
        assert first.due_soon >= 2  # risk assessment and NIS2 notification: T0 + 72 h
        item_bodies = receiver.bodies()[opened:]
        kinds = sorted(b["kind"] for b in item_bodies)
        assert kinds.count("checklist.item_overdue") == first.overdue
        assert kinds.count("checklist.item_due_soon") == first.due_soon
        assert first.notifications == {"delivered": first.overdue + first.due_soon}
        items = {b["item"]["item_id"] for b in item_bodies}
        assert {"processor_notice:org_7f3a", "risk_assessment"} <= items
        for request in receiver.requests:
            assert verify_signature(request.body, SECRET, request.headers[SIGNATURE_HEADER])

        second = job.run(now + timedelta(minutes=1))
        assert len(receiver.requests) == opened + len(item_bodies)
        assert second.notifications == {"duplicate": first.overdue + first.due_soon}

        registry = wiring.metrics.registry
        assert registry.get_sample_value("audit_checklist_items_overdue") == second.overdue
        assert registry.get_sample_value("audit_checklist_items_due_soon") == second.due_soon
        assert registry.get_sample_value("audit_incidents_open", {"severity": "critical"}) == 1
        assert registry.get_sample_value("audit_incidents_open", {"severity": "high"}) == 0


def test_pagerduty_mode_sends_events_v2_keyed_by_incident(incident_env: IncidentEnv) -> None:
    with Receiver() as receiver:
        wiring = hooked(
            incident_env, receiver, webhook_format="pagerduty", pagerduty_routing_key="R0UTING"
        )
        now = datetime.now(UTC)
        incident_id = wiring.service.handle_detection(attack_chain()[0], now).incident_id
        wiring.service.transition(incident_id or "", "acknowledged", by="oncall", note="", now=now)
        opened, acked = receiver.bodies()
        assert opened["routing_key"] == "R0UTING"
        assert (opened["event_action"], opened["dedup_key"]) == ("trigger", incident_id)
        assert opened["payload"]["severity"] == "warning"
        assert (acked["event_action"], acked["dedup_key"]) == ("acknowledge", incident_id)
