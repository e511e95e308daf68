"""Signed digests: periodic Ed25519-signed statements about a chain segment.

A digest says "organization O's chain, from ``first_seq`` (whose prev_hash is
``first_prev_hash``) to ``last_seq`` (whose hash is ``head_hash``), holds
``count`` events with event times in [``from_time``, ``to_time``]". Each
digest carries the previous digest's signature, so digests form their own
chain (as CloudTrail's do) and a removed digest is noticed. The signature
covers the canonical JSON (see ``canonical``) of every other field, with
date-times as RFC 3339 UTC strings as pydantic writes them in JSON mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.domain.integrity.canonical import canonical_json
from audit.domain.integrity.findings import Finding, FindingKind
from audit.domain.integrity.keys import SigningKey, signature_valid

_HASH_PATTERN = r"^[0-9a-f]{64}$"


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_id: str = Field(min_length=1)
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    first_prev_hash: str = Field(pattern=_HASH_PATTERN)
    head_hash: str = Field(pattern=_HASH_PATTERN)
    count: int = Field(ge=1)
    from_time: datetime
    to_time: datetime
    previous_signature: str | None = None
    key_id: str = ""
    signed_at: datetime
    signature: str = ""

    @field_validator("from_time", "to_time", "signed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> Digest:
        if self.last_seq < self.first_seq:
            raise ValueError("last_seq is before first_seq")
        return self

    def signing_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def as_dict(self) -> dict[str, object]:
        """The stored form (``audit-digests`` document, ``digests.json`` item)."""
        return self.model_dump(mode="json")


def sign_digest(digest: Digest, key: SigningKey) -> Digest:
    """``digest`` with ``key_id`` set and signed by ``key``."""
    unsigned = digest.model_copy(update={"key_id": key.key_id, "signature": ""})
    return unsigned.model_copy(update={"signature": key.sign(unsigned.signing_bytes())})


def verify_digest(digest: Digest, public_keys: Mapping[str, Ed25519PublicKey]) -> Finding | None:
    """``None`` if the digest is signed by a known key; else the finding."""
    where = {"seq": digest.last_seq}
    public = public_keys.get(digest.key_id)
    if public is None:
        return Finding(
            kind=FindingKind.UNKNOWN_KEY,
            message=f"digest of seq {digest.first_seq}..{digest.last_seq} is signed by "
            f"unknown key id {digest.key_id!r}",
            **where,
        )
    if not digest.signature or not signature_valid(
        public, digest.signature, digest.signing_bytes()
    ):
        return Finding(
            kind=FindingKind.BAD_SIGNATURE,
            message=f"digest of seq {digest.first_seq}..{digest.last_seq} has an invalid "
            f"signature (key {digest.key_id})",
            **where,
        )
    return None


def new_digest(
    *,
    organization_id: str,
    first_seq: int,
    last_seq: int,
    first_prev_hash: str,
    head_hash: str,
    from_time: datetime,
    to_time: datetime,
    previous: Digest | None,
    signed_at: datetime,
    key: SigningKey,
) -> Digest:
    """A signed digest of a contiguous segment, chained to ``previous``."""
    if previous is not None and previous.last_seq + 1 != first_seq:
        raise ValueError("a digest must start right after the previous digest")
    draft = Digest(
        organization_id=organization_id,
        first_seq=first_seq,
        last_seq=last_seq,
        first_prev_hash=first_prev_hash,
        head_hash=head_hash,
        count=last_seq - first_seq + 1,
        from_time=from_time,
        to_time=to_time,
        previous_signature=previous.signature if previous is not None else None,
        signed_at=signed_at,
    )
    return sign_digest(draft, key)
