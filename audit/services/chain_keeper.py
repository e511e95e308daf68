"""Extending each organization's hash chain as its events are stored.

Events are keyed by organization, so one partition, hence one consumer,
extends an organization's chain at a time. The head of each chain is kept
in memory and recovered from what is stored (after a start or a rebalance),
never restarted silently. An event already stored (a redelivery) is found
by a real-time GET before sealing and is not chained again, so a crash and
a re-read neither fork nor gap the chain. The GET may be made ahead of the
sealing (``stored_ids``, while the batch before is being written); the
caller then adds what was written since. With a ``committer`` (a
key-encryption key is configured) links are sealed as version 2: personal
values enter the hash as keyed commitments (``audit.services.commitments``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from audit.domain.integrity.canonical import canonical_bytes, with_integrity
from audit.domain.integrity.chain import ChainHead, extend_canonical_batch, extend_v2
from audit.services.commitments import Committer
from audit.services.ports.ingest import StoredDocument
from audit.services.restricted_subjects import RestrictedSubjects


class ChainStore(Protocol):
    def refresh(self) -> None: ...

    def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]: ...

    def latest_heads(self, organization_ids: Sequence[str]) -> dict[str, ChainHead]: ...


class ChainKeeper:
    def __init__(
        self,
        store: ChainStore,
        committer: Committer | None = None,
        restrictions: RestrictedSubjects | None = None,
    ) -> None:
        self._store = store
        self._committer = committer
        self._restrictions = restrictions  # flag a restricted subject's new events
        self._heads: dict[str, ChainHead] = {}
        self._fresh = False

    def reset(self) -> None:
        """Forget every head: partitions moved, another writer may have extended them."""
        self._heads.clear()
        self._fresh = False

    def seal(self, documents: Sequence[tuple[str, StoredDocument]]) -> tuple[list[int], list[int]]:
        """Add integrity fields to new documents, in order.

        ``documents`` are (organization id, document) pairs. Returns the
        positions to write and the positions already stored (or repeated
        earlier in this batch). May raise StoreUnavailable; then nothing is
        remembered and the call can be repeated.
        """
        to_write, repeated, _ = self.seal_encoded(documents)
        return to_write, repeated

    def stored_ids(self, documents: Sequence[tuple[str, StoredDocument]]) -> set[str]:
        """The duplicate check: the ids of these documents the store holds
        already (one real-time lookup). May raise StoreUnavailable."""
        return self._look_up(documents, _first_of_each(documents)[0])

    def _look_up(
        self, documents: Sequence[tuple[str, StoredDocument]], positions: Sequence[int]
    ) -> set[str]:
        return self._store.existing_ids(
            [(documents[i][1].index, documents[i][1].doc_id) for i in positions]
        )

    def seal_encoded(
        self,
        documents: Sequence[tuple[str, StoredDocument]],
        stored: set[str] | None = None,
    ) -> tuple[list[int], list[int], dict[int, bytes]]:
        """``seal``, plus the stored JSON of each document written as a
        version-1 link, by position: the canonical bytes it was hashed over
        with its ``integrity`` appended, so that the bulk body need not
        serialize it again (``StoredDocument.body``).

        ``stored``: the duplicate check made ahead (``stored_ids``) together
        with every document written since it was made; None: made here.
        """
        candidates, repeated = _first_of_each(documents)
        if stored is None:
            stored = self._look_up(documents, candidates)
        if stored:
            to_write = [i for i in candidates if documents[i][1].doc_id not in stored]
            repeated += [i for i in candidates if documents[i][1].doc_id in stored]
        else:
            to_write = candidates

        unknown = sorted({documents[i][0] for i in to_write} - self._heads.keys())
        heads = dict(self._heads)
        if unknown:
            if not self._fresh:
                # What a previous owner wrote must be searchable before we
                # read its heads.
                self._store.refresh()
            found = self._store.latest_heads(unknown)
            for org in unknown:
                heads[org] = found.get(org) or ChainHead.genesis(org)
        # Looked up once per batch: with no subject restricted (the usual
        # case) no document is tested.
        restricted_by = self._restrictions.matcher() if self._restrictions is not None else None
        bodies: dict[int, bytes] = {}
        if self._committer is None:
            sealed = extend_canonical_batch(
                heads, [(documents[i][0], documents[i][1].source) for i in to_write]
            )
            for i, (fields, body) in zip(to_write, sealed, strict=True):
                source = documents[i][1].source
                restricted = restricted_by(source) if restricted_by is not None else None
                if restricted:
                    # (outside the hash, like every integrity member)
                    fields["privacy"] = {"restricted": restricted}
                    bodies[i] = with_integrity(canonical_bytes(source), fields)
                else:
                    bodies[i] = body
                source["integrity"] = fields
        else:
            committed = self._committer.commit_batch(
                [(documents[i][0], documents[i][1].source) for i in to_write]
            )
            for n, i in enumerate(to_write):
                org, doc = documents[i]
                commitments, keys = committed[n]
                link, heads[org] = extend_v2(heads[org], doc.source, commitments, keys)
                fields = link.as_dict()
                if restricted_by is not None:
                    restricted = restricted_by(doc.source)
                    if restricted:
                        fields["privacy"] = {"restricted": restricted}
                doc.source["integrity"] = fields
        self._heads = heads
        self._fresh = True
        return to_write, sorted(repeated), bodies


def _first_of_each(
    documents: Sequence[tuple[str, StoredDocument]],
) -> tuple[list[int], list[int]]:
    """Positions of each id's first document, and of the repeats after it."""
    if len({doc.doc_id for _, doc in documents}) == len(documents):
        return list(range(len(documents))), []  # the usual batch: no repeat
    seen: set[str] = set()
    first: list[int] = []
    repeated: list[int] = []
    for position, (_, doc) in enumerate(documents):
        if doc.doc_id in seen:
            repeated.append(position)
        else:
            seen.add(doc.doc_id)
            first.append(position)
    return first, repeated
