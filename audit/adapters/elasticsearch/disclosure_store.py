"""Lawful disclosure requests in ``audit-disclosures``, one document per request.

Implements :class:`audit.services.ports.incidents.DisclosureStore` with the
same optimistic concurrency as the incident store.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index
from audit.domain.disclosure import DisclosureRequest
from audit.services.ports.incidents import Stored, Version

MAPPING = "audit-disclosures"


class ElasticsearchDisclosureStore:
    def __init__(self, client: Elasticsearch, index: str = "audit-disclosures") -> None:
        self._docs = VersionedIndex(client, index, "disclosure request")

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def get(self, request_id: str) -> Stored[DisclosureRequest]:
        source, version = self._docs.get(request_id)
        return Stored(DisclosureRequest.model_validate(source), version)

    def create(self, request: DisclosureRequest) -> bool:
        return self._docs.create(request.id, request.model_dump(mode="json"))

    def replace(self, request: DisclosureRequest, version: Version) -> None:
        self._docs.replace(request.id, request.model_dump(mode="json"), version)

    def all(self) -> list[DisclosureRequest]:
        return self._search({"match_all": {}})

    def open_requests(self) -> list[DisclosureRequest]:
        return self._search({"bool": {"must_not": {"exists": {"field": "closed_at"}}}})

    def _search(self, query: dict[str, Any]) -> list[DisclosureRequest]:
        sort = [{"intake.received_at": "asc"}, {"id": "asc"}]
        return [DisclosureRequest.model_validate(s) for s in self._docs.search(query, sort)]
