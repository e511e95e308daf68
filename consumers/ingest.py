"""Entry point of the ingest consumer: settings -> wiring -> run loop.

Run it as ``audit consume`` (or ``python -m consumers.ingest``). SIGTERM
and SIGINT finish the batch in hand, commit it and close.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from audit.adapters.bundled_data import load_retention_policy, load_rule_dir
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.elasticsearch.org_settings_store import ElasticsearchOrgSettingsStore
from audit.adapters.kafka.batch_source import KafkaBatchSource, Partition
from audit.adapters.kafka.dead_letters import KafkaDeadLetterSink
from audit.adapters.kafka.detection_feed import KafkaDetectionFeed
from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.detection.routing import to_us
from audit.domain.detection.watermarks import NEVER
from audit.domain.event import NormalizedEvent
from audit.errors import StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ingest import (
    Backoff,
    BatchReport,
    IngestInterrupted,
    IngestPipeline,
    PreparedBatch,
)
from audit.services.ports.ingest import BulkOutcome
from audit.services.restricted_subjects import RestrictedSubjects, RestrictingRouter
from audit.services.retention_classes import RetentionClassResolver
from audit.settings import Settings, load_settings
from audit.wiring.privacy import build_committer, request_reader

log = logging.getLogger("consumers.ingest")


@dataclass
class RunSummary:
    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    batches: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, report: BatchReport) -> None:
        self.batches += 1
        self.consumed += report.consumed
        self.stored += report.stored
        self.duplicates += report.duplicates
        self.rejected += report.rejected
        self.retries += report.retries
        for reason, count in report.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + count


class _StopFlag:
    def __init__(self) -> None:
        self.stop = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the batch in hand, then stopping", signum)
        self.stop = True


class IngestConsumer:
    """One member of the ingest consumer group.

    One bulk request is in flight while the next batch is read and
    prepared: Elasticsearch indexes on its own cores while Python validates.
    Offsets of a batch are committed when it is finished, for the
    partitions still owned then: if a rebalance moved one away meanwhile,
    its new owner reads those messages again and the store answers 409 for
    what was already written (kafka-python 3 forbids committing from a
    synchronous rebalance callback).
    """

    def __init__(self, settings: Settings, metrics: PrometheusMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stop = _StopFlag()
        self.summary = RunSummary()
        ensure_topics(
            settings,
            {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
        )
        ensure_detection_topics(settings)
        self.es = build_client(settings)
        self.store = ElasticsearchEventStore(self.es, settings.index_prefix)
        org_settings = ElasticsearchOrgSettingsStore(self.es, settings.org_settings_index)
        _wait_for_store(
            settings, self.store.ensure_templates, org_settings.ensure_index, beat=self._waiting
        )
        self.classes = RetentionClassResolver(
            org_settings,
            load_retention_policy(settings.retention_policy_file),
            ttl_seconds=settings.retention_class_ttl_seconds,
        )
        self.dead_letters = KafkaDeadLetterSink(settings)
        self.source = KafkaBatchSource(settings, settings.audit_topics, settings.consumer_group)
        self.feed = KafkaDetectionFeed(settings)
        restricted = RestrictedSubjects(request_reader(settings, self.es))
        self.chain = (
            ChainKeeper(
                self.store,
                committer=build_committer(settings, self.es),
                restrictions=restricted,
            )
            if settings.integrity_enabled
            else None
        )
        self.source.on_revoke = self._settle_in_flight
        self.source.on_assign = self._forget_chain_heads
        self._last_progress = 0.0
        self.pipeline = IngestPipeline(
            store=self.store,
            dead_letters=self.dead_letters,
            metrics=metrics,
            index_for=self._index_for,
            clock=lambda: datetime.now(UTC),
            wait=self._wait,
            backoff=Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
            max_message_bytes=settings.max_message_bytes,
            detection_feed=self.feed,
            router=RestrictingRouter(load_rule_dir(settings.rules_dir), restricted),
            chain=self.chain,
        )
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk")
        self._in_flight: list[tuple[PreparedBatch, Future[BulkOutcome | StoreUnavailable]]] = []

    def _index_for(self, event: NormalizedEvent) -> str:
        """The daily index of the event's retention class and event-time day."""
        delays = iter(
            Backoff(self.settings.retry_initial_seconds, self.settings.retry_max_seconds).delays()
        )
        while True:
            try:
                retention_class = self.classes.class_for(event.organization_id, event.data_category)
                break
            except StoreUnavailable:
                # The organization's setting is unknown: waiting is the only
                # way to file the event under the class it promised.
                self.metrics.inc("audit_store_retries_total", reason="unavailable")
                self.summary.retries += 1
                self._wait(next(delays))
        return self.store.index_name(retention_class, event.timestamp.strftime("%Y.%m.%d"))

    def _wait(self, seconds: float) -> set[Partition]:
        if self.stop.stop:
            raise IngestInterrupted("stopping during an Elasticsearch outage; nothing committed")
        log.warning("Elasticsearch unavailable; waiting %.1fs before retrying", seconds)
        self._waiting()
        return self.source.wait_paused(seconds)

    def _waiting(self) -> None:
        """Alive (/healthz) but not ready (/readyz) while Elasticsearch is out."""
        self.metrics.heartbeat.beat()
        self.metrics.heartbeat.ready(False)

    def _settle_in_flight(self) -> None:
        """Before a partition goes: let the bulk request in flight land.

        Its new owner then finds those events stored (and already chained)
        when it reads them again; their offsets are committed, for the
        partitions still ours, when the batch completes after the poll.
        """
        for _, attempt in self._in_flight:
            attempt.result()

    def _forget_chain_heads(self) -> None:
        if self.chain is not None:
            self.chain.reset()

    def _complete_in_flight(self) -> None:
        if not self._in_flight:
            return
        prepared, attempt = self._in_flight.pop()
        report = self.pipeline.finish(prepared, attempt.result())
        self.source.resume_all()
        self.source.commit(report.commit_offsets)
        self.metrics.set("audit_last_commit_timestamp_seconds", time.time())
        self.summary.add(report)
        # A batch read after this one may already be waiting (prepared, not
        # yet routed): vouch only for event times actually routed.
        self._publish_progress(force=True, nothing_pending=False)

    def _publish_progress(self, *, force: bool = False, nothing_pending: bool) -> None:
        """Tell the detectors how far each owned source partition has got.

        After every batch, and at least every second while idle, so that
        a quiet source does not hold the detectors' watermark back. Only
        when every record read so far has been routed may a source read to
        its end vouch for the present.
        """
        now = time.monotonic()
        if not force and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        # A source read to its end vouches for the present: what it delivers
        # next is new, and the detectors' lateness covers producer delays.
        present = to_us(datetime.now(UTC))
        progress = {}
        for (topic, partition), caught_up in self.source.caught_up().items():
            seen = self.pipeline.progress.get((topic, partition), NEVER)
            vouch = caught_up and nothing_pending
            progress[f"{topic}:{partition}"] = max(seen, present) if vouch else seen
        self.feed.publish_progress(progress)
        self.feed.flush()

    def run(self, until_idle: float | None = None) -> RunSummary:
        idle_since = time.monotonic()
        try:
            while not self.stop.stop:
                batch = self.source.poll_batch(
                    self.settings.poll_timeout_ms, self.settings.batch_max_records
                )
                if batch:
                    idle_since = time.monotonic()
                    prepared = self.pipeline.prepare(batch)
                    self._complete_in_flight()
                    attempt = self._worker.submit(self.pipeline.first_attempt, prepared)
                    self._in_flight.append((prepared, attempt))
                else:
                    self._complete_in_flight()
                    self._publish_progress(nothing_pending=True)
                    if not self.source.owned():
                        # Not idle but waiting for an assignment (e.g. while
                        # the group waits out a crashed member's session).
                        idle_since = time.monotonic()
                    elif until_idle is not None and time.monotonic() - idle_since >= until_idle:
                        break
                _record_lag(self.source, self.metrics, self.settings.consumer_group)
                # The poll, and the commit of any batch completed, returned.
                self.metrics.heartbeat.beat()
                self.metrics.heartbeat.ready(True)
            self._complete_in_flight()
        except IngestInterrupted as err:
            log.warning("%s", err)
        return self.summary

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        self.source.close()
        self.dead_letters.close()
        self.feed.close()
        self.es.close()


def run(
    settings: Settings, *, until_idle: float | None = None, metrics: PrometheusMetrics | None = None
) -> RunSummary:
    metrics = metrics or PrometheusMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
    consumer = IngestConsumer(settings, metrics)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, consumer.stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
    try:
        return consumer.run(until_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        consumer.close()


def _wait_for_store(
    settings: Settings, *setups: Callable[[], None], beat: Callable[[], None] = lambda: None
) -> None:
    """Run each setup step (templates, indices), retrying while ES is unavailable
    (calling ``beat`` before each wait: the process is alive)."""
    delays = iter(Backoff(settings.retry_initial_seconds, settings.retry_max_seconds).delays())
    for setup in setups:
        while True:
            try:
                setup()
                break
            except StoreUnavailable as err:
                delay = next(delays)
                log.warning("%s; retrying in %.1fs", err, delay)
                beat()
                time.sleep(delay)


def _record_lag(source: KafkaBatchSource, metrics: PrometheusMetrics, group: str) -> None:
    lag = source.lag()
    if lag:
        for (topic, partition), value in lag.items():
            metrics.set(
                "audit_consumer_lag", value, group=group, topic=topic, partition=str(partition)
            )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    summary = run(load_settings())
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
