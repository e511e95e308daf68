"""Legal holds: placed by a person (legal role) or asked for by an incident or a
lawful request (:class:`HoldRequest`), listed, and released with a logged reason.

A hold wins over retention: while it is active, the retention job copies
what it selects out of an index before deleting the index, and keeps the
hold index. Releasing lets the copies expire under the normal policy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from audit.domain.incidents import Incident, legal_hold_request
from audit.domain.incidents.model import TERMINAL_STATUSES
from audit.domain.legal.hold_requests import HoldRequest
from audit.domain.retention import HoldScope, LegalHold
from audit.errors import AuditError
from audit.services.ports.incidents import IncidentStore
from audit.services.ports.retention import HoldStore

log = logging.getLogger(__name__)
HOLD_ITEM = "t0_and_legal_hold"  # the incident checklist item asking for preservation


class InvalidHold(AuditError):
    """The hold asked for is not valid (scope, times or id); the message says which field."""


class HoldExists(AuditError):
    """A hold with this id already exists; list holds to see it, or choose another id."""


class HoldService:
    def __init__(self, store: HoldStore) -> None:
        self._store = store

    def create(
        self,
        *,
        organization_ids: Sequence[str],
        by: str,
        reason: str,
        reference: str,
        at: datetime,
        user_ids: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
        expires_at: datetime | None = None,
        hold_id: str | None = None,
    ) -> LegalHold:
        try:
            hold = LegalHold(
                id=hold_id or f"hold-{uuid.uuid4().hex[:16]}",
                scope=HoldScope(
                    organization_ids=tuple(organization_ids),
                    user_ids=tuple(user_ids),
                    start=start,
                    end=end,
                    filters={k: tuple(v) for k, v in (filters or {}).items()},
                ),
                created_by=by,
                reason=reason,
                reference=reference,
                created_at=at,
                expires_at=expires_at,
            )
        except ValidationError as err:
            raise InvalidHold(_first_error(err)) from None
        if not self._store.create(hold):
            raise HoldExists(f"hold {hold.id} already exists")
        log.info("legal hold %s placed by %s (%s): %s", hold.id, by, reference, reason)
        return hold

    def create_from_request(self, request: HoldRequest, reference: str | None = None) -> LegalHold:
        """Place the hold an incident or lawful request asks for; asking twice is a no-op."""
        try:
            hold = LegalHold.from_request(request, reference)
        except ValidationError as err:
            raise InvalidHold(_first_error(err)) from None
        if not self._store.create(hold):
            return self._store.get(hold.id)
        log.info("legal hold %s placed for %s", hold.id, request.source)
        return hold

    def listing(self, at: datetime) -> list[dict[str, Any]]:
        return [
            hold.model_dump(mode="json") | {"active": hold.is_active(at)}
            for hold in self._store.all()
        ]

    def release(self, hold_id: str, by: str, reason: str, at: datetime) -> LegalHold:
        if not reason.strip():
            raise InvalidHold("a release needs a reason")
        released = self._store.release(hold_id, by, at, reason)
        log.info("legal hold %s released by %s at %s: %s", hold_id, by, at.isoformat(), reason)
        return released

    def log(self, hold_id: str) -> list[dict[str, Any]]:
        return self._store.log(hold_id)


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "hold"
    return f"{where}: {first['msg']}"


class IncidentHoldFollower:
    """Holds follow incidents (the scheduler runs :meth:`follow` every minute).

    An incident of critical severity, or one whose checklist decision asks for
    preservation (item ``t0_and_legal_hold``), gets the legal hold it asks for
    (:func:`audit.domain.incidents.legal_hold_request`: its organizations,
    entities and data categories) placed automatically; when the incident is
    closed (or a false positive) the hold is released with that reason. Both are
    recorded in the hold's log and as a comment in the incident's history.
    Placing twice is a no-op (the hold id derives from the incident).
    """

    def __init__(
        self,
        incidents: IncidentStore,
        holds: HoldService,
        hold_store: HoldStore,
        record: Callable[[str, str, datetime], object],
    ) -> None:
        self._incidents = incidents
        self._holds = holds
        self._hold_store = hold_store
        self._record = record  # (incident id, text, now): a history entry by "audit"

    def follow(self, now: datetime) -> dict[str, int]:
        # Found by reference, not by id: the reference names the incident whatever
        # the id derivation.
        existing = {hold.reference: hold for hold in self._hold_store.all()}
        placed = released = 0
        for incident in self._incidents.find():
            reference = f"incident:{incident.id}"
            hold = existing.get(reference)
            if incident.status in TERMINAL_STATUSES:
                if hold is not None and hold.released_at is None:
                    reason = f"incident {incident.id} {incident.status.value}"
                    self._holds.release(hold.id, SYSTEM_ACTOR, reason, now)
                    self._record(incident.id, f"legal hold {hold.id} released: {reason}", now)
                    released += 1
                continue
            why = _hold_reason(incident)
            if why and hold is None:
                request = legal_hold_request(incident, by=SYSTEM_ACTOR, at=now)
                placed_hold = self._holds.create_from_request(request, reference)
                self._record(incident.id, f"legal hold {placed_hold.id} placed: {why}", now)
                placed += 1
        return {"placed": placed, "released": released}


SYSTEM_ACTOR = "audit"


def _hold_reason(incident: Incident) -> str:
    if incident.severity.value == "critical":
        return "critical severity"
    if any(d.item_id == HOLD_ITEM for d in incident.decisions):
        return f"checklist decision {HOLD_ITEM} asks for preservation"
    return ""
