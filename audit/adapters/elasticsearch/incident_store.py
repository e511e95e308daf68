"""Incidents in ``audit-incidents``: one document per incident, its JSON form.

Implements :class:`audit.services.ports.incidents.IncidentStore`. Concurrency
is optimistic (``if_seq_no``/``if_primary_term``); the service re-reads and
retries on conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from audit.adapters.elasticsearch.scope import RECORD_ORG_FIELDS, with_scope
from audit.adapters.elasticsearch.versioned import (
    VersionedIndex,
    ensure_index,
    terms_query,
    unavailable,
)
from audit.domain.incidents import Incident
from audit.errors import StoreUnavailable
from audit.services.ports.incidents import Stored, Version

MAPPING = "audit-incidents"


class ElasticsearchIncidentStore:
    def __init__(self, client: Elasticsearch, index: str = "audit-incidents") -> None:
        self._docs = VersionedIndex(client, index, "incident")

    @property
    def index(self) -> str:
        return self._docs.index

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def get(self, incident_id: str) -> Stored[Incident]:
        source, version = self._docs.get(incident_id)
        return Stored(Incident.model_validate(source), version)

    def create(self, incident: Incident) -> bool:
        return self._docs.create(incident.id, incident.model_dump(mode="json"))

    def create_many(self, incidents: Sequence[Incident]) -> list[bool]:
        """:meth:`create` for many in one bulk request (one refresh): per
        incident, True if stored now, False if its id existed."""
        if not incidents:
            return []
        operations: list[dict[str, Any]] = []
        for incident in incidents:
            operations.append({"create": {"_index": self._docs.index, "_id": incident.id}})
            operations.append(incident.model_dump(mode="json"))
        try:
            answer = self._docs.client.bulk(operations=operations, refresh=True)
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot create {len(incidents)} incidents") from err
        created: list[bool] = []
        for item in answer["items"]:
            status = item["create"].get("status", 500)
            if status == 409:
                created.append(False)
            elif status >= 300:
                raise StoreUnavailable(f"cannot create incident: {item['create'].get('error')}")
            else:
                created.append(True)
        return created

    def replace(self, incident: Incident, version: Version) -> None:
        self._docs.replace(incident.id, incident.model_dump(mode="json"), version)

    def find(
        self,
        *,
        statuses: Sequence[str] | None = None,
        organization_ids: Sequence[str] | None = None,
        rule_id: str | None = None,
        detection_id: str | None = None,
    ) -> list[Incident]:
        """``organization_ids``: owned by or affecting any of them (None: all; empty: none)."""
        query = terms_query(
            {
                "status": list(statuses) if statuses is not None else None,
                "rule_ids": [rule_id] if rule_id else None,
                "detection_ids": [detection_id] if detection_id else None,
            }
        )
        query = with_scope(query, organization_ids, *RECORD_ORG_FIELDS)
        if statuses is not None and not statuses:
            return []
        sort = [{"opened_at": "asc"}, {"id": "asc"}]
        return [Incident.model_validate(s) for s in self._docs.search(query, sort)]

    def refresh(self) -> None:
        self._docs.refresh()
