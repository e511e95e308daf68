"""Detections in ``audit-detections``: one document per detection id.

Implements :class:`audit.services.ports.incidents.DetectionStore` and
:class:`audit.services.ports.detection.DetectionWriter`. ``put``
indexes under the detection id, so a replayed detection is stored once and
a later version of the same detection (more events counted) overwrites it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from audit.adapters.elasticsearch.scope import RECORD_ORG_FIELDS, with_scope
from audit.adapters.elasticsearch.versioned import (
    VersionedIndex,
    ensure_index,
    terms_query,
    unavailable,
)
from audit.domain.detection.record import Detection
from audit.errors import StoreUnavailable

MAPPING = "audit-detections"


class ElasticsearchDetectionStore:
    def __init__(self, client: Elasticsearch, index: str = "audit-detections") -> None:
        self._docs = VersionedIndex(client, index, "detection")

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def put(self, detection: Detection) -> None:
        try:
            self._docs.client.index(
                index=self._docs.index, id=detection.id, document=detection.model_dump(mode="json")
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store detection {detection.id}") from err

    def put_many(self, detections: Sequence[Detection]) -> None:
        """One bulk request for a batch: an alert storm is one round trip,
        not one per detection."""
        if not detections:
            return
        operations: list[dict[str, Any]] = []
        for detection in detections:
            operations.append({"index": {"_index": self._docs.index, "_id": detection.id}})
            operations.append(detection.model_dump(mode="json"))
        try:
            answer = self._docs.client.bulk(operations=operations)
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store {len(detections)} detections") from err
        if answer.get("errors"):
            failed = [
                item["index"] for item in answer["items"] if item["index"].get("status", 500) >= 300
            ]
            raise StoreUnavailable(
                f"cannot store {len(failed)} of {len(detections)} detections: "
                f"{failed[0].get('error')}"
            )

    def get(self, detection_id: str) -> Detection:
        """The detection; :class:`audit.errors.NotFound` if absent."""
        return Detection.model_validate(self._docs.get(detection_id)[0])

    def list(
        self,
        *,
        rule_id: str | None = None,
        organization_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Detection]:
        """``organization_id``: owned by or affecting it (None: all; blank: none)."""
        query: dict[str, Any] = terms_query({"rule_id": [rule_id] if rule_id else None})
        scope = [organization_id] if organization_id is not None else None
        query = with_scope(query, scope, *RECORD_ORG_FIELDS)
        if since is not None:
            window = {"range": {"last_seen": {"gte": since.isoformat()}}}
            if "bool" in query:
                query["bool"]["filter"].append(window)
            else:
                query = {"bool": {"filter": [window]}}
        sort = [{"first_seen": "asc"}, {"id": "asc"}]
        return [Detection.model_validate(s) for s in self._docs.search(query, sort)]

    def refresh(self) -> None:
        self._docs.refresh()
