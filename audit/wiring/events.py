"""Building the event-search service from settings (API, ``audit events``, health checks)."""

from __future__ import annotations

from dataclasses import dataclass

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.event_search import ElasticsearchEventIndex
from audit.services.event_search import EventSearchService
from audit.settings import Settings


@dataclass
class EventSearchWiring:
    client: Elasticsearch
    service: EventSearchService

    def close(self) -> None:
        self.client.close()


def build_event_search(
    settings: Settings, client: Elasticsearch | None = None
) -> EventSearchWiring:
    """The service over the events alias ``index_prefix`` (no request is made here)."""
    client = client or build_client(settings)
    index = ElasticsearchEventIndex(client, settings.index_prefix)
    return EventSearchWiring(client, EventSearchService(index))
