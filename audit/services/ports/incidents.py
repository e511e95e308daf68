"""Ports of the incident, disclosure and deadline services.

Adapters in ``audit.adapters`` implement them over Elasticsearch and HTTP;
tests of the services use those adapters against the real node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from audit.domain.checklists import ChecklistItemState
from audit.domain.detection.record import Detection
from audit.domain.disclosure import DisclosureRequest
from audit.domain.incidents import Incident
from audit.domain.notifications import EventKind

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Version:
    """The store's version of a record: a write naming it fails if someone wrote since."""

    seq_no: int
    primary_term: int


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    value: T
    version: Version


class IncidentStore(Protocol):
    def get(self, incident_id: str) -> Stored[Incident]:
        """The incident and its version; :class:`audit.errors.NotFound` if absent."""
        ...

    def create(self, incident: Incident) -> bool:
        """Store a new incident; False (nothing written) if its id exists."""
        ...

    def replace(self, incident: Incident, version: Version) -> None:
        """Overwrite the incident read at ``version``;
        :class:`audit.errors.ConflictError` if it changed since."""
        ...

    def find(
        self,
        *,
        statuses: Sequence[str] | None = None,
        organization_ids: Sequence[str] | None = None,
        rule_id: str | None = None,
        detection_id: str | None = None,
    ) -> list[Incident]:
        """Incidents matching every given filter (any of the listed values), oldest first.
        Writes are visible to ``find`` as soon as they return."""
        ...


class DetectionStore(Protocol):
    def get(self, detection_id: str) -> Detection:
        """The detection; :class:`audit.errors.NotFound` if absent."""
        ...

    def put(self, detection: Detection) -> None:
        """Store ``detection`` under its id; a later version of it overwrites the earlier."""
        ...

    def list(
        self,
        *,
        rule_id: str | None = None,
        organization_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Detection]:
        """Detections whose events reach ``since`` or later, by first event time."""
        ...


class DisclosureStore(Protocol):
    def get(self, request_id: str) -> Stored[DisclosureRequest]: ...

    def create(self, request: DisclosureRequest) -> bool: ...

    def replace(self, request: DisclosureRequest, version: Version) -> None: ...

    def all(self) -> list[DisclosureRequest]: ...

    def open_requests(self) -> list[DisclosureRequest]:
        """The requests not closed (no ``closed_at``), oldest received first:
        selected by the store, not by reading every request ever received."""
        ...


class Notifier(Protocol):
    def notify(
        self,
        kind: EventKind,
        incident: Incident,
        *,
        sent_for: datetime,
        item: ChecklistItemState | None = None,
        discriminator: str = "",
    ) -> str:
        """Record, then send one notification (at least once: what is recorded and not
        delivered is sent again by the redrive; receivers dedup by its id); answers the
        outcome (``delivered``, ``failed``, ``rejected``, ``duplicate`` or ``disabled``).
        Never raises for a receiver's failure: that is logged and counted."""
        ...


class RequestNotifier(Protocol):
    def notify_request(
        self,
        kind: EventKind,
        request: DisclosureRequest,
        *,
        sent_for: datetime,
        item: ChecklistItemState,
    ) -> str:
        """``Notifier.notify`` for a lawful request's checklist item, on legal's own
        channel (its receiver, secret and delivery log); the same outcomes."""
        ...


class Lease(Protocol):
    def acquire(self, job: str, holder: str, slot: datetime, now: datetime) -> bool:
        """True if ``holder`` may run ``job`` for ``slot``: nobody ran that slot yet and
        no other holder's unexpired lease is in force."""
        ...

    def release(self, job: str, holder: str, now: datetime) -> None:
        """End ``holder``'s lease early (the slot stays claimed)."""
        ...
