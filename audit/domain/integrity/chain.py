"""The per-organization hash chain: extending it, and reading it back.

Each organization has one chain. The consumer that owns the organization's
partition extends it one stored document at a time::

    fields, head = extend(head, document)
    document["integrity"] = fields.as_dict()

``head`` must be recovered from what is stored (the highest ``seq`` of the
organization) after a restart or rebalance, never re-started at genesis
unless the organization has no stored event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.domain.integrity.canonical import GENESIS_HASH, INTEGRITY_FIELD, event_hash

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


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last link of an organization's chain: its ``seq`` and ``hash``.

    ``seq`` 0 with ``GENESIS_HASH`` is the head of an empty chain.
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


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
