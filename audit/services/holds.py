"""Legal holds: placed by a person (legal role) or asked for by an incident or a
lawful request (:class:`HoldRequest`), listed, and released with a logged reason.

A hold wins over retention: while it is active, the retention job copies
what it selects out of an index before deleting the index, and keeps the
hold index. Releasing lets the copies expire under the normal policy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from audit.domain.legal.hold_requests import HoldRequest
from audit.domain.retention import HoldScope, LegalHold
from audit.errors import AuditError
from audit.services.ports.retention import HoldStore

log = logging.getLogger(__name__)


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
