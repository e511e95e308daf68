"""Searching stored events with filters, through point-in-time + search_after.

Only fixed filters are built here; no client-supplied query DSL reaches
Elasticsearch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.client import is_unavailable
from audit.adapters.elasticsearch.scope import scope_clause
from audit.domain.fields import CREDENTIAL_FIELDS
from audit.errors import StoreUnavailable
from audit.services.ports.events import CursorExpired, EventPage, EventQuery, TopValues

# The fields free text is matched against (simple_query_string): fixed here,
# never chosen by the caller.
TEXT_FIELDS = (
    "event.action",
    "event.reason",
    "event.provider",
    "user.id",
    "user.name",
    "user.email",
    "user.target.id",
    "user.target.name",
    "organization.name",
    "user_agent.original",
    "source.geo.city_name",
    "source.as.organization.name",
    "elastra.resource.id",
    "elastra.request.id",
)


def query_dsl(query: EventQuery) -> dict[str, Any]:
    """The Elasticsearch query of ``query``'s fixed filters."""
    filters: list[dict[str, Any]] = []
    for field, value in (
        ("organization.id", query.organization_id),
        ("user.id", query.user_id),
        ("source.ip", query.source_ip),
        ("event.action", query.action),
        ("event.outcome", query.outcome),
        ("event.category", query.category),
        ("elastra.session.id", query.session_id),
    ):
        if value is not None:
            filters.append({"term": {field: value}})
    scope = scope_clause(query.organization_ids, "organization.id")
    if scope is not None:
        filters.append(scope)
    if query.credential_id is not None:
        filters.append(
            {
                "bool": {
                    "should": [{"term": {f: query.credential_id}} for f in CREDENTIAL_FIELDS],
                    "minimum_should_match": 1,
                }
            }
        )
    if query.since or query.until:
        bounds: dict[str, str] = {}
        if query.since:
            bounds["gte"] = query.since.isoformat()
        if query.until:
            bounds["lt"] = query.until.isoformat()
        filters.append({"range": {"@timestamp": bounds}})
    body: dict[str, Any] = {"bool": {"filter": filters}}
    if not query.include_restricted:
        # Events under a data subject's restriction or objection are seen only
        # by legal and privacy (issue 15).
        body["bool"]["must_not"] = [{"exists": {"field": "integrity.privacy.restricted"}}]
    if query.text:
        body["bool"]["must"] = [
            {
                "simple_query_string": {
                    "query": query.text,
                    "fields": list(TEXT_FIELDS),
                    "default_operator": "and",
                    "lenient": True,
                    # No regexps, fuzzy or slop: cheap and predictable.
                    "flags": "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|WHITESPACE|ESCAPE",
                }
            }
        ]
    return body


def search_events(
    client: Elasticsearch,
    query: EventQuery,
    *,
    index: str = "audit-events",
    limit: int | None = None,
    page_size: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Every matching event's stored document, oldest first."""
    try:
        pit = client.open_point_in_time(index=index, keep_alive="2m")
    except NotFoundError:
        return  # nothing stored yet: no index behind the alias
    pit_id: str = pit["id"]
    after: list[Any] | None = None
    yielded = 0
    try:
        while True:
            size = page_size if limit is None else min(page_size, limit - yielded)
            if size <= 0:
                return
            body: dict[str, Any] = {
                "size": size,
                "query": query_dsl(query),
                "pit": {"id": pit_id, "keep_alive": "2m"},
                "sort": [{"@timestamp": "asc"}, {"_shard_doc": "asc"}],
                "track_total_hits": False,
            }
            if after is not None:
                body["search_after"] = after
            response = client.search(**body)
            pit_id = response.get("pit_id", pit_id)
            hits = response["hits"]["hits"]
            if not hits:
                return
            for hit in hits:
                yield hit["_source"]
                yielded += 1
            after = hits[-1]["sort"]
    finally:
        client.close_point_in_time(id=pit_id)


def page_body(
    query: EventQuery, size: int, *, descending: bool, after: list[Any] | None = None
) -> dict[str, Any]:
    """The search body of one page (without the point in time)."""
    order = "desc" if descending else "asc"
    body: dict[str, Any] = {
        "size": size,
        "query": query_dsl(query),
        "sort": [{"@timestamp": order}, {"_shard_doc": order}],
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = after
    return body


def search_page(
    client: Elasticsearch,
    query: EventQuery,
    *,
    index: str = "audit-events",
    size: int = 100,
    descending: bool = True,
    pit_id: str | None = None,
    after: list[Any] | None = None,
    keep_alive: str = "2m",
) -> EventPage:
    """One page; pass the previous page's ``pit_id`` and ``after`` for the next.

    The point in time is closed after the last page; an expired or unknown one
    raises :class:`CursorExpired`.
    """
    try:
        if pit_id is None:
            try:
                pit_id = client.open_point_in_time(index=index, keep_alive=keep_alive)["id"]
            except NotFoundError:
                return EventPage([], None, None)
        body = page_body(query, size + 1, descending=descending, after=after)
        body["pit"] = {"id": pit_id, "keep_alive": keep_alive}
        response = client.search(**body)
    except (ApiError, TransportError) as err:
        if is_unavailable(err):
            raise StoreUnavailable(f"cannot search events: {err}") from err
        if after is not None or isinstance(err, NotFoundError):
            raise CursorExpired("the cursor has expired; search again without it") from err
        raise
    pit_id = response.get("pit_id", pit_id)
    hits = response["hits"]["hits"]
    more = len(hits) > size
    hits = hits[:size]
    events = [hit["_source"] for hit in hits]
    if not more:
        _close_quietly(client, pit_id)
        return EventPage(events, None, None)
    return EventPage(events, pit_id, hits[-1]["sort"])


def _close_quietly(client: Elasticsearch, pit_id: str | None) -> None:
    if pit_id is None:
        return
    with contextlib.suppress(ApiError, TransportError):  # it expires on its own
        client.close_point_in_time(id=pit_id)


def first_events(
    client: Elasticsearch, query: EventQuery, *, index: str = "audit-events", size: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """The oldest ``size`` matching events and how many match (at most 10,000 counted)."""
    body = page_body(query, size, descending=False)
    body["sort"] = [{"@timestamp": "asc"}, {"event.id": "asc"}]
    body["track_total_hits"] = 10_000
    try:
        response = client.search(index=index, ignore_unavailable=True, **body)
    except (ApiError, TransportError) as err:
        raise StoreUnavailable(f"cannot search events: {err}") from err
    hits = response["hits"]["hits"]
    return [h["_source"] for h in hits], int(response["hits"]["total"]["value"])


def top_values(
    client: Elasticsearch,
    query: EventQuery,
    fields: Mapping[str, str],
    *,
    index: str = "audit-events",
    size: int = 10,
) -> TopValues:
    """The most frequent values of each field (name -> field) and how many events matched."""
    aggs = {name: {"terms": {"field": field, "size": size}} for name, field in fields.items()}
    try:
        response = client.search(
            index=index,
            ignore_unavailable=True,
            size=0,
            query=query_dsl(query),
            aggs=aggs,
            track_total_hits=True,
        )
    except (ApiError, TransportError) as err:
        raise StoreUnavailable(f"cannot aggregate events: {err}") from err
    found = response.get("aggregations", {})
    values = {
        name: [
            (b.get("key_as_string", b["key"]), int(b["doc_count"]))
            for b in found.get(name, {}).get("buckets", [])
        ]
        for name in fields
    }
    return values, int(response["hits"]["total"]["value"])


def ping(client: Elasticsearch) -> bool:
    """True when the cluster answers."""
    try:
        client.cluster.health(timeout="2s")
    except (ApiError, TransportError):
        return False
    return True


class ElasticsearchEventIndex:
    """The ``EventIndex`` port over the events alias (or index pattern) ``index``."""

    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._client = client
        self._index = index

    def page(
        self,
        query: EventQuery,
        *,
        size: int,
        pit_id: str | None = None,
        after: list[Any] | None = None,
    ) -> EventPage:
        return search_page(
            self._client, query, index=self._index, size=size, pit_id=pit_id, after=after
        )

    def first(self, query: EventQuery, *, size: int) -> tuple[list[dict[str, Any]], int]:
        return first_events(self._client, query, index=self._index, size=size)

    def top(self, query: EventQuery, fields: Mapping[str, str], *, size: int) -> TopValues:
        return top_values(self._client, query, fields, index=self._index, size=size)

    def scan(self, query: EventQuery, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        return search_events(self._client, query, index=self._index, limit=limit)

    def reachable(self) -> bool:
        return ping(self._client)
