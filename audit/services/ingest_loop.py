"""The ingest consumer's run loop: read, prepare, store in the background, commit.

A batch is read and prepared here while the batch before it is sealed and
written by the worker thread; then, while the worker writes the new batch,
this thread finishes the previous one (routes it, feeds it to detection,
commits it) once its write has answered. Elasticsearch indexes on its own cores while Python
validates. A batch is written only once the batch before it is wholly
answered (:meth:`IngestPipeline.first_attempt`), so that chains link in
order and the duplicate check sees what was just written. Offsets of a
batch are committed when it is finished, in order, for the partitions
still owned then: if a rebalance moved one away meanwhile, its new owner
reads those messages again and the store answers 409 for what was already
written (the rebalance hooks run inside a poll and do not commit).

Only ports are used here (:class:`BatchSource`, :class:`ProgressPublisher`,
:class:`Liveness`, :class:`MetricsRecorder`, clocks); ``audit.wiring.ingest``
builds the loop over the Kafka and Elasticsearch adapters.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from audit.domain.detection.routing import to_us
from audit.domain.detection.watermarks import NEVER
from audit.errors import StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ingest import (
    Attempt,
    IngestCounts,
    IngestInterrupted,
    IngestPipeline,
    PreparedBatch,
    wholly_answered,
)
from audit.services.ports.ingest import (
    BatchSource,
    Liveness,
    MetricsRecorder,
    Partition,
    ProgressPublisher,
)

log = logging.getLogger("audit.ingest")

# How often an idle consumer tells the detectors where its sources stand.
PROGRESS_EVERY_SECONDS = 1.0
# How long a poll may wait for the next batch while a bulk request is in
# flight. Its events reach the detectors only once it is finished, which
# (with one request in flight) happens when the next batch is in hand or a
# poll comes back empty: waiting the full poll timeout there would hold a
# burst at the end of a quiet spell back by that long (issue 12: alerts on
# arrival). A poll still returns as soon as records are there.
IN_FLIGHT_POLL_MS = 20
# A turn longer than this is logged with its breakdown.
SLOW_TURN_SECONDS = 1.0


class StopSignal:
    """Set by a signal handler (SIGTERM/SIGINT): finish the batch in hand, then stop."""

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        if not self.requested:
            log.info("stop requested: finishing the batch in hand, then stopping")
        self.requested = True


class OutageWait:
    """The pipeline's way to wait out an unavailable store.

    Keeps the group membership (the source polls paused partitions), says
    the process is alive but not ready, and gives up when a stop is
    requested: nothing of the batch is committed, it is read again later.
    """

    def __init__(self, source: BatchSource, health: Liveness, stop: StopSignal) -> None:
        self._source = source
        self._health = health
        self._stop = stop

    def __call__(self, seconds: float) -> set[Partition]:
        if self._stop.requested:
            raise IngestInterrupted("stopping during an Elasticsearch outage; nothing committed")
        log.warning("Elasticsearch unavailable; waiting %.1fs before retrying", seconds)
        self.waiting()
        return self._source.wait_paused(seconds)

    def waiting(self) -> None:
        """Alive (/healthz) but not ready (/readyz) while Elasticsearch is out."""
        self._health.beat()
        self._health.ready(False)


@dataclass(frozen=True)
class LoopOptions:
    poll_timeout_ms: int = 500
    batch_max_records: int = 2000
    group: str = "elastra-audit-ingest"


class IngestLoop:
    """One member of the ingest consumer group, run until idle or stopped."""

    def __init__(
        self,
        *,
        source: BatchSource,
        pipeline: IngestPipeline,
        metrics: MetricsRecorder,
        health: Liveness,
        stop: StopSignal,
        options: LoopOptions,
        progress: ProgressPublisher | None = None,
        chain: ChainKeeper | None = None,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._pipeline = pipeline
        self._metrics = metrics
        self._health = health
        self._stop = stop
        self._options = options
        self._progress = progress
        self._chain = chain
        self._clock = clock
        self._monotonic = monotonic
        self.counts = IngestCounts()
        self._last_progress = float("-inf")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk")
        # The chain's duplicate check of each batch, made while the batch
        # before it is written (its round trip was ~15% of the writer's turn).
        self._checker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="duplicate-check")
            if chain is not None
            else None
        )
        # Oldest first: the batch being finished, and the one written meanwhile.
        self._in_flight: list[tuple[PreparedBatch, Future[Attempt]]] = []
        # The batch in flight cannot be written ahead: the first attempt of
        # the one before it left documents to retry.
        self._behind = False
        # Where the last batch's completion went (for the slow-turn log).
        self.last_completion = ""
        source.set_rebalance_hooks(self._settle_in_flight, self._forget_chain_heads)

    def run(self, until_idle: float | None = None) -> IngestCounts:
        """Until stopped, or (with ``until_idle``) until nothing was read for that long."""
        idle_since = self._monotonic()
        try:
            while not self._stop.requested:
                timeout = self._options.poll_timeout_ms
                if self._in_flight:
                    timeout = min(timeout, IN_FLIGHT_POLL_MS)
                batch = self._source.poll_batch(timeout, self._options.batch_max_records)
                if batch:
                    began = idle_since = self._monotonic()
                    prepared = self._pipeline.prepare(batch)
                    ready = self._monotonic()
                    if self._behind:
                        # The batch in flight waited for the one before it to
                        # be retried and is not written yet: write it now, so
                        # that this one is written ahead again (else every
                        # batch of a backlog would wait behind the one before,
                        # until a poll came back empty).
                        self._complete_in_flight()
                    # Written by the worker as soon as the batch before it is
                    # (the worker runs attempts in order), while this thread
                    # finishes that one: routes and feeds it, commits it.
                    # Every batch before ``previous`` is stored: the check may
                    # begin now (the write adds what ``previous`` stores).
                    checked = (
                        self._checker.submit(self._pipeline.check_duplicates, prepared)
                        if self._checker is not None
                        else None
                    )
                    previous = self._in_flight[-1] if self._in_flight else None
                    attempt = self._worker.submit(self._attempt, prepared, previous, checked)
                    self._in_flight.append((prepared, attempt))
                    self._complete_in_flight(keep=1)
                    done = self._monotonic()
                    # Idle counts from the end of a turn: a turn that waited
                    # out an outage was busy, and the source may need a
                    # moment to fetch again once resumed.
                    idle_since = done
                    if done - began >= SLOW_TURN_SECONDS:
                        # Records read meanwhile wait for this turn: say where it went.
                        log.info(
                            "slow turn %.2fs: prepare %d messages %.2f,"
                            " previous batch stored, fed and committed %.2f (%s)",
                            done - began,
                            len(batch),
                            ready - began,
                            done - ready,
                            self.last_completion,
                        )
                else:
                    self._complete_in_flight()
                    self._publish_progress(nothing_pending=True)
                    if not self._source.owned():
                        # Not idle but waiting for an assignment (e.g. while
                        # the group waits out a crashed member's session).
                        idle_since = self._monotonic()
                    elif until_idle is not None and self._monotonic() - idle_since >= until_idle:
                        break
                self._record_lag()
                # The poll, and the commit of any batch completed, returned;
                # ready only while a broker answers (a poll returns without one).
                self._health.beat()
                self._health.ready(self._source.reachable())
            self._complete_in_flight()
        except IngestInterrupted as err:
            log.warning("%s", err)
        return self.counts

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        if self._checker is not None:
            self._checker.shutdown(wait=True)

    def _settle_in_flight(self) -> None:
        """Before a partition goes: let the bulk request in flight land.

        Its new owner then finds those events stored (and already chained)
        when it reads them again; their offsets are committed, for the
        partitions still ours, when the batch completes after the poll.
        """
        for _, attempt in self._in_flight:
            attempt.result()

    def _forget_chain_heads(self) -> None:
        if self._chain is not None:
            self._chain.reset()

    def _attempt(
        self,
        prepared: PreparedBatch,
        previous: tuple[PreparedBatch, Future[Attempt]] | None,
        checked: Future[set[str] | None] | None,
    ) -> Attempt:
        """On the worker: the batch's first attempt, after the previous batch's."""
        found = None  # without a check made ahead, sealing makes it (or waits out an outage)
        if checked is not None:
            with contextlib.suppress(StoreUnavailable):
                found = checked.result()
        if previous is None:
            return self._pipeline.first_attempt(prepared, checked=found)
        before, attempt = previous
        return self._pipeline.first_attempt(
            prepared, after=attempt.result(), checked=found, before=before
        )

    def _complete_in_flight(self, keep: int = 0) -> None:
        """Finish and commit the oldest batches in flight until ``keep`` remain."""
        while len(self._in_flight) > keep:
            self._complete_oldest()

    def _complete_oldest(self) -> None:
        prepared, attempt = self._in_flight.pop(0)
        clock = self._monotonic
        began = clock()
        first = attempt.result()
        stored = clock()
        self._behind = bool(self._in_flight) and not wholly_answered(first)
        report = self._pipeline.finish(prepared, first)
        finished = clock()
        self._source.resume_all()
        self._source.commit(report.commit_offsets)
        self._metrics.set("audit_last_commit_timestamp_seconds", self._clock().timestamp())
        self.counts.add(report)
        committed = clock()
        # A batch read after this one may already be waiting (prepared, not
        # yet routed): vouch only for event times actually routed.
        self._publish_progress(force=True, nothing_pending=False)
        self.last_completion = (
            f"waited for the bulk request {stored - began:.2f}, fed {finished - stored:.2f},"
            f" committed {committed - finished:.2f}, progress {clock() - committed:.2f}"
        )

    def _publish_progress(self, *, force: bool = False, nothing_pending: bool) -> None:
        """Tell the detectors how far each owned source partition has got.

        After every batch, and at least every second while idle, so that
        a quiet source does not hold the detectors' watermark back. Only
        when every record read so far has been routed may a source read to
        its end vouch for the present: what it delivers next is new, and
        the detectors' lateness covers producer delays.
        """
        if self._progress is None:
            return
        now = self._monotonic()
        if not force and now - self._last_progress < PROGRESS_EVERY_SECONDS:
            return
        self._last_progress = now
        present = to_us(self._clock())
        progress = {}
        for (topic, partition), caught_up in self._source.caught_up().items():
            seen = self._pipeline.progress.get((topic, partition), NEVER)
            vouch = caught_up and nothing_pending
            progress[f"{topic}:{partition}"] = max(seen, present) if vouch else seen
        self._progress.publish_progress(progress)
        self._progress.flush()

    def _record_lag(self) -> None:
        for (topic, partition), value in (self._source.lag() or {}).items():
            self._metrics.set(
                "audit_consumer_lag",
                value,
                group=self._options.group,
                topic=topic,
                partition=str(partition),
            )
