"""Ports of the tamper-evident trail: the stored chain and the signed digests.

Adapters: ``audit.adapters.elasticsearch.chain_store`` and ``digest_store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from audit.domain.integrity import Digest


@dataclass(frozen=True)
class ChainQuery:
    """Stored events of one organization's chain, in ``integrity.seq`` order.

    ``from_seq``/``to_seq`` bound the sequence numbers (inclusive); the other
    fields filter (time: ``@timestamp`` in ``[time_from, time_to)``). With no
    seq bound, documents without a ``seq`` (malformed) come last.
    """

    organization_id: str
    from_seq: int | None = None
    to_seq: int | None = None
    user_ids: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None
    # Data-subject requests: exact field values (AND), and data categories left out.
    terms: tuple[tuple[str, str], ...] = ()
    exclude_categories: tuple[str, ...] = ()
    # Only these data categories (a lawful request's approved scope); empty: any.
    categories: tuple[str, ...] = ()


class ChainSnapshot(Protocol):
    """One consistent (point-in-time) view of the stored events."""

    def documents(
        self, query: ChainQuery, *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Matching stored documents by seq (only ``fields`` of each if given)."""
        ...

    def count(self, query: ChainQuery) -> int: ...

    def seq_bounds(self, query: ChainQuery) -> tuple[int, int] | None:
        """The lowest and highest seq among matching documents, if any."""
        ...


class ChainStore(Protocol):
    def snapshot(self) -> AbstractContextManager[ChainSnapshot]: ...

    def heads(self) -> dict[str, int]:
        """Every organization's highest stored seq."""
        ...


@dataclass(frozen=True)
class StoredDigest:
    """A digest as read back: ``digest`` is ``None`` when the stored document
    is not a valid digest any more (``problem`` says why)."""

    doc_id: str
    digest: Digest | None
    problem: str = ""


class DigestStore(Protocol):
    def latest(self, organization_id: str) -> StoredDigest | None:
        """The organization's digest with the highest ``last_seq``."""
        ...

    def before(self, organization_id: str, seq: int) -> StoredDigest | None:
        """The digest with the highest ``last_seq`` below ``seq``."""
        ...

    def create(self, digest: Digest) -> bool:
        """Store ``digest`` under an id from its organization and first seq;
        False if that id exists (another run signed this segment)."""
        ...

    def overlapping(
        self, organization_id: str, from_seq: int | None, to_seq: int | None
    ) -> Iterator[StoredDigest]:
        """Digests whose seq range meets ``[from_seq, to_seq]``, by ``first_seq``."""
        ...
