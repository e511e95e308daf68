"""Searching stored events: pages, an entity's events and top values, full scans.

The one way the API, the CLI and the health checks read events, over the
``EventIndex`` port (Elasticsearch in production), so that none of them
knows the store's query language.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from audit.domain.fields import ENTITY_KIND_FIELDS, SOURCE_IP_FIELD
from audit.services.ports.events import EventIndex, EventPage, EventQuery, TopValues

#: The top-value breakdowns of an entity: name -> field.
TOP_FIELDS = {
    "countries": "source.geo.country_iso_code",
    "asns": "source.as.number",
    "actions": "event.action",
    "ips": SOURCE_IP_FIELD,
}


class EventSearchService:
    def __init__(self, index: EventIndex) -> None:
        self._index = index

    def page(
        self,
        query: EventQuery,
        size: int,
        pit_id: str | None = None,
        after: list[Any] | None = None,
    ) -> EventPage:
        """One page, newest first; continue with the page's ``pit_id`` and ``after``."""
        return self._index.page(query, size=size, pit_id=pit_id, after=after)

    def first(self, query: EventQuery, size: int) -> tuple[list[dict[str, Any]], int]:
        """The oldest ``size`` matching events and how many match."""
        return self._index.first(query, size=size)

    def top(self, query: EventQuery, size: int) -> TopValues:
        """The most frequent values of each of :data:`TOP_FIELDS`."""
        return self._index.top(query, TOP_FIELDS, size=size)

    def scan(self, query: EventQuery, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every matching event, oldest first."""
        return self._index.scan(query, limit=limit)

    def reachable(self) -> bool:
        return self._index.reachable()

    @staticmethod
    def entity_fields(kind: str) -> tuple[str, ...]:
        """The fields naming an entity of ``kind`` (user, ip, credential, session)."""
        return ENTITY_KIND_FIELDS[kind]
