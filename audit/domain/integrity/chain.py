"""The per-organization hash chain: extending it, and reading it back.

Each organization has one chain. The consumer that owns the organization's
partition extends it one stored document at a time::

    fields, head = extend(head, document)
    document["integrity"] = fields.as_dict()

``extend_v2`` seals a version-2 link (personal values committed, see
``canonical.event_hash_v2``); a chain may hold both versions side by side.

``head`` must be recovered from what is stored (the highest ``seq`` of the
organization) after a restart or rebalance, never re-started at genesis
unless the organization has no stored event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from audit.domain.integrity.canonical import (
    GENESIS_HASH,
    INTEGRITY_FIELD,
    event_hash,
    event_hash_v2,
    hashed_canonical,
    with_integrity,
)

_HEX = frozenset("0123456789abcdef")


def is_hash(value: object) -> bool:
    """A lower-case hex SHA-256 (64 characters)."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def stored_time(document: Mapping[str, object]) -> datetime | None:
    """A stored document's ``@timestamp`` when it is an aware ISO 8601 time, else None.

    What verification and digests read back from the store: a value that was
    altered into something unreadable is not an error here (the hash says so).
    """
    value = document.get("@timestamp")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class ChainHead(NamedTuple):
    """The last link of an organization's chain: its ``seq`` and ``hash``.

    ``seq`` 0 with ``GENESIS_HASH`` is the head of an empty chain.
    Immutable like the frozen dataclasses here, but a NamedTuple: ingest
    makes one per event, and a frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field) costs about three times as much.
    """

    organization_id: str
    seq: int
    hash: str

    @classmethod
    def genesis(cls, organization_id: str) -> ChainHead:
        return cls(organization_id, 0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class IntegrityFields:
    """The ``integrity`` object stored with each event."""

    chain: str
    seq: int
    prev_hash: str
    hash: str
    version: int = 1
    keys: Mapping[str, str] | None = None  # v2: subject ("actor"/"target") -> key id
    commitments: Mapping[str, str] | None = None  # v2: field path -> commitment

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "chain": self.chain,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
        if self.version != 1:
            out["v"] = self.version
            out["keys"] = dict(self.keys or {})
            out["commitments"] = dict(self.commitments or {})
        return out


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One link as read back: what verification needs of a stored event.

    ``event_id`` is ``None`` for a link known only by its hashes (the chain
    proof of an export bundle).
    """

    chain: str
    seq: int
    prev_hash: str
    hash: str
    event_id: str | None = None


def extend(head: ChainHead, document: Mapping[str, Any]) -> tuple[IntegrityFields, ChainHead]:
    """The integrity fields of ``document`` as the next link after ``head``.

    ``document`` is the stored form (its ``integrity`` member, if any, is
    ignored). Pure: the caller stores the fields and keeps the new head.
    """
    seq = head.seq + 1
    digest = event_hash(head.hash, document)
    fields = IntegrityFields(head.organization_id, seq, head.hash, digest)
    return fields, ChainHead(head.organization_id, seq, digest)


def extend_canonical_batch(
    heads: dict[str, ChainHead], documents: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[tuple[dict[str, Any], bytes]]:
    """``extend`` for the ingest path, over a batch: each (organization id,
    document) in order, each organization's chain continuing from
    ``heads[organization id]`` (every one must be there; ``heads`` is updated
    to the new heads). Per document: its integrity fields already as the
    stored object (``IntegrityFields.as_dict`` of a version-1 link), and its
    stored JSON, the canonical bytes that were hashed with the integrity
    appended (``with_integrity``), so that the document is serialized once.

    One loop with plain locals per chain: the ingest path seals every event
    it stores, ~2,000 per batch (issue 16).
    """
    out: list[tuple[dict[str, Any], bytes]] = []
    append = out.append
    # Each chain's last (seq, hash) as plain locals: a ChainHead per
    # organization is made once, at the end.
    tails = {org: (head.seq, head.hash) for org, head in heads.items()}
    for org, document in documents:
        seq, prev = tails[org]
        seq += 1
        hashed, canonical = hashed_canonical(prev, document)
        fields = {"chain": org, "seq": seq, "prev_hash": prev, "hash": hashed}
        append((fields, with_integrity(canonical, fields)))
        tails[org] = (seq, hashed)
    for org, (seq, hashed) in tails.items():
        if seq != heads[org].seq:
            heads[org] = ChainHead(org, seq, hashed)
    return out


def extend_v2(
    head: ChainHead,
    document: Mapping[str, Any],
    commitments: Mapping[str, str],
    keys: Mapping[str, str],
) -> tuple[IntegrityFields, ChainHead]:
    """Like ``extend``, as a version-2 link: ``commitments`` (from
    ``audit.domain.privacy.commitments.commitments_for``) stand for the
    personal values, made with the subject keys named in ``keys``."""
    seq = head.seq + 1
    digest = event_hash_v2(head.hash, document, commitments, keys)
    fields = IntegrityFields(
        head.organization_id, seq, head.hash, digest, 2, dict(keys), dict(commitments)
    )
    return fields, ChainHead(head.organization_id, seq, digest)


def commitments_of(document: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]] | None:
    """The (commitments, keys) of a version-2 link, ``None`` for version 1;
    raises ValueError when the version-2 members are malformed."""
    fields = document.get(INTEGRITY_FIELD)
    if not isinstance(fields, Mapping) or fields.get("v", 1) == 1:
        return None
    commitments, keys = fields.get("commitments"), fields.get("keys")
    if (
        fields.get("v") != 2
        or not isinstance(commitments, Mapping)
        or not isinstance(keys, Mapping)
    ):
        raise ValueError("unknown link version or malformed commitments")
    if not all(isinstance(k, str) and is_hash(v) for k, v in commitments.items()):
        raise ValueError("malformed commitment")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise ValueError("malformed key ids")
    return dict(commitments), dict(keys)


def expected_hash(link: ChainLink, document: Mapping[str, Any]) -> str:
    """The hash ``document`` should have as the stored ``link`` (either version)."""
    committed = commitments_of(document)
    if committed is None:
        return event_hash(link.prev_hash, document)
    return event_hash_v2(link.prev_hash, document, committed[0], committed[1])


def head_of(document: Mapping[str, Any]) -> ChainHead | None:
    """The chain head a stored document represents (for recovery), if well formed."""
    link = link_of(document)
    if link is None:
        return None
    return ChainHead(link.chain, link.seq, link.hash)


def link_of(document: Mapping[str, Any]) -> ChainLink | None:
    """The link recorded in a stored document, or ``None`` if malformed."""
    fields = document.get(INTEGRITY_FIELD)
    if not isinstance(fields, Mapping):
        return None
    chain, seq = fields.get("chain"), fields.get("seq")
    prev, digest = fields.get("prev_hash"), fields.get("hash")
    if not isinstance(chain, str) or not isinstance(seq, int) or isinstance(seq, bool):
        return None
    if seq < 1 or not is_hash(prev) or not is_hash(digest):
        return None
    event = document.get("event")
    event_id = event.get("id") if isinstance(event, Mapping) else None
    return ChainLink(
        chain, seq, str(prev), str(digest), event_id if isinstance(event_id, str) else None
    )
