"""Port of the API's background jobs: their records and the files they leave, shared
by every API replica.

A job runs in the API process that started it; its record (state, progress,
result, the replica's last heartbeat) and the files it leaves (an export's
bundle) are kept where every replica reads them. Behind a load balancer the
next poll or the download reaches any replica, and a replica's restart does
not forget what finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from audit.errors import AuditError


class StoredFileCorrupt(AuditError):
    """A job's stored file does not read back as it was stored (size or SHA-256)."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file a job left, as stored: its name, size and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str


class JobStore(Protocol):
    def save(self, record: dict[str, Any]) -> None:
        """Create or replace the job record ``record["id"]`` (readable at once by id)."""

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record; None when there is none."""

    def records(self, kind: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` records of one kind (None: every kind), newest first
        (by ``created_at``, then id). A record saved a moment ago may be
        missing: searches see writes within about a second."""

    def delete(self, job_ids: list[str]) -> None:
        """Forget these jobs: their records and their files."""

    def put_file(self, job_id: str, name: str, path: Path) -> StoredFile:
        """Store the file at ``path`` as the job's file ``name``."""

    def read_file(self, job_id: str, stored: StoredFile) -> Iterator[bytes]:
        """The stored file's bytes, in order; :class:`StoredFileCorrupt` when
        they do not match its size and SHA-256."""
