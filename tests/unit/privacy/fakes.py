"""In-memory fakes of the privacy ports (refuse what the real ones refuse)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any


class MemoryKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def get(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        return {k: self.keys[k] for k in key_ids if k in self.keys}

    def create(self, wrapped: Mapping[str, bytes]) -> dict[str, bytes]:
        for key_id, value in wrapped.items():
            self.keys.setdefault(key_id, value)  # an existing key wins, as op_type=create
        return {k: self.keys[k] for k in wrapped}

    def destroy(self, key_ids: Sequence[str]) -> None:
        for key_id in key_ids:
            self.keys.pop(key_id, None)


class MemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[str, Any]] = {}

    def record_events(self, request_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        for entry in entries:
            self.entries[entry["event_id"]] = {"request_id": request_id, **entry}

    def erased_under(self, event_ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        return {
            e: (self.entries[e]["request_id"], list(self.entries[e].get("fields", [])))
            for e in event_ids
            if e in self.entries
        }

    def events_of(self, request_id: str) -> Iterator[str]:
        yield from sorted(e for e, v in self.entries.items() if v["request_id"] == request_id)

    def put_record(self, request_id: str, record: Mapping[str, Any]) -> None:
        self.records[request_id] = dict(record)

    def record(self, request_id: str) -> dict[str, Any] | None:
        return self.records.get(request_id)
