"""The signed erasure record of a data-subject request.

It names the request, how many events were erased, a SHA-256 over their
sorted ids (one id a line: the ledger can be checked against it), which
events were kept and why, the subject keys destroyed, and when. It is signed
with the digest key (Ed25519), so ``audit verify`` can tell an erasure the
service carried out from a value removed by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.integrity.canonical import canonical_json
from audit.domain.integrity.keys import SigningKey, signature_valid


def events_digest(event_ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for event_id in sorted(event_ids):
        digest.update(event_id.encode() + b"\n")
    return digest.hexdigest()


def _signing_bytes(record: Mapping[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in record.items() if k != "signature"})


def sign_record(record: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if k != "signature"}
    body["key_id"] = key.key_id
    return {**body, "signature": key.sign(_signing_bytes(body))}


def record_valid(record: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]) -> bool:
    key = public_keys.get(str(record.get("key_id")))
    signature = record.get("signature")
    if key is None or not isinstance(signature, str):
        return False
    return signature_valid(key, signature, _signing_bytes(record))
