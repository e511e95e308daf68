"""Fakes of the integrity ports (``audit.services.ports.integrity``).

:class:`FakeChainStore` reads the documents of a :class:`FakeEventStore` as
``ElasticsearchChainStore`` reads the event alias: through a point in time
(a snapshot taken when it opens, of what a refresh made searchable), with
the adapter's own query (``query_dsl``) evaluated in memory, sorted by
``integrity.seq`` with malformed documents last.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from audit.adapters.elasticsearch.chain_store import query_dsl
from audit.domain.integrity import Digest
from audit.services.ports.integrity import ChainQuery, StoredDigest
from tests.fakes.faults import Outages
from tests.fakes.ingest import FakeEventStore
from tests.fakes.query import field_values, matches


def _seq(source: dict[str, Any]) -> int | None:
    values = [v for v in field_values(source, "integrity.seq") if isinstance(v, int)]
    return values[0] if values else None


def _only(source: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Source filtering: the listed dotted fields (a prefix keeps its subtree)."""
    kept: dict[str, Any] = {}
    for path in fields:
        node: Any = source
        parts = path.split(".")
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            target = kept
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = copy.deepcopy(node)
    return kept


class FakeChainSnapshot:
    def __init__(self, documents: list[dict[str, Any]], outages: Outages) -> None:
        self._documents = documents
        self._outages = outages

    def _matching(self, query: ChainQuery) -> list[dict[str, Any]]:
        self._outages.check("cannot read the chain")
        dsl = query_dsl(query)
        found = [d for d in self._documents if matches(dsl, d)]
        # integrity.seq ascending, missing last (stable otherwise, like _shard_doc)
        return sorted(found, key=lambda d: (_seq(d) is None, _seq(d) or 0))

    def documents(
        self, query: ChainQuery, *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        for document in self._matching(query):
            yield copy.deepcopy(document) if fields is None else _only(document, fields)

    def count(self, query: ChainQuery) -> int:
        return len(self._matching(query))

    def seq_bounds(self, query: ChainQuery) -> tuple[int, int] | None:
        seqs = [s for s in (_seq(d) for d in self._matching(query)) if s is not None]
        return (min(seqs), max(seqs)) if seqs else None


class FakeChainStore:
    def __init__(self, events: FakeEventStore) -> None:
        self._events = events
        self.outages = Outages()

    @contextmanager
    def snapshot(self) -> Iterator[FakeChainSnapshot]:
        self.outages.check("cannot open a point in time")
        frozen = copy.deepcopy(self._events.searchable_documents())
        yield FakeChainSnapshot(frozen, self.outages)

    def heads(self) -> dict[str, int]:
        self.outages.check("cannot list the chains")
        heads: dict[str, int] = {}
        for document in self._events.searchable_documents():
            chains = [c for c in field_values(document, "integrity.chain") if isinstance(c, str)]
            seq = _seq(document)
            if chains and seq is not None:
                heads[chains[0]] = max(heads.get(chains[0], seq), seq)
        return heads


def digest_id(organization_id: str, first_seq: int) -> str:
    return f"{organization_id}:{first_seq}"


class FakeDigestStore:
    """Digests under ``<organization>:<first_seq>``; a second create answers False."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.outages = Outages()

    def _parsed(self, doc_id: str) -> StoredDigest:
        try:
            return StoredDigest(doc_id, Digest.model_validate(self.docs[doc_id]))
        except ValidationError as err:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            return StoredDigest(doc_id, None, problem)

    def _of(self, organization_id: str) -> list[tuple[str, dict[str, Any]]]:
        self.outages.check("cannot search the digests")
        return [
            (doc_id, doc)
            for doc_id, doc in self.docs.items()
            if doc.get("organization_id") == organization_id
        ]

    def latest(self, organization_id: str) -> StoredDigest | None:
        found = self._of(organization_id)
        if not found:
            return None
        best = max(found, key=lambda d: (d[1].get("last_seq", 0), d[1].get("first_seq", 0)))
        return self._parsed(best[0])

    def before(self, organization_id: str, seq: int) -> StoredDigest | None:
        found = [d for d in self._of(organization_id) if d[1].get("last_seq", 0) < seq]
        if not found:
            return None
        best = max(found, key=lambda d: (d[1].get("last_seq", 0), d[1].get("first_seq", 0)))
        return self._parsed(best[0])

    def create(self, digest: Digest) -> bool:
        self.outages.check("cannot create digest")
        doc_id = digest_id(digest.organization_id, digest.first_seq)
        if doc_id in self.docs:
            return False
        self.docs[doc_id] = copy.deepcopy(digest.as_dict())
        return True

    def overlapping(
        self, organization_id: str, from_seq: int | None, to_seq: int | None
    ) -> Iterator[StoredDigest]:
        found = [
            d
            for d in self._of(organization_id)
            if (to_seq is None or d[1].get("first_seq", 0) <= to_seq)
            and (from_seq is None or d[1].get("last_seq", 0) >= from_seq)
        ]
        found.sort(key=lambda d: (d[1].get("first_seq", 0), d[1].get("last_seq", 0)))
        for doc_id, _ in found:
            yield self._parsed(doc_id)
