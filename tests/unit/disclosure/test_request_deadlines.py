"""The lawful-request deadlines job: counted, notified to legal once per item,
deadline and state, and the notification says nothing a non-disclosure order
covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import AttributesConfig, ChecklistItemState
from audit.domain.disclosure import DisclosureRequest
from audit.domain.notifications import (
    EventKind,
    body_bytes,
    build_request_body,
)
from audit.services.disclosures import DisclosureService
from audit.services.request_deadlines import RequestDeadlineJob
from tests.fakes.ingest import FakeMetrics
from tests.unit.disclosure.fakes import MemoryDisclosureStore, MemoryHolds
from tests.unit.disclosure.specs import request_file

R0 = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


class RecordingRequestNotifier:
    """At most once per notification id, as the webhook notifier's delivery log."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self._ids: set[str] = set()
        self.raising_for: set[str] = set()

    def notify_request(
        self,
        kind: EventKind,
        request: DisclosureRequest,
        *,
        sent_for: datetime,
        item: ChecklistItemState,
    ) -> str:
        if request.id in self.raising_for:
            raise RuntimeError("receiver exploded")
        body = build_request_body(kind, request, sent_for=sent_for, item=item)
        if body["id"] in self._ids:
            return "duplicate"
        self._ids.add(body["id"])
        self.bodies.append(body)
        return "delivered"

    def sent(self) -> list[tuple[str, str, str]]:
        return [(b["lawful_request"]["id"], b["item"]["item_id"], b["kind"]) for b in self.bodies]


def _service() -> DisclosureService:
    return DisclosureService(
        MemoryDisclosureStore(),
        load_checklist_template("lawful_request.v1"),
        AttributesConfig(version=1),
        ["legal1", "legal2"],
        holds=MemoryHolds(),
    )


def _record(
    service: DisclosureService, ref: str, process: str, return_date: datetime | None = None
) -> str:
    spec = request_file(
        ref,
        process,
        R0,
        return_date,
        organization_ids=("org_secretive",),
        requested_data="login records of usr_whistleblower",
    )
    return service.record(spec, R0)[0].id


def _job(
    service: DisclosureService,
) -> tuple[RequestDeadlineJob, RecordingRequestNotifier, FakeMetrics]:
    notifier, metrics = RecordingRequestNotifier(), FakeMetrics()
    return RequestDeadlineJob(service, notifier, metrics), notifier, metrics


def _gauges(metrics: FakeMetrics) -> tuple[float, float]:
    return (
        metrics.gauges[("audit_lawful_request_items_overdue", ())],
        metrics.gauges[("audit_lawful_request_items_due_soon", ())],
    )


def test_a_return_date_is_notified_once_due_soon_then_once_overdue() -> None:
    service = _service()
    request_id = _record(service, "SUB-1", "subpoena", return_date=R0 + 2 * D)
    job, notifier, metrics = _job(service)

    assert job.run(R0).notifications == {}
    assert _gauges(metrics) == (0, 0)

    soon = job.run(R0 + 2 * D - 6 * H)
    assert soon.due_soon == 1 and soon.notifications == {"delivered": 1}
    assert job.run(R0 + 2 * D - 5 * H).notifications == {"duplicate": 1}
    assert _gauges(metrics) == (0, 1)

    late = job.run(R0 + 2 * D + H)
    assert (late.overdue, late.notifications) == (1, {"delivered": 1})
    assert _gauges(metrics) == (1, 0)
    assert notifier.sent() == [
        (request_id, "respond_by", "lawful_request.item_due_soon"),
        (request_id, "respond_by", "lawful_request.item_overdue"),
    ]
    assert notifier.bodies[1]["item"]["due_at"] == (R0 + 2 * D).isoformat()


def test_a_closed_request_is_neither_counted_nor_notified() -> None:
    service = _service()
    request_id = _record(service, "SUB-2", "subpoena", return_date=R0 + D)
    service.close(request_id, "withdrawn", by="legal1", now=R0 + H)
    job, notifier, metrics = _job(service)

    summary = job.run(R0 + 2 * D)

    assert (summary.requests, summary.overdue, notifier.bodies) == (0, 0, [])
    assert _gauges(metrics) == (0, 0)


def test_a_renewed_preservation_is_notified_again_for_its_new_expiry() -> None:
    service = _service()
    request_id = _record(service, "PRES-1", "preservation")
    job, notifier, _ = _job(service)
    first_expiry = R0 + 90 * D

    job.run(first_expiry - 6 * H)
    service.renew(request_id, why="renewed by the agency", by="legal1", now=first_expiry - 5 * H)
    job.run(first_expiry - 4 * H)  # the new expiry is 90 days away: nothing
    job.run(first_expiry + 90 * D - 6 * H)

    expiries = [
        b["item"]["due_at"]
        for b in notifier.bodies
        if b["item"]["item_id"] == "preservation_expiry"
    ]
    assert expiries == [first_expiry.isoformat(), (first_expiry + 90 * D).isoformat()]


def test_the_notification_carries_nothing_a_non_disclosure_order_covers() -> None:
    service = _service()
    _record(service, "SUB-3", "subpoena", return_date=R0 + D)
    job, notifier, _ = _job(service)

    job.run(R0 + D - H)

    (body,) = notifier.bodies
    assert set(body) == {"schema", "id", "kind", "occurred_at", "lawful_request", "item"}
    assert set(body["lawful_request"]) == {"id", "process_type", "emergency", "received_at"}
    sent = body_bytes(body).decode()
    for secret in ("Sheriff", "Diaz", "org_secretive", "usr_whistleblower", "SUB-3"):
        assert secret not in sent


def test_one_failing_notification_does_not_stop_the_round() -> None:
    service = _service()
    failing = _record(service, "SUB-4", "subpoena", return_date=R0 + D)
    fine = _record(service, "SUB-5", "subpoena", return_date=R0 + D)
    job, notifier, metrics = _job(service)
    notifier.raising_for.add(failing)

    summary = job.run(R0 + D + H)

    assert summary.notifications == {"delivered": 1, "error": 1}
    assert [request for request, _, _ in notifier.sent()] == [fine]
    assert _gauges(metrics) == (2, 0)
