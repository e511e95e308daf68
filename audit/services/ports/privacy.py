"""Ports of data-subject rights: the subject key store, erasure records and
data-subject requests.

Adapters: ``audit.adapters.elasticsearch.subject_key_store`` and
``dsr_store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class SubjectKeyStore(Protocol):
    """Wrapped (encrypted) subject keys by key id. The store never sees a key
    in clear: ``audit.services.subject_keys.SubjectKeyring`` wraps them."""

    def get(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys that exist among ``key_ids`` (destroyed ones are absent)."""
        ...

    def create(self, wrapped: Mapping[str, bytes]) -> dict[str, bytes]:
        """Store each key unless its id exists; returns what is stored for
        every id afterwards (the existing key wins a race)."""
        ...

    def destroy(self, key_ids: Sequence[str]) -> None:
        """Delete the keys for good (idempotent)."""
        ...


class ErasureLedger(Protocol):
    """Which events were erased under which request, and the signed records."""

    def record_events(self, request_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """One entry per erased event (``event_id``, ``organization_id``,
        ``fields``); idempotent on the event id."""
        ...

    def erased_under(self, event_ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        """event id -> (the request that erased it, the fields erased), for those erased."""
        ...

    def events_of(self, request_id: str) -> Iterator[str]:
        """The event ids erased under ``request_id``, sorted."""
        ...

    def put_record(self, request_id: str, record: Mapping[str, Any]) -> None:
        """Store the signed erasure record of a request (replaces)."""
        ...

    def record(self, request_id: str) -> dict[str, Any] | None: ...


class RequestStore(Protocol):
    """Data-subject requests, one document each (replaced whole on change)."""

    def create(self, request_id: str, document: Mapping[str, Any]) -> bool: ...

    def get(self, request_id: str) -> dict[str, Any]:
        """Raises ``audit.errors.NotFound``."""
        ...

    def replace(self, request_id: str, document: Mapping[str, Any]) -> None: ...

    def list(self, limit: int = 100) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class StoredHit:
    """One stored document as read, with the version it was read at."""

    index: str
    doc_id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int


class DocumentIndex(Protocol):
    """Reading and rewriting documents of any of the service's indices, on
    core APIs only (no update-by-query, no scripts): a point-in-time walk,
    then bulk ``index`` with ``if_seq_no``/``if_primary_term``."""

    def walk(self, index: str, query: Mapping[str, Any]) -> Iterator[list[StoredHit]]:
        """Pages of the documents ``query`` selects (one point-in-time)."""
        ...

    def ids_matching(
        self, index: str, query: Mapping[str, Any], ids: Sequence[str]
    ) -> set[str]: ...

    def count(self, index: str, query: Mapping[str, Any]) -> int: ...

    def rewrite(self, changes: Sequence[tuple[StoredHit, Mapping[str, Any]]]) -> int:
        """Replace each document with its new source unless it changed since
        it was read (then ``audit.errors.ConflictError``: rerun). Write
        blocks are lifted for the write and put back. Returns how many."""
        ...

    def refresh(self, index: str) -> None: ...

    def indices(self, pattern: str) -> list[str]:
        """Names of the existing indices matching ``pattern``."""
        ...
