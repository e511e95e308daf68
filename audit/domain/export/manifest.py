"""The export manifest: what a bundle holds, signed as a whole.

The signature (``manifest.sig``: base64 Ed25519, one line) covers the
canonical JSON (see ``audit.domain.integrity.canonical``) of the manifest's
JSON form, exactly the bytes ``signing_bytes`` returns; ``manifest.json`` is
that same JSON, indented for people (verification re-canonicalizes it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from audit.domain.integrity.canonical import canonical_json

MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
DIGESTS_FILE = "digests.json"
CHAIN_FILE = "chain.ndjson"
PUBLIC_KEY_FILE = "public_key.pem"
FORMAT_VERSION = 1


class ExportFormat(StrEnum):
    NDJSON = "ndjson"
    CSV = "csv"


class Verification(StrEnum):
    """How far a bundle's events can be verified offline.

    ``full``: unredacted NDJSON; each event's hash is recomputed from its
    content. ``linkage``: redacted or CSV; each event's stored
    ``seq``/``prev_hash``/``hash`` is checked against the signed chain proof,
    but its content cannot be (it is not the stored form any more).
    """

    FULL = "full"
    LINKAGE = "linkage"


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    events: int | None = Field(default=None, ge=0)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    organization_id: str
    query: dict[str, Any]
    format: ExportFormat
    time_from: datetime | None = None
    time_to: datetime | None = None
    requester: str
    purpose: str = Field(min_length=1)
    exported_at: datetime
    redaction_profile: str
    verification: Verification
    event_count: int = Field(ge=0)
    first_seq: int | None = None
    last_seq: int | None = None
    files: tuple[FileEntry, ...]
    key_id: str

    @field_validator("time_from", "time_to", "exported_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)

    def signing_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def data_files(self) -> list[FileEntry]:
        return [entry for entry in self.files if entry.name.startswith("events-")]
