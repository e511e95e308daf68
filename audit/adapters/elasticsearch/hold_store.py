"""Legal holds in their own index (``audit-legal-holds`` by default), one document each.

Implements :class:`audit.services.ports.retention.HoldStore`. The document
is the hold plus a log of who placed and released it, when and why;
release uses optimistic concurrency so two releases cannot both succeed.
Holds are never deleted: a released hold stays as the record of its release.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index
from audit.domain.retention import LegalHold
from audit.errors import ConflictError, InvalidTransition

MAPPING = "audit-legal-holds"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class ElasticsearchHoldStore:
    def __init__(self, client: Elasticsearch, index: str = "audit-legal-holds") -> None:
        self._docs = VersionedIndex(client, index, "legal hold")

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def create(self, hold: LegalHold) -> bool:
        entry = {
            "action": "created",
            "by": hold.created_by,
            "at": _iso(hold.created_at),
            "reason": hold.reason,
            "reference": hold.reference,
        }
        return self._docs.create(hold.id, {"hold": hold.model_dump(mode="json"), "log": [entry]})

    def get(self, hold_id: str) -> LegalHold:
        source, _ = self._docs.get(hold_id)
        return LegalHold.model_validate(source["hold"])

    def all(self) -> list[LegalHold]:
        return [
            LegalHold.model_validate(source["hold"])
            for source in self._docs.search({"match_all": {}}, [{"hold.id": "asc"}])
        ]

    def log(self, hold_id: str) -> list[dict[str, Any]]:
        source, _ = self._docs.get(hold_id)
        entries: list[dict[str, Any]] = source.get("log", [])
        return entries

    def release(self, hold_id: str, by: str, at: datetime, reason: str) -> LegalHold:
        source, version = self._docs.get(hold_id)
        hold = LegalHold.model_validate(source["hold"])
        try:
            released = hold.release(by, at)
        except ValueError as err:
            raise InvalidTransition(str(err)) from None
        entry = {"action": "released", "by": by, "at": _iso(at), "reason": reason}
        document = {
            "hold": released.model_dump(mode="json"),
            "log": [*source.get("log", []), entry],
        }
        try:
            self._docs.replace(hold_id, document, version)
        except ConflictError:
            raise ConflictError(
                f"hold {hold_id} changed while being released; list it and retry"
            ) from None
        return released

    def refresh(self) -> None:
        self._docs.refresh()
