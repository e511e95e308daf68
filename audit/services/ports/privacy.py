"""Ports of data-subject rights: the subject key store, erasure records and
data-subject requests.

Adapters: ``audit.adapters.elasticsearch.subject_key_store`` and
``dsr_store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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

    def erased_under(self, event_ids: Sequence[str]) -> dict[str, str]:
        """event id -> the request that erased it, for those erased."""
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
