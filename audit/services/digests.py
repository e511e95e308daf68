"""The digest job: per organization, sign what was stored since the last digest.

Each run reads an organization's chain from its last digest's ``last_seq + 1``
(integrity fields and event time only, by seq, through a point-in-time) and
signs a new digest chained to the previous one (``new_digest``), at most
``max_events`` events per digest. It signs only a contiguous, linked prefix:
it stops before a missing seq (an event not visible yet, or deleted) or a
link whose ``prev_hash`` does not follow (never signing over a fork); the
next run goes on from there, and ``audit verify`` names the problem if it
stays. Digest ids are ``<org>:<first_seq>`` and created once: two runs that
race store one digest, the loser stops and the next run continues.

When: the scheduler runs the job every ``every_minutes`` (5) under the
single-run lease; an organization is signed when it has at least
``min_events`` new events, or any new event and a last digest older than
``max_age`` (the hourly floor), or no digest yet. ``sign_org`` (CLI
``audit digests sign``, and exports) signs whatever is new, now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audit.domain.integrity import (
    GENESIS_HASH,
    Digest,
    SigningKey,
    link_of,
    new_digest,
    stored_time,
)
from audit.services.ports.ingest import MetricsRecorder
from audit.services.ports.integrity import ChainQuery, ChainStore, DigestStore

log = logging.getLogger(__name__)

DIGESTS_JOB = "digests"
_FIELDS = ("integrity", "@timestamp")


@dataclass(frozen=True)
class DigestPolicy:
    every_minutes: int = 5
    min_events: int = 1000
    max_age: timedelta = timedelta(hours=1)
    max_events: int = 10_000


@dataclass(frozen=True)
class SignOutcome:
    """What one organization's run did. ``status``: ``signed``, ``up_to_date``,
    ``not_due``, ``conflict`` (another run signed meanwhile), ``stopped``
    (a gap or broken link; ``detail`` says where), ``unreadable_digest``."""

    organization_id: str
    status: str
    digests: int = 0
    events: int = 0
    signed_through: int = 0
    pending: int = 0
    detail: str = ""


@dataclass
class _Segment:
    first_seq: int
    first_prev_hash: str
    last_seq: int
    head_hash: str
    from_time: datetime | None = None
    to_time: datetime | None = None

    def add_time(self, when: datetime | None) -> None:
        if when is None:
            return
        self.from_time = when if self.from_time is None else min(self.from_time, when)
        self.to_time = when if self.to_time is None else max(self.to_time, when)


class DigestService:
    def __init__(
        self,
        chains: ChainStore,
        digests: DigestStore,
        key: SigningKey,
        metrics: MetricsRecorder,
        policy: DigestPolicy | None = None,
    ) -> None:
        self._chains = chains
        self._digests = digests
        self._key = key
        self._metrics = metrics
        self.policy = policy or DigestPolicy()

    def run(self, now: datetime) -> list[SignOutcome]:
        """One scheduled run over every organization with a stored chain."""
        return self.run_all(now, force=False)

    def run_all(self, now: datetime, *, force: bool = True) -> list[SignOutcome]:
        """Every organization with a stored chain (``force``: ignore the policy)."""
        outcomes = []
        for organization_id, head in sorted(self._chains.heads().items()):
            outcome = self.sign_org(organization_id, now, force=force, head=head)
            if outcome.status == "stopped":
                log.warning("digests of %s: %s", organization_id, outcome.detail)
            outcomes.append(outcome)
        return outcomes

    def sign_org(
        self, organization_id: str, now: datetime, *, force: bool = True, head: int | None = None
    ) -> SignOutcome:
        """Sign the organization's events stored since its last digest."""
        stored = self._digests.latest(organization_id)
        if stored is not None and stored.digest is None:
            return SignOutcome(
                organization_id,
                "unreadable_digest",
                detail=f"last digest {stored.doc_id} is not a valid digest ({stored.problem}); "
                "run `audit verify` and restore it before signing more",
            )
        previous = stored.digest if stored is not None else None
        start = previous.last_seq + 1 if previous is not None else 1
        with self._chains.snapshot() as snapshot:
            if head is None:
                bounds = snapshot.seq_bounds(ChainQuery(organization_id, from_seq=start))
                head = bounds[1] if bounds is not None else 0
            pending = head - start + 1
            if pending <= 0:
                return SignOutcome(organization_id, "up_to_date", signed_through=start - 1)
            if not force and not self._due(previous, pending, now):
                return SignOutcome(
                    organization_id, "not_due", signed_through=start - 1, pending=pending
                )
            documents = snapshot.documents(
                ChainQuery(organization_id, from_seq=start), fields=_FIELDS
            )
            return self._sign(organization_id, previous, start, head, documents, now)

    def _due(self, previous: Digest | None, pending: int, now: datetime) -> bool:
        if previous is None or pending >= self.policy.min_events:
            return True
        return now - previous.signed_at >= self.policy.max_age

    def _sign(
        self,
        organization_id: str,
        previous: Digest | None,
        start: int,
        head: int,
        documents: Iterable[Mapping[str, Any]],
        now: datetime,
    ) -> SignOutcome:
        tip_seq = start - 1  # the last link accepted (signed or in the open segment)
        tip_hash = previous.head_hash if previous is not None else GENESIS_HASH
        segment: _Segment | None = None
        signed = events = 0
        detail = ""
        for document in documents:
            link = link_of(document)
            if link is None or link.chain != organization_id:
                continue  # not a link of this chain: verify reports it
            if (link.seq, link.hash) == (tip_seq, tip_hash):
                continue  # an identical copy of the link just accepted
            if link.seq != tip_seq + 1:
                detail = f"seq {tip_seq + 1} is missing or duplicated (next stored is {link.seq})"
                break
            if link.prev_hash != tip_hash:
                detail = f"seq {link.seq} does not link to seq {tip_seq}"
                break
            tip_seq, tip_hash = link.seq, link.hash
            if segment is None:
                segment = _Segment(link.seq, link.prev_hash, link.seq, link.hash)
            else:
                segment.last_seq, segment.head_hash = link.seq, link.hash
            segment.add_time(stored_time(document))
            if segment.last_seq - segment.first_seq + 1 >= self.policy.max_events:
                previous = self._store(organization_id, segment, previous, now)
                if previous is None:
                    return SignOutcome(organization_id, "conflict", signed, events)
                signed += 1
                events += previous.count
                segment = None
        if segment is not None:
            previous = self._store(organization_id, segment, previous, now)
            if previous is None:
                return SignOutcome(organization_id, "conflict", signed, events)
            signed += 1
            events += previous.count
        through = previous.last_seq if previous is not None else 0
        pending = max(0, head - through)
        if detail or (pending and not signed):
            return SignOutcome(
                organization_id,
                "stopped",
                signed,
                events,
                through,
                pending,
                detail or f"seq {through + 1} is not readable yet",
            )
        return SignOutcome(organization_id, "signed", signed, events, through, pending)

    def _store(
        self, organization_id: str, segment: _Segment, previous: Digest | None, now: datetime
    ) -> Digest | None:
        digest = new_digest(
            organization_id=organization_id,
            first_seq=segment.first_seq,
            last_seq=segment.last_seq,
            first_prev_hash=segment.first_prev_hash,
            head_hash=segment.head_hash,
            from_time=segment.from_time or now,
            to_time=segment.to_time or now,
            previous=previous,
            signed_at=now,
            key=self._key,
        )
        if not self._digests.create(digest):
            log.info(
                "digest %s:%s already signed by another run", organization_id, digest.first_seq
            )
            return None
        self._metrics.inc("audit_digests_signed_total")
        self._metrics.set("audit_digest_last_signed_timestamp_seconds", now.timestamp())
        return digest


def scheduled(
    service: DigestService,
    run_guarded: Callable[[str, Callable[[datetime], object]], str],
    clock: Callable[[], datetime],
) -> Callable[[], object]:
    """The per-minute scheduler entry: on every ``every_minutes``-th minute,
    run the job under the single-run lease (``GuardedRunner.run``)."""

    def tick() -> object:
        if clock().minute % service.policy.every_minutes:
            return "not_due"
        return run_guarded(DIGESTS_JOB, service.run)

    return tick
