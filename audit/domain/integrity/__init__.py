"""Tamper-evident trail: canonical form, per-organization hash chain, signed
digests and their verification. Pure: no I/O, time is passed in."""

from audit.domain.integrity.canonical import (
    GENESIS_HASH,
    INTEGRITY_FIELD,
    canonical_bytes,
    canonical_json,
    event_hash,
    event_hash_v2,
)
from audit.domain.integrity.chain import (
    ChainHead,
    ChainLink,
    IntegrityFields,
    commitments_of,
    extend,
    extend_v2,
    head_of,
    link_of,
    stored_time,
)
from audit.domain.integrity.digest import Digest, new_digest, sign_digest, verify_digest
from audit.domain.integrity.findings import Finding, FindingKind
from audit.domain.integrity.keys import (
    SigningKey,
    SigningKeyError,
    generate_signing_key,
    key_id,
    load_public_keys,
    load_signing_key,
    private_key_pem,
    public_key_pem,
)
from audit.domain.integrity.verify import verify_chain, verify_links

__all__ = [
    "GENESIS_HASH",
    "INTEGRITY_FIELD",
    "ChainHead",
    "ChainLink",
    "Digest",
    "Finding",
    "FindingKind",
    "IntegrityFields",
    "SigningKey",
    "SigningKeyError",
    "canonical_bytes",
    "canonical_json",
    "commitments_of",
    "event_hash",
    "event_hash_v2",
    "extend",
    "extend_v2",
    "generate_signing_key",
    "head_of",
    "key_id",
    "link_of",
    "load_public_keys",
    "load_signing_key",
    "new_digest",
    "private_key_pem",
    "public_key_pem",
    "sign_digest",
    "stored_time",
    "verify_chain",
    "verify_digest",
    "verify_links",
]
