"""What a demo run left in the store: event counts by outcome, category and action,
and the detections and incidents seen since a time (for ``audit demo``'s summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

_BREAKDOWNS = {
    "outcomes": ("event.outcome", 10),
    "categories": ("elastra.data_category", 10),
    "actions": ("event.action", 8),
}


@dataclass
class StoreOverview:
    events: int
    # name (outcomes, categories, actions) -> [(value, count)], most frequent first
    breakdowns: dict[str, list[tuple[Any, int]]]
    detections: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)


def store_overview(
    client: Elasticsearch,
    events_index: str,
    detection_index: str,
    incident_index: str,
    since: datetime,
) -> StoreOverview:
    client.indices.refresh(index=events_index)
    response = client.search(
        index=events_index,
        size=0,
        aggs={
            name: {"terms": {"field": path, "size": size}}
            for name, (path, size) in _BREAKDOWNS.items()
        },
        track_total_hits=True,
    )
    breakdowns = {
        name: [(b["key"], int(b["doc_count"])) for b in response["aggregations"][name]["buckets"]]
        for name in _BREAKDOWNS
    }
    return StoreOverview(
        events=int(response["hits"]["total"]["value"]),
        breakdowns=breakdowns,
        detections=_recent(client, detection_index, "last_seen", since),
        incidents=_recent(client, incident_index, "opened_at", since),
    )


def _recent(client: Elasticsearch, index: str, field: str, since: datetime) -> list[dict[str, Any]]:
    if not client.indices.exists(index=index):
        return []
    client.indices.refresh(index=index)
    query = {"range": {field: {"gte": since.isoformat()}}}
    hits = client.search(index=index, size=1000, query=query)["hits"]["hits"]
    return [hit["_source"] for hit in hits]
