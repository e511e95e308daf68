"""The event-search service over an in-memory event index."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.domain.fields import get_path
from audit.services.event_search import TOP_FIELDS, EventSearchService
from audit.services.ports.events import CursorExpired, EventPage, EventQuery, TopValues

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def event(n: int, user: str, ip: str, org: str = "org_a") -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(minutes=n)).isoformat(),
        "event": {"id": f"ev-{n}", "action": "user.login"},
        "organization": {"id": org},
        "user": {"id": user},
        "source": {"ip": ip},
    }


class MemoryEventIndex:
    """An ``EventIndex`` over a list; pages need the point in time they were given."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = sorted(events, key=lambda e: e["@timestamp"])
        self.open_pits: set[str] = set()
        self.up = True

    def _match(self, query: EventQuery) -> list[dict[str, Any]]:
        def ok(e: dict[str, Any]) -> bool:
            at = datetime.fromisoformat(e["@timestamp"])
            return (
                (query.user_id is None or e["user"]["id"] == query.user_id)
                and (query.source_ip is None or e["source"]["ip"] == query.source_ip)
                and (
                    query.organization_id is None
                    or e["organization"]["id"] == query.organization_id
                )
                and (query.since is None or at >= query.since)
                and (query.until is None or at < query.until)
            )

        return [e for e in self.events if ok(e)]

    def page(
        self,
        query: EventQuery,
        *,
        size: int,
        pit_id: str | None = None,
        after: list[Any] | None = None,
    ) -> EventPage:
        if pit_id is not None and pit_id not in self.open_pits:
            raise CursorExpired("the cursor has expired; search again without it")
        pit_id = pit_id or f"pit-{len(self.open_pits)}"
        self.open_pits.add(pit_id)
        newest = list(reversed(self._match(query)))
        start = after[0] if after else 0
        chunk = newest[start : start + size]
        if start + size >= len(newest):
            self.open_pits.discard(pit_id)
            return EventPage(chunk, None, None)
        return EventPage(chunk, pit_id, [start + size])

    def first(self, query: EventQuery, *, size: int) -> tuple[list[dict[str, Any]], int]:
        found = self._match(query)
        return found[:size], len(found)

    def top(self, query: EventQuery, fields: Mapping[str, str], *, size: int) -> TopValues:
        found = self._match(query)
        values: dict[str, list[tuple[Any, int]]] = {}
        for name, path in fields.items():
            counts: dict[Any, int] = {}
            for e in found:
                value = get_path(e, path)
                if value is not None:
                    counts[value] = counts.get(value, 0) + 1
            values[name] = sorted(counts.items(), key=lambda kv: -kv[1])[:size]
        return values, len(found)

    def scan(self, query: EventQuery, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        return iter(self._match(query)[:limit])

    def reachable(self) -> bool:
        return self.up


@pytest.fixture
def index() -> MemoryEventIndex:
    events = [event(n, f"usr_{n % 3}", f"10.0.0.{n % 2}") for n in range(10)]
    return MemoryEventIndex([*events, event(99, "usr_0", "10.0.0.9", org="org_b")])


def test_pages_walk_every_match_newest_first(index: MemoryEventIndex) -> None:
    search = EventSearchService(index)
    query = EventQuery(organization_id="org_a")
    seen: list[str] = []
    page = search.page(query, 4)
    seen += [e["event"]["id"] for e in page.events]
    while page.pit_id is not None:
        page = search.page(query, 4, pit_id=page.pit_id, after=page.after)
        seen += [e["event"]["id"] for e in page.events]
    assert seen == [f"ev-{n}" for n in reversed(range(10))]


def test_a_closed_cursor_is_refused(index: MemoryEventIndex) -> None:
    search = EventSearchService(index)
    with pytest.raises(CursorExpired):
        search.page(EventQuery(), 4, pit_id="pit-gone", after=[4])


def test_entity_first_events_and_top_values(index: MemoryEventIndex) -> None:
    search = EventSearchService(index)
    events, total = search.first(EventQuery(user_id="usr_0", organization_id="org_a"), 2)
    assert total == 4 and [e["event"]["id"] for e in events] == ["ev-0", "ev-3"]
    values, matched = search.top(EventQuery(user_id="usr_0"), 5)
    assert matched == 5
    assert set(values) == set(TOP_FIELDS)
    assert sorted(values["ips"]) == [("10.0.0.0", 2), ("10.0.0.1", 2), ("10.0.0.9", 1)]
    assert values["actions"] == [("user.login", 5)]


def test_entity_kinds_name_their_fields() -> None:
    assert EventSearchService.entity_fields("credential") == (
        "elastra.token.id",
        "elastra.api_key.id",
    )
    assert EventSearchService.entity_fields("ip") == ("source.ip",)
    with pytest.raises(KeyError):
        EventSearchService.entity_fields("planet")


def test_scan_and_reachability(index: MemoryEventIndex) -> None:
    search = EventSearchService(index)
    assert len(list(search.scan(EventQuery(source_ip="10.0.0.1"), limit=3))) == 3
    assert search.reachable()
    index.up = False
    assert not search.reachable()
