"""``audit export``: a verifiable bundle of an organization's events.

Streams the matching events in ``integrity.seq`` order through one
point-in-time into :class:`audit.services.bundle.BundleWriter` (constant
memory), then the chain proof (every link of the organization's chain over
the digests that cover the exported range, from the same point-in-time),
those digests and the public keys, and signs the manifest. Before reading,
what is stored and not yet signed is signed (a digest per ``sign_org``), so
the exported range is covered by digests. A user-scoped export is the data
subject access and portability export: the chain proof lets it verify
offline although it holds a subset of the chain.

Events that cannot be placed in the chain (no valid integrity fields, a
second event with a seq already exported, another chain's) are left out
and counted in ``skipped``; ``audit verify`` names them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from audit.domain.export import ExportFormat, Manifest, RedactionProfile
from audit.domain.integrity import ChainLink, Digest, SigningKey, link_of
from audit.services.bundle import BundleWriter
from audit.services.digests import DigestService
from audit.services.ports.integrity import ChainQuery, ChainSnapshot, ChainStore, DigestStore

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportRequest:
    organization_id: str
    export_format: ExportFormat
    purpose: str
    requester: str
    redaction: RedactionProfile
    out_dir: Path
    user_ids: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None
    terms: tuple[tuple[str, str], ...] = ()  # a data subject's email or IP
    exclude_categories: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # only these (a lawful request's approved scope)

    def chain_query(self) -> ChainQuery:
        return ChainQuery(
            self.organization_id,
            user_ids=self.user_ids,
            actions=self.actions,
            time_from=self.time_from,
            time_to=self.time_to,
            terms=self.terms,
            exclude_categories=self.exclude_categories,
            categories=self.categories,
        )

    def described(self) -> dict[str, Any]:
        """The query as recorded in the manifest."""
        return {
            "organization_id": self.organization_id,
            "user_ids": list(self.user_ids),
            "actions": list(self.actions),
            "time_from": self.time_from.isoformat() if self.time_from else None,
            "time_to": self.time_to.isoformat() if self.time_to else None,
            "time_field": "@timestamp",
            **({"terms": [list(t) for t in self.terms]} if self.terms else {}),
            **(
                {"exclude_categories": list(self.exclude_categories)}
                if self.exclude_categories
                else {}
            ),
            **({"categories": list(self.categories)} if self.categories else {}),
            "order": "integrity.seq",
        }


@dataclass(frozen=True)
class ExportResult:
    manifest: Manifest
    skipped: int

    def summary(self) -> dict[str, Any]:
        """What an export reports when it is done (the CLI prints it, the API's job keeps it)."""
        manifest = self.manifest
        return {
            "events": manifest.event_count,
            "skipped": self.skipped,
            "first_seq": manifest.first_seq,
            "last_seq": manifest.last_seq,
            "verification": manifest.verification.value,
            "files": [entry.name for entry in manifest.files],
            "key_id": manifest.key_id,
        }


class ExportService:
    def __init__(
        self,
        chains: ChainStore,
        digests: DigestStore,
        signer: DigestService,
        key: SigningKey,
        public_keys_pem: bytes,
        events_per_file: int = 100_000,
    ) -> None:
        self._chains = chains
        self._digests = digests
        self._signer = signer
        self._key = key
        self._public_pem = public_keys_pem
        self._per_file = events_per_file

    def export(
        self, request: ExportRequest, now: datetime, progress: Progress | None = None
    ) -> ExportResult:
        writer = BundleWriter(
            request.out_dir,
            export_format=request.export_format,
            redaction=request.redaction,
            events_per_file=self._per_file,
        )
        self._signer.sign_org(request.organization_id, now)
        org = request.organization_id
        with self._chains.snapshot() as snapshot:
            query = request.chain_query()
            total = snapshot.count(query)
            first: int | None = None
            last: int | None = None
            done = skipped = 0
            for document in snapshot.documents(query):
                done += 1
                link = link_of(document)
                if link is None or link.chain != org or (last is not None and link.seq <= last):
                    skipped += 1
                else:
                    writer.write(document)
                    first = link.seq if first is None else first
                    last = link.seq
                if progress is not None and (done % 1000 == 0 or done == total):
                    progress(done, total)
            if progress is not None:
                progress(done, total)
            digests = self._covering(org, first, last)
            chain: Iterator[ChainLink] = iter(())
            if first is not None and last is not None:
                low = digests[0].first_seq if digests else 1
                high = max(last, digests[-1].last_seq) if digests else last
                chain = _links(snapshot, org, low, high)
            manifest = writer.finish(
                chain=chain,
                digests=digests,
                public_keys_pem=self._public_pem,
                key=self._key,
                organization_id=org,
                query=request.described(),
                time_from=request.time_from,
                time_to=request.time_to,
                requester=request.requester,
                purpose=request.purpose,
                exported_at=now,
            )
        return ExportResult(manifest, skipped)

    def _covering(self, org: str, first: int | None, last: int | None) -> list[Digest]:
        """The digests over ``[first, last]``, starting with one that anchors ``first``."""
        if first is None or last is None:
            return []
        found = [s.digest for s in self._digests.overlapping(org, first, last) if s.digest]
        if not found or found[0].first_seq > first:
            before = self._digests.before(org, first)
            if before is not None and before.digest is not None:
                found.insert(0, before.digest)
        return found


def _links(snapshot: ChainSnapshot, org: str, low: int, high: int) -> Iterator[ChainLink]:
    query = ChainQuery(org, from_seq=low, to_seq=high)
    for document in snapshot.documents(query, fields=("integrity",)):
        link = link_of(document)
        if link is not None and link.chain == org:
            yield link
