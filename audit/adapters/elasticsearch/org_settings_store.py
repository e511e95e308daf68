"""Organizations' retention class in ``audit-org-settings``, one document per organization.

Implements :class:`audit.services.ports.retention.OrgSettingsStore`. Each
change keeps the previous value in ``history`` (who, when, why), written
with optimistic concurrency so concurrent changes are not lost.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index
from audit.errors import ConflictError, NotFound
from audit.services.ports.retention import OrgClassRecord

MAPPING = "audit-org-settings"
_ATTEMPTS = 5


class ElasticsearchOrgSettingsStore:
    def __init__(self, client: Elasticsearch, index: str = "audit-org-settings") -> None:
        self._docs = VersionedIndex(client, index, "organization settings")

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def get_class(self, organization_id: str) -> str | None:
        try:
            source, _ = self._docs.get(organization_id)
        except NotFound:
            return None
        value = source.get("retention_class")
        return str(value) if value is not None else None

    def set_class(self, record: OrgClassRecord) -> str | None:
        change = {
            "retention_class": record.retention_class,
            "updated_by": record.updated_by,
            "updated_at": record.updated_at.astimezone(UTC).isoformat(),
            "reason": record.reason,
        }
        for _ in range(_ATTEMPTS):
            try:
                source, version = self._docs.get(record.organization_id)
            except NotFound:
                document: dict[str, Any] = {
                    "organization_id": record.organization_id,
                    **change,
                    "history": [change],
                }
                if self._docs.create(record.organization_id, document):
                    return None
                continue
            previous = source.get("retention_class")
            document = {**source, **change, "history": [*source.get("history", []), change]}
            try:
                self._docs.replace(record.organization_id, document, version)
            except ConflictError:
                continue
            return str(previous) if previous is not None else None
        raise ConflictError(f"settings of {record.organization_id} kept changing; retry the change")
