"""Ingest a batch: validate, normalize, store once, dead-letter the rest.

The batch is done only when every accepted event is acknowledged by the
store and every refused message is acknowledged by the dead-letter topic;
only then does the caller commit the offsets this returns (at-least-once).
While the store is unavailable the batch is retried with back-off, and
nothing further is read.
"""

from __future__ import annotations

import collections
import operator
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeAlias

from audit.domain.detection.routing import Router, to_us
from audit.domain.event import NormalizedEvent, normalize_message
from audit.errors import AuditError, EventRejected, StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ports.ingest import (
    BulkItem,
    BulkOutcome,
    DeadLetterSink,
    DetectionFeed,
    EventStore,
    InboundMessage,
    MetricsRecorder,
    StoredDocument,
)

Partition = tuple[str, int]

_TOPIC = operator.attrgetter("topic")
_MESSAGE_TOPIC = operator.attrgetter("message.topic")
_DOC_ID = operator.attrgetter("document.doc_id")
STORE_REJECTED = "store_rejected"
_ALREADY_STORED = BulkItem("duplicate")


class NotAttempted:
    """A first attempt that was not made (see :meth:`IngestPipeline.first_attempt`)."""

    def __repr__(self) -> str:
        return "NOT_ATTEMPTED"


NOT_ATTEMPTED: Final = NotAttempted()
Attempt: TypeAlias = BulkOutcome | StoreUnavailable | NotAttempted


class IngestInterrupted(AuditError):
    """The batch was abandoned before completion (shutdown during an outage).

    Nothing of it was committed: its messages are read again on restart.
    """


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 15.0
    factor: float = 2.0

    def delays(self) -> Iterable[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * self.factor, self.maximum)


@dataclass(slots=True)
class _Pending:
    message: InboundMessage
    event: NormalizedEvent
    document: StoredDocument


@dataclass
class IngestCounts:
    """What happened to messages: of one batch, or added up over a run."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    batches: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: IngestCounts) -> None:
        self.batches += other.batches
        self.consumed += other.consumed
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.retries += other.retries
        for reason, count in other.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + count

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """The counters alone (JSON-ready), without a batch's offsets or events."""
        return {
            "consumed": self.consumed,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "retries": self.retries,
            "batches": self.batches,
            "rejected_by_reason": dict(self.rejected_by_reason),
        }


@dataclass
class BatchReport(IngestCounts):
    """One batch's counts, plus what its caller commits and feeds on."""

    commit_offsets: dict[Partition, int] = field(default_factory=dict)
    # Stored now or already stored: both go on to detection, so that an
    # event stored just before a crash is still evaluated after it (the
    # detector ignores what it has already applied).
    accepted: list[_Pending] = field(default_factory=list)


# The runtime's way to wait during an outage: it keeps the consumer's group
# membership alive and answers which partitions this process still owns.
WaitFn = Callable[[float], Collection[Partition]]
IndexFn = Callable[[NormalizedEvent], str]


@dataclass
class PreparedBatch:
    """A batch validated and normalized, not yet stored."""

    messages: list[InboundMessage]
    report: BatchReport
    pending: list[_Pending]
    sealed: bool = False
    # Entries found already stored when sealing (by object identity).
    known_stored: set[int] = field(default_factory=set)


class IngestPipeline:
    def __init__(
        self,
        *,
        store: EventStore,
        dead_letters: DeadLetterSink,
        metrics: MetricsRecorder,
        index_for: IndexFn,
        clock: Callable[[], datetime],
        wait: WaitFn,
        backoff: Backoff | None = None,
        max_message_bytes: int = 65_536,
        detection_feed: DetectionFeed | None = None,
        router: Router | None = None,
        chain: ChainKeeper | None = None,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._index_for = index_for
        self._clock = clock
        self._wait = wait
        self._backoff = backoff or Backoff()
        self._max_bytes = max_message_bytes
        self._feed = detection_feed
        self._router = router
        self._chain = chain
        # Largest event time accepted per source partition, in microseconds:
        # the progress reported to the detectors for their watermarks.
        self.progress: dict[Partition, int] = {}

    def process(self, batch: list[InboundMessage]) -> BatchReport:
        """Prepare, store and finish one batch, synchronously."""
        prepared = self.prepare(batch)
        return self.finish(prepared, self.first_attempt(prepared))

    def prepare(self, batch: list[InboundMessage]) -> PreparedBatch:
        """Validate and normalize; queue refused messages for the dead-letter topic.

        Split from storing so that the runtime can read and prepare the next
        batch while this one's bulk request is in flight.
        """
        prepared = PreparedBatch(batch, BatchReport(consumed=len(batch), batches=1), [])
        if not batch:
            return prepared
        self._metrics.observe("audit_batch_size", len(batch))
        received_at = self._clock()
        max_bytes = self._max_bytes
        index_for = self._index_for
        append = prepared.pending.append
        for message in batch:
            try:
                event = normalize_message(
                    message.value, received_at=received_at, max_bytes=max_bytes
                )
            except EventRejected as rejection:
                self._reject(message, rejection.error_type, rejection.message, prepared.report)
                continue
            try:
                index = index_for(event)
            except StoreUnavailable:
                index = self._index_after_failure(event, prepared.report)
            append(_Pending(message, event, StoredDocument(index, event.event_id, event.document)))
        # (counted in C: this runs once per batch instead of once per message)
        consumed = collections.Counter(map(_TOPIC, batch))
        for topic, count in consumed.items():
            self._metrics.inc("audit_events_consumed_total", count, topic=topic)
        return prepared

    def _index_after_failure(self, event: NormalizedEvent, report: BatchReport) -> str:
        """The event's index, after ``index_for`` raised StoreUnavailable (an
        organization's retention class the store could not say): waits, then
        asks again, until it can. Waiting is the only way to file the event
        under the class its organization chose."""
        delays = iter(self._backoff.delays())
        while True:
            self._metrics.inc("audit_store_retries_total", reason="unavailable")
            report.retries += 1
            self._wait(next(delays))
            try:
                return self._index_for(event)
            except StoreUnavailable:
                continue

    def check_duplicates(self, prepared: PreparedBatch) -> set[str] | None:
        """The chain's duplicate check of ``prepared``, made ahead of its
        first attempt: the ids the store holds already (None without a
        chain). The runtime makes it on a thread of its own while the batch
        before is written, so that the lookup's round trip is off the
        writer's path; :meth:`first_attempt` adds what that write stored.
        Only valid if every batch before that one was wholly stored when
        the check began. May raise StoreUnavailable."""
        if self._chain is None or not prepared.pending:
            return None
        return self._chain.stored_ids(_chain_entries(prepared.pending))

    def first_attempt(
        self,
        prepared: PreparedBatch,
        after: Attempt | None = None,
        *,
        checked: set[str] | None = None,
        before: PreparedBatch | None = None,
    ) -> Attempt:
        """Seal and write the whole batch once; safe to run on a worker thread.

        ``after`` is the first attempt of the previous batch (``before``)
        when that batch is not finished yet (the runtime writes a batch
        while the one before it is being finished). If that attempt left
        documents unwritten (an outage, overloaded items), nothing is done
        here (``NOT_ATTEMPTED``): this batch's links must follow those
        documents in their chains, and its duplicate check must see them, so
        :meth:`finish` writes it once they are stored. Otherwise the
        previous batch is wholly answered and its finishing writes nothing
        more, so this one may be sealed now.

        ``checked`` is :meth:`check_duplicates` of this batch, begun once
        every batch before ``before`` was wholly stored; None: the check is
        made when sealing.
        """
        if after is not None and not wholly_answered(after):
            return NOT_ATTEMPTED
        if not prepared.pending:
            return BulkOutcome(items=())
        stored = checked
        if checked is not None and before is not None and isinstance(after, BulkOutcome):
            # The check may have run before ``before``'s write landed.
            stored = checked | _landed_again(before, after, prepared)
        try:
            return self._write(prepared, prepared.pending, stored)
        except StoreUnavailable as err:
            return err

    def _write(
        self, prepared: PreparedBatch, pending: list[_Pending], stored: set[str] | None = None
    ) -> BulkOutcome:
        """One bulk write of ``pending``; the answer is aligned with it.

        The first time, the documents are sealed into their organization's
        hash chain; those found already stored (by the duplicate check,
        ``stored`` if it was made ahead) are answered as duplicates without
        being written (nor chained) again.
        """
        if self._chain is not None and not prepared.sealed:
            _, repeated, bodies = self._chain.seal_encoded(_chain_entries(pending), stored)
            prepared.known_stored = {id(pending[i]) for i in repeated}
            for i, body in bodies.items():
                # Serialized once, when hashed: written as is (and on retries).
                sealed = pending[i].document
                pending[i].document = StoredDocument(
                    sealed.index, sealed.doc_id, sealed.source, body
                )
            prepared.sealed = True
        known = prepared.known_stored
        writes = [p for p in pending if id(p) not in known] if known else pending
        started = time.perf_counter()
        outcome = self._store.bulk_create([p.document for p in writes]) if writes else None
        if outcome is not None:
            self._metrics.observe(
                "audit_bulk_request_duration_seconds", time.perf_counter() - started
            )
            if not known:
                return outcome  # nothing was found stored: the answer is aligned already
        answers = iter(outcome.items if outcome is not None else ())
        return BulkOutcome(
            items=tuple(_ALREADY_STORED if id(p) in known else next(answers) for p in pending)
        )

    def finish(self, prepared: PreparedBatch, first: Attempt) -> BatchReport:
        """Account for the first attempt (or make it), retry what must be,
        flush dead letters.

        Runs on the consumer's thread: waiting out an outage polls the
        consumer to keep its group membership.
        """
        report = prepared.report
        owned = self._store_all(prepared, first, report)
        self._feed_detection(report, owned)
        self._dead_letters.flush()
        # A partition's messages come in offset order: its last one is its
        # highest (the max is still taken, should a source ever differ).
        last: dict[Partition, int] = {}
        for message in prepared.messages:
            partition = (message.topic, message.partition)
            if last.get(partition, -1) < message.offset:
                last[partition] = message.offset
        offsets = report.commit_offsets
        for partition, offset in last.items():
            if owned is not None and partition not in owned:
                continue
            if offsets.get(partition, -1) < offset + 1:
                offsets[partition] = offset + 1
        return report

    def _feed_detection(self, report: BatchReport, owned: Collection[Partition] | None) -> None:
        if self._feed is None or self._router is None:
            return
        events: list[NormalizedEvent] = []
        append = events.append
        # The latest event time per partition, converted once per partition.
        latest: dict[Partition, datetime] = {}
        for entry in report.accepted:
            message = entry.message
            partition = (message.topic, message.partition)
            if owned is not None and partition not in owned:
                continue
            event = entry.event
            append(event)
            timestamp = event.timestamp
            seen = latest.get(partition)
            if seen is None or seen < timestamp:
                latest[partition] = timestamp
        routed = self._router.route_events(events)
        progress = self.progress
        for partition, timestamp in latest.items():
            time_us = to_us(timestamp)
            if progress.get(partition, -1) < time_us:
                progress[partition] = time_us
        self._feed.publish(routed)
        self._feed.flush()

    def _store_all(
        self,
        prepared: PreparedBatch,
        first: Attempt,
        report: BatchReport,
    ) -> Collection[Partition] | None:
        """Write until every pending document has a final answer.

        Returns the partitions still owned if an outage made us wait (a
        rebalance may have moved some away meanwhile), else None.
        """
        owned: Collection[Partition] | None = None
        delays = iter(self._backoff.delays())
        attempt: BulkOutcome | StoreUnavailable | None = (
            None if isinstance(first, NotAttempted) else first
        )
        pending = prepared.pending
        while pending:
            if attempt is None:
                try:
                    attempt = self._write(prepared, pending)
                except StoreUnavailable as err:
                    attempt = err
            if isinstance(attempt, StoreUnavailable):
                self._metrics.inc("audit_store_retries_total", reason="unavailable")
                report.retries += 1
                attempt = None
                owned = self._wait(next(delays))
                pending = [p for p in pending if (p.message.topic, p.message.partition) in owned]
                continue
            retry: list[_Pending] = []
            created: list[_Pending] = []
            duplicates: list[_Pending] = []
            accept = report.accepted.append
            for item, entry in zip(attempt.items, pending, strict=True):
                status = item.status
                if status == "created":
                    created.append(entry)
                    accept(entry)
                elif status == "duplicate":
                    duplicates.append(entry)
                    accept(entry)
                elif status == "retry":
                    retry.append(entry)
                else:
                    self._reject(entry.message, STORE_REJECTED, item.reason, report)
            report.stored += len(created)
            report.duplicates += len(duplicates)
            for topic, count in collections.Counter(map(_MESSAGE_TOPIC, created)).items():
                self._metrics.inc("audit_events_stored_total", count, topic=topic)
            for topic, count in collections.Counter(map(_MESSAGE_TOPIC, duplicates)).items():
                self._metrics.inc("audit_events_duplicate_total", count, topic=topic)
            pending = retry
            attempt = None
            if pending:
                self._metrics.inc(
                    "audit_store_retries_total", amount=len(pending), reason="overloaded"
                )
                report.retries += 1
                owned = self._wait(next(delays))
                pending = [p for p in pending if (p.message.topic, p.message.partition) in owned]
        return owned

    def _reject(
        self, message: InboundMessage, error_type: str, error_message: str, report: BatchReport
    ) -> None:
        report.rejected += 1
        report.rejected_by_reason[error_type] = report.rejected_by_reason.get(error_type, 0) + 1
        self._metrics.inc("audit_events_rejected_total", reason=error_type)
        self._dead_letters.send(message, error_type, error_message)


def _chain_entries(pending: list[_Pending]) -> list[tuple[str, StoredDocument]]:
    return [(p.event.organization_id, p.document) for p in pending]


def _landed_again(before: PreparedBatch, after: BulkOutcome, batch: PreparedBatch) -> set[str]:
    """The ids of ``batch`` that ``before`` stored or found stored (its
    first attempt ``after`` answered, in ``before.pending``'s order)."""
    # Ids first (one set each, built in C): a redelivery across two
    # consecutive batches is rare, and only its ids are looked at further.
    ids = set(map(_DOC_ID, batch.pending))
    if ids.isdisjoint(map(_DOC_ID, before.pending)):
        return set()
    landed = {
        (p.document.index, p.document.doc_id)
        for p, item in zip(before.pending, after.items, strict=True)
        if item.status in ("created", "duplicate") and p.document.doc_id in ids
    }
    return {
        p.document.doc_id for p in batch.pending if (p.document.index, p.document.doc_id) in landed
    }


def wholly_answered(attempt: Attempt) -> bool:
    """Every document of the attempt has its final answer (none left to retry)."""
    if not isinstance(attempt, BulkOutcome):
        return False
    return all(item.status != "retry" for item in attempt.items)
