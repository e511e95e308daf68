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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.kafka.batch_source import KafkaBatchSource, Partition
from audit.adapters.kafka.dead_letters import KafkaDeadLetterSink
from audit.adapters.kafka.topics import ensure_topics
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.event import NormalizedEvent
from audit.services.ingest import Backoff, IngestInterrupted, IngestPipeline
from audit.settings import Settings, load_settings

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


class _StopFlag:
    def __init__(self) -> None:
        self.stop = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the batch in hand, then stopping", signum)
        self.stop = True


def daily_index(store: ElasticsearchEventStore) -> object:
    def index_for(event: NormalizedEvent) -> str:
        # Retention classes per data category arrive with the retention
        # policy; until then every event is in the standard class.
        return store.index_name("standard", event.timestamp.strftime("%Y.%m.%d"))

    return index_for


def run(
    settings: Settings, *, until_idle: float | None = None, metrics: PrometheusMetrics | None = None
) -> RunSummary:
    metrics = metrics or PrometheusMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    es = build_client(settings)
    store = ElasticsearchEventStore(es, settings.index_prefix)
    _wait_for_store(store, settings)
    dead_letters = KafkaDeadLetterSink(settings)
    source = KafkaBatchSource(settings, settings.audit_topics, settings.consumer_group)
    stop = _StopFlag()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def wait(seconds: float) -> set[Partition]:
        if stop.stop:
            raise IngestInterrupted("stopping during an Elasticsearch outage; nothing committed")
        log.warning("Elasticsearch unavailable; waiting %.1fs before retrying", seconds)
        return source.wait_paused(seconds)

    pipeline = IngestPipeline(
        store=store,
        dead_letters=dead_letters,
        metrics=metrics,
        index_for=daily_index(store),  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC),
        wait=wait,
        backoff=Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
        max_message_bytes=settings.max_message_bytes,
    )
    summary = RunSummary()
    idle_since = time.monotonic()
    try:
        while not stop.stop:
            batch = source.poll_batch(settings.poll_timeout_ms, settings.batch_max_records)
            if not batch:
                _record_lag(source, metrics)
                if not source.owned():
                    # Not idle but waiting for an assignment (e.g. while the
                    # group waits out a crashed member's session).
                    idle_since = time.monotonic()
                elif until_idle is not None and time.monotonic() - idle_since >= until_idle:
                    break
                continue
            idle_since = time.monotonic()
            report = pipeline.process(batch)
            source.resume_all()
            source.commit(report.commit_offsets)
            metrics.set("audit_last_commit_timestamp_seconds", time.time())
            summary.batches += 1
            summary.consumed += report.consumed
            summary.stored += report.stored
            summary.duplicates += report.duplicates
            summary.rejected += report.rejected
            summary.retries += report.retries
            _record_lag(source, metrics)
    except IngestInterrupted as err:
        log.warning("%s", err)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        source.close()
        dead_letters.close()
        es.close()
    return summary


def _wait_for_store(store: ElasticsearchEventStore, settings: Settings) -> None:
    from audit.errors import StoreUnavailable

    delays = iter(Backoff(settings.retry_initial_seconds, settings.retry_max_seconds).delays())
    while True:
        try:
            store.ensure_templates()
            return
        except StoreUnavailable as err:
            delay = next(delays)
            log.warning("%s; retrying in %.1fs", err, delay)
            time.sleep(delay)


def _record_lag(source: KafkaBatchSource, metrics: PrometheusMetrics) -> None:
    lag = source.lag()
    if lag:
        for (topic, partition), value in lag.items():
            metrics.set("audit_consumer_lag", value, topic=topic, partition=str(partition))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    summary = run(load_settings())
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
