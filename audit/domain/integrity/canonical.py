"""The canonical JSON form of a stored document, and the event hash over it.

Canonicalization (what ``canonical_bytes`` produces), close to RFC 8785
(JCS) for the value types a stored audit document can hold:

* the top-level ``integrity`` object is left out (it carries the hash);
  every other member, at every depth, is kept;
* objects: members sorted by key in Unicode code point order (RFC 8785
  sorts by UTF-16 code units; the two orders differ only between keys with
  characters above U+FFFF and keys with characters in U+E000..U+FFFF, which
  the contract's field names never have); keys must be strings;
* no whitespace between tokens; UTF-8 output, no byte order mark;
* strings: characters as UTF-8, not escaped, except ``"`` → ``\\"``,
  ``\\`` → ``\\\\`` and control characters U+0000..U+001F, written as
  ``\\b \\t \\n \\f \\r`` or else ``\\u00xx`` (lower-case hex); ``/`` and
  U+007F are not escaped; a lone surrogate is rejected;
* integers: plain decimal, at most 64 bits (larger is rejected);
* floats: the shortest form that reads back to the same double, as Python's
  ``repr`` writes it (``0.1``, ``1.0``, ``-0.0``, ``1e+16``, ``1e-7``). This
  is where we differ from RFC 8785, which writes ``10000000000000000``;
  geo coordinates are the only floats in the contract. Non-finite floats are
  not JSON and never reach a stored document (parsing rejects them);
* ``true``, ``false``, ``null``; arrays keep their order.

orjson with ``OPT_SORT_KEYS`` produces exactly this; date-times, dataclasses
and ``str``/``int`` subclasses are refused so that only what a JSON parser
returns can be hashed (anything else would not read back the same way from
Elasticsearch and would then fail verification).

The event hash is ``sha256(prev_hash_hex_ascii || canonical_bytes)`` in
lower-case hex, the previous hash being the 64 hex characters as ASCII.
The first event of a chain has ``prev_hash`` = 64 zeros (``GENESIS_HASH``).

Version 2 (``integrity.v`` = 2) keeps personal values out of the hash: it is
``sha256(prev_hash_hex_ascii || canonical({"commitments": C, "document": D,
"keys": K, "v": 2}))`` where ``D`` is the document without its personal
fields (``audit.domain.privacy.fields``), ``C`` the keyed commitment of each
of them and ``K`` the ids of the subject keys that made them (see
``audit.domain.privacy.commitments``). A personal value can then be removed
(erasure) or truncated (ageing) without changing the hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from audit.domain.privacy.fields import without_personal

INTEGRITY_FIELD = "integrity"
GENESIS_HASH = "0" * 64

_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical_json(value: Any) -> bytes:
    """Any JSON value in canonical form (the ``integrity`` rule not applied)."""
    return orjson.dumps(value, option=_OPTIONS)


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The canonical form of a stored document, without its ``integrity`` object."""
    if INTEGRITY_FIELD in document:
        document = {k: v for k, v in document.items() if k != INTEGRITY_FIELD}
    elif not isinstance(document, dict):
        document = dict(document)
    return orjson.dumps(document, option=_OPTIONS)


def event_hash(prev_hash: str, document: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical(document))`` as lower-case hex."""
    return hashed_canonical(prev_hash, document)[0]


def hashed_canonical(prev_hash: str, document: Mapping[str, Any]) -> tuple[str, bytes]:
    """``event_hash`` and the canonical bytes it hashed.

    The ingest path keeps the bytes: with the ``integrity`` object appended
    (``with_integrity``) they are the stored JSON, so the document is
    serialized once, not once to hash and again for the bulk body.
    """
    body = canonical_bytes(document)
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(body)
    return digest.hexdigest(), body


def with_integrity(canonical: bytes, integrity: Mapping[str, Any]) -> bytes:
    """The stored JSON of a document from its ``canonical_bytes`` and its
    ``integrity`` object: the same members (sorted), ``integrity`` last.

    Member order means nothing to a JSON reader (nor to verification, which
    canonicalizes what it reads), so this parses back to the document with
    ``integrity`` set.
    """
    member = b'"integrity":' + orjson.dumps(integrity)
    if canonical == b"{}":
        return b"{" + member + b"}"
    return canonical[:-1] + b"," + member + b"}"


def event_hash_v2(
    prev_hash: str,
    document: Mapping[str, Any],
    commitments: Mapping[str, str],
    keys: Mapping[str, str],
) -> str:
    """The version-2 hash: personal fields replaced by their commitments."""
    body = {
        "commitments": dict(commitments),
        "document": without_personal({k: v for k, v in document.items() if k != INTEGRITY_FIELD}),
        "keys": dict(keys),
        "v": 2,
    }
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(orjson.dumps(body, option=_OPTIONS))
    return digest.hexdigest()
