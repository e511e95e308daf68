"""Ports of the stored events: searching them, and publishing the API's access events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from audit.errors import AuditError


class CursorExpired(AuditError):
    """The point in time behind a page cursor has expired or is unknown.

    Start the search again without a cursor.
    """


@dataclass(frozen=True)
class EventQuery:
    """Fixed filters over stored events (every one given must match).

    No client-supplied query language crosses this port: the store builds
    its own query from these fields.
    """

    organization_id: str | None = None
    user_id: str | None = None
    source_ip: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Any of these organizations (a tenant scope); None: no restriction.
    organization_ids: tuple[str, ...] | None = None
    category: str | None = None
    session_id: str | None = None
    credential_id: str | None = None
    text: str | None = None
    # Events under a data subject's restriction or objection (flagged in
    # integrity.privacy.restricted) are seen only by legal and privacy.
    include_restricted: bool = False


@dataclass(frozen=True)
class EventPage:
    """One page of a point-in-time search; ``after`` is None on the last page."""

    events: list[dict[str, Any]]
    pit_id: str | None
    after: list[Any] | None


# The most frequent values of each named field, and how many events matched.
TopValues = tuple[dict[str, list[tuple[Any, int]]], int]


class EventIndex(Protocol):
    """Read access to the stored events (the event store's search side)."""

    def page(
        self,
        query: EventQuery,
        *,
        size: int,
        pit_id: str | None = None,
        after: list[Any] | None = None,
    ) -> EventPage:
        """Newest first; pass the previous page's ``pit_id``/``after`` for the next one.

        Raises ``CursorExpired`` for an expired point in time, ``StoreUnavailable``
        when the store does not answer.
        """
        ...

    def first(self, query: EventQuery, *, size: int) -> tuple[list[dict[str, Any]], int]:
        """The oldest ``size`` matching events and how many match (counted up to 10,000)."""
        ...

    def top(self, query: EventQuery, fields: Mapping[str, str], *, size: int) -> TopValues:
        """The ``size`` most frequent values of each field (name -> field path)."""
        ...

    def scan(self, query: EventQuery, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching event, oldest first (at most ``limit``)."""
        ...

    def reachable(self) -> bool:
        """True when the store answers."""
        ...


class AccessEventSink(Protocol):
    """Where the API's access events go (the security topic): one at a time, acknowledged."""

    def send(self, key: bytes, value: bytes) -> None:
        """Send and wait for the acknowledgement; raise if it was not taken."""
        ...

    def reachable(self) -> bool: ...

    def close(self) -> None: ...
