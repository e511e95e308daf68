"""Scheduler leases in the lock index: one document per job.

Implements :class:`audit.services.ports.incidents.Lease`. The document holds
the last claimed ``slot`` (the minute a run is for), its ``holder`` and an
``expires_at``. A replica claims a slot by creating the document
(``op_type=create``) or by overwriting it at the version it read
(``if_seq_no``/``if_primary_term``) when the stored slot is older and the
previous lease has expired or is its own. Of two replicas claiming the same
slot, exactly one write succeeds; the other sees a conflict, or the slot
already claimed, and skips.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index
from audit.errors import ConflictError, NotFound

MAPPING = "audit-locks"


class ElasticsearchLease:
    def __init__(self, client: Elasticsearch, index: str, ttl: timedelta) -> None:
        self._docs = VersionedIndex(client, index, "lease")
        self._ttl = ttl

    def ensure_index(self) -> None:
        ensure_index(self._docs.client, self._docs.index, MAPPING)

    def _document(self, job: str, holder: str, slot: datetime, now: datetime) -> dict[str, Any]:
        return {
            "job": job,
            "holder": holder,
            "slot": slot.isoformat(),
            "acquired_at": now.isoformat(),
            "expires_at": (now + self._ttl).isoformat(),
        }

    def acquire(self, job: str, holder: str, slot: datetime, now: datetime) -> bool:
        document = self._document(job, holder, slot, now)
        if self._docs.create(job, document):
            return True
        try:
            current, version = self._docs.get(job)
        except NotFound:  # released and deleted meanwhile: try creating once more
            return self._docs.create(job, document)
        if datetime.fromisoformat(current["slot"]) >= slot:
            return False
        held_by_other = current["holder"] != holder
        if held_by_other and datetime.fromisoformat(current["expires_at"]) > now:
            return False
        try:
            self._docs.replace(job, document, version)
        except ConflictError:
            return False
        return True

    def release(self, job: str, holder: str, now: datetime) -> None:
        try:
            current, version = self._docs.get(job)
        except NotFound:
            return
        if current["holder"] != holder:
            return
        released = {**current, "expires_at": now.isoformat()}
        try:
            self._docs.replace(job, released, version)
        except ConflictError:
            return  # someone took over after our lease expired: theirs now
