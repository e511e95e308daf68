"""What verification reports: one finding per problem, named and located."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class FindingKind(StrEnum):
    MODIFIED = "modified"  # content no longer hashes to its stored hash
    DELETED = "deleted"  # a sequence number is missing, or a link points to nothing
    INSERTED = "inserted"  # a forged link: duplicate seq, or prev/hash fit no neighbour
    REORDERED = "reordered"  # sequence order disagrees with the prev_hash links
    UNANCHORED = "unanchored"  # the start of a range could not be confirmed
    MALFORMED = "malformed"  # missing or invalid integrity fields
    VALUE_MODIFIED = "value_modified"  # a personal value does not match its commitment
    VALUE_REMOVED = "value_removed"  # a personal value gone without an erasure or ageing record
    KEY_MISSING = "key_missing"  # a value is present but its subject key is gone
    DIGEST_MISMATCH = "digest_mismatch"  # events disagree with a signed digest
    DIGEST_CHAIN_BROKEN = "digest_chain_broken"  # digests do not follow each other
    BAD_SIGNATURE = "bad_signature"  # signature does not verify
    UNKNOWN_KEY = "unknown_key"  # signed by a key id we do not have
    FILE_MODIFIED = "file_modified"  # bundle file hash differs from the manifest
    FILE_MISSING = "file_missing"  # bundle file listed but absent
    FILE_UNEXPECTED = "file_unexpected"  # bundle file present but not listed
    BUNDLE_INVALID = "bundle_invalid"  # manifest or bundle file unreadable


class Finding(BaseModel):
    """One problem found. ``event_id``/``seq`` locate it when they are known;
    ``file`` names the bundle file concerned."""

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    message: str
    event_id: str | None = None
    seq: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.event_id is not None:
            where.append(f"event {self.event_id}")
        prefix = f" [{', '.join(where)}]" if where else ""
        return f"{self.kind.value}{prefix}: {self.message}"
