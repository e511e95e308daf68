"""In-memory fakes of the disclosure service's ports (refusing what the real ones refuse)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from audit.domain.disclosure import DisclosureRequest
from audit.domain.legal.hold_requests import HoldRequest
from audit.domain.retention import LegalHold
from audit.errors import ConflictError, NotFound
from audit.services.export import ExportRequest
from audit.services.holds import InvalidHold
from audit.services.ports.incidents import Stored, Version


class MemoryDisclosureStore:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[DisclosureRequest, int]] = {}

    def get(self, request_id: str) -> Stored[DisclosureRequest]:
        if request_id not in self.docs:
            raise NotFound(f"no request {request_id}")
        value, seq = self.docs[request_id]
        return Stored(value, Version(seq, 1))

    def create(self, request: DisclosureRequest) -> bool:
        if request.id in self.docs:
            return False
        self.docs[request.id] = (request, 0)
        return True

    def replace(self, request: DisclosureRequest, version: Version) -> None:
        _, seq = self.docs[request.id]
        if seq != version.seq_no:
            raise ConflictError("stale")
        self.docs[request.id] = (request, seq + 1)

    def all(self) -> list[DisclosureRequest]:
        return [value for value, _ in self.docs.values()]

    def open_requests(self) -> list[DisclosureRequest]:
        found = [value for value, _ in self.docs.values() if not value.closed]
        return sorted(found, key=lambda r: (r.intake.received_at, r.id))


@dataclass
class MemoryHolds:
    holds: dict[str, LegalHold] = field(default_factory=dict)
    released: list[tuple[str, str, str]] = field(default_factory=list)

    def create_from_request(self, request: HoldRequest, reference: str | None = None) -> LegalHold:
        hold = LegalHold.from_request(request, reference)
        return self.holds.setdefault(hold.id, hold)

    def release(self, hold_id: str, by: str, reason: str, at: datetime) -> LegalHold:
        if not reason.strip():
            raise InvalidHold("a release needs a reason")
        hold = self.holds[hold_id].release(by, at)
        self.holds[hold_id] = hold
        self.released.append((hold_id, by, reason))
        return hold

    def active(self, at: datetime) -> list[str]:
        return sorted(h.id for h in self.holds.values() if h.is_active(at))


@dataclass
class RecordingExporter:
    """Records each export request; answers a manifest whose bytes name the request."""

    requests: list[ExportRequest] = field(default_factory=list)

    def export(self, request: ExportRequest, now: datetime) -> Any:
        self.requests.append(request)
        body = repr((request.organization_id, request.user_ids, request.time_from)).encode()
        manifest = SimpleNamespace(signing_bytes=lambda: body, event_count=3)
        return SimpleNamespace(manifest=manifest, skipped=0)

    @staticmethod
    def digest_of(request: ExportRequest) -> str:
        body = repr((request.organization_id, request.user_ids, request.time_from)).encode()
        return hashlib.sha256(body).hexdigest()
