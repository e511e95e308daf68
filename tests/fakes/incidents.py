"""Fakes of the incident ports (``audit.services.ports.incidents``).

The stores keep the same JSON documents as their Elasticsearch adapters
(``model_dump(mode="json")``) in a :class:`FakeVersionedIndex`, so the same
create/replace/conflict rules apply. The lease follows
``ElasticsearchLease``'s algorithm over that index; the notifier keeps the
webhook notifier's at-most-once key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audit.domain.checklists import ChecklistItemState
from audit.domain.detection.record import Detection
from audit.domain.disclosure import DisclosureRequest
from audit.domain.incidents import Incident
from audit.domain.notifications import EventKind, build_webhook_body
from audit.errors import ConflictError, NotFound
from audit.services.ports.incidents import Stored, Version
from tests.fakes.versioned import FakeVersionedIndex


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _any_of(values: Sequence[str] | None, have: Any) -> bool:
    """A ``terms`` filter: no filter, or any stored value among ``values``."""
    if values is None:
        return True
    stored = have if isinstance(have, list) else [have]
    return any(v in values for v in stored)


class FakeIncidentStore:
    def __init__(self, index: str = "audit-incidents") -> None:
        self.docs = FakeVersionedIndex(index, "incident")

    def get(self, incident_id: str) -> Stored[Incident]:
        source, version = self.docs.get(incident_id)
        return Stored(Incident.model_validate(source), version)

    def create(self, incident: Incident) -> bool:
        return self.docs.create(incident.id, incident.model_dump(mode="json"))

    def replace(self, incident: Incident, version: Version) -> None:
        self.docs.replace(incident.id, incident.model_dump(mode="json"), version)

    def find(
        self,
        *,
        statuses: Sequence[str] | None = None,
        organization_ids: Sequence[str] | None = None,
        rule_id: str | None = None,
        detection_id: str | None = None,
    ) -> list[Incident]:
        if statuses is not None and not statuses:
            return []

        def keep(s: dict[str, Any]) -> bool:
            return (
                _any_of(statuses, s["status"])
                and _any_of(organization_ids or None, s.get("organization_ids", []))
                and _any_of([rule_id] if rule_id else None, s.get("rule_ids", []))
                and _any_of([detection_id] if detection_id else None, s.get("detection_ids", []))
            )

        found = self.docs.search(keep, lambda s: (_instant(s["opened_at"]), s["id"]))
        return [Incident.model_validate(s) for s in found]

    def refresh(self) -> None:
        """Writes are visible at once (the adapter writes with ``refresh=True``)."""


class FakeDetectionStore:
    def __init__(self, index: str = "audit-detections") -> None:
        self.docs = FakeVersionedIndex(index, "detection")

    def put(self, detection: Detection) -> None:
        self.docs.put(
            detection.id,
            detection.model_dump(mode="json"),
            f"cannot store detection {detection.id}",
        )

    def get(self, detection_id: str) -> Detection:
        return Detection.model_validate(self.docs.get(detection_id)[0])

    def list(
        self,
        *,
        rule_id: str | None = None,
        organization_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Detection]:
        def keep(s: dict[str, Any]) -> bool:
            if rule_id and s["rule_id"] != rule_id:
                return False
            if organization_id and organization_id not in s.get("organization_ids", []):
                return False
            return since is None or datetime.fromisoformat(s["last_seen"]) >= since

        found = self.docs.search(keep, lambda s: (_instant(s["first_seen"]), s["id"]))
        return [Detection.model_validate(s) for s in found]

    def refresh(self) -> None:
        """Detections are searchable after the node's refresh; the fake's at once."""


class FakeDisclosureStore:
    def __init__(self, index: str = "audit-disclosures") -> None:
        self.docs = FakeVersionedIndex(index, "disclosure request")

    def get(self, request_id: str) -> Stored[DisclosureRequest]:
        source, version = self.docs.get(request_id)
        return Stored(DisclosureRequest.model_validate(source), version)

    def create(self, request: DisclosureRequest) -> bool:
        return self.docs.create(request.id, request.model_dump(mode="json"))

    def replace(self, request: DisclosureRequest, version: Version) -> None:
        self.docs.replace(request.id, request.model_dump(mode="json"), version)

    def all(self) -> list[DisclosureRequest]:
        found = self.docs.search(
            lambda s: True, lambda s: (_instant(s["intake"]["received_at"]), s["id"])
        )
        return [DisclosureRequest.model_validate(s) for s in found]

    def open_requests(self) -> list[DisclosureRequest]:
        found = self.docs.search(
            lambda s: s.get("closed_at") is None,
            lambda s: (_instant(s["intake"]["received_at"]), s["id"]),
        )
        return [DisclosureRequest.model_validate(s) for s in found]


@dataclass(frozen=True)
class SentNotification:
    key: str
    kind: EventKind
    incident_id: str
    item_id: str | None
    outcome: str


class FakeNotifier:
    """At most once per notification id (the webhook body's ``id``), like the webhook
    notifier's log; ``failing = True`` makes deliveries fail (answered, never raised)."""

    def __init__(self) -> None:
        self.sent: list[SentNotification] = []
        self._keys: set[str] = set()
        self.failing = False

    def notify(
        self,
        kind: EventKind,
        incident: Incident,
        *,
        sent_for: datetime,
        item: ChecklistItemState | None = None,
        discriminator: str = "",
    ) -> str:
        body = build_webhook_body(
            kind, incident, sent_for=sent_for, item=item, discriminator=discriminator
        )
        key = str(body["id"])
        if key in self._keys:
            return "duplicate"
        self._keys.add(key)
        outcome = "failed" if self.failing else "delivered"
        self.sent.append(
            SentNotification(key, kind, incident.id, item.item_id if item else None, outcome)
        )
        return outcome

    def delivered(self) -> list[SentNotification]:
        return [n for n in self.sent if n.outcome == "delivered"]


class FakeLease:
    """``ElasticsearchLease``'s claim rules over a versioned index, one record per job."""

    def __init__(self, ttl: timedelta, index: str = "audit-locks") -> None:
        self.docs = FakeVersionedIndex(index, "lease")
        self._ttl = ttl

    def _document(self, job: str, holder: str, slot: datetime, now: datetime) -> dict[str, Any]:
        return {
            "job": job,
            "holder": holder,
            "slot": slot.isoformat(),
            "acquired_at": now.isoformat(),
            "expires_at": (now + self._ttl).isoformat(),
        }

    def acquire(self, job: str, holder: str, slot: datetime, now: datetime) -> bool:
        document = self._document(job, holder, slot, now)
        if self.docs.create(job, document):
            return True
        try:
            current, version = self.docs.get(job)
        except NotFound:
            return self.docs.create(job, document)
        if datetime.fromisoformat(current["slot"]) >= slot:
            return False
        held_by_other = current["holder"] != holder
        if held_by_other and datetime.fromisoformat(current["expires_at"]) > now:
            return False
        try:
            self.docs.replace(job, document, version)
        except ConflictError:
            return False
        return True

    def release(self, job: str, holder: str, now: datetime) -> None:
        try:
            current, version = self.docs.get(job)
        except NotFound:
            return
        if current["holder"] != holder:
            return
        try:
            self.docs.replace(job, {**current, "expires_at": now.isoformat()}, version)
        except ConflictError:
            return
