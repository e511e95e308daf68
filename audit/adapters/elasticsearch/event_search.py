"""Searching stored events with filters, through point-in-time + search_after.

Only fixed filters are built here; no client-supplied query DSL reaches
Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError


@dataclass(frozen=True)
class EventQuery:
    organization_id: str | None = None
    user_id: str | None = None
    source_ip: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def to_dsl(self) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        for field, value in (
            ("organization.id", self.organization_id),
            ("user.id", self.user_id),
            ("source.ip", self.source_ip),
            ("event.action", self.action),
            ("event.outcome", self.outcome),
        ):
            if value is not None:
                filters.append({"term": {field: value}})
        if self.since or self.until:
            bounds: dict[str, str] = {}
            if self.since:
                bounds["gte"] = self.since.isoformat()
            if self.until:
                bounds["lt"] = self.until.isoformat()
            filters.append({"range": {"@timestamp": bounds}})
        return {"bool": {"filter": filters}}


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
                "query": query.to_dsl(),
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


def count_events(client: Elasticsearch, query: EventQuery, index: str = "audit-events") -> int:
    response = client.count(index=index, query=query.to_dsl())
    return int(response["count"])
