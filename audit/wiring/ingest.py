"""Building the ingest process from settings: ``build_ingest(settings)``.

Building connects to nothing (clients connect on first use);
:meth:`IngestProcess.prepare` is the explicit setup step (topics, index
template, organization-settings index), waiting while Elasticsearch is
unavailable, then :meth:`IngestProcess.run` runs the consumer loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from audit.adapters.bundled_data import load_retention_policy, load_rule_dir
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.elasticsearch.org_settings_store import ElasticsearchOrgSettingsStore
from audit.adapters.kafka.batch_source import KafkaBatchSource
from audit.adapters.kafka.dead_letters import KafkaDeadLetterSink
from audit.adapters.kafka.detection_feed import KafkaDetectionFeed
from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.adapters.metrics import CONSUMER_READY_MAX_AGE_SECONDS, Heartbeat, PrometheusMetrics
from audit.errors import StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ingest import Backoff, IngestCounts, IngestPipeline
from audit.services.ingest_loop import IngestLoop, LoopOptions, OutageWait, StopSignal
from audit.services.restricted_subjects import RestrictedSubjects, RestrictingRouter
from audit.services.retention_classes import DailyIndexes, RetentionClassResolver
from audit.settings import Settings
from audit.wiring.privacy import request_reader
from audit.wiring.subject_keys import build_committer

log = logging.getLogger("audit.ingest")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class IngestProcess:
    """The object graph of one ingest consumer-group member."""

    settings: Settings
    client: Elasticsearch
    metrics: PrometheusMetrics
    store: ElasticsearchEventStore
    org_settings: ElasticsearchOrgSettingsStore
    classes: RetentionClassResolver
    source: KafkaBatchSource
    dead_letters: KafkaDeadLetterSink
    feed: KafkaDetectionFeed
    chain: ChainKeeper | None
    pipeline: IngestPipeline
    stop: StopSignal
    outage: OutageWait
    loop: IngestLoop

    def prepare(self) -> None:
        """Create what is missing (the topics, the index template, the settings
        index); start the detection feed's producer."""
        settings = self.settings
        ensure_topics(
            settings,
            {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
        )
        ensure_detection_topics(settings)
        wait_for_store(
            Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
            self.store.ensure_templates,
            self.org_settings.ensure_index,
            beat=self.outage.waiting,
        )
        # Before the group join, so that the detection feed's producer has its
        # id by the time the first batch is fed.
        self.feed.connect()

    def serve_metrics(self) -> None:
        """``/metrics``, ``/healthz``, ``/readyz`` (unless the port is 0)."""
        if self.settings.metrics_port:
            self.metrics.serve(self.settings.metrics_port, self.settings.metrics_addr)

    def run(self, until_idle: float | None = None) -> IngestCounts:
        return self.loop.run(until_idle)

    def close(self) -> None:
        self.loop.close()
        self.source.close()
        self.dead_letters.close()
        self.feed.close()
        self.client.close()


def build_ingest(settings: Settings, metrics: PrometheusMetrics | None = None) -> IngestProcess:
    """Every part of the ingest process, connected to nothing yet."""
    metrics = metrics or PrometheusMetrics(
        heartbeat=Heartbeat(ready_max_age=CONSUMER_READY_MAX_AGE_SECONDS)
    )
    client = build_client(settings, fast_json=True)
    store = ElasticsearchEventStore(client, settings.index_prefix)
    org_settings = ElasticsearchOrgSettingsStore(client, settings.org_settings_index)
    classes = RetentionClassResolver(
        org_settings,
        load_retention_policy(settings.retention_policy_file),
        ttl_seconds=settings.retention_class_ttl_seconds,
    )
    source = KafkaBatchSource(settings, settings.audit_topics, settings.consumer_group)
    dead_letters = KafkaDeadLetterSink(settings)
    feed = KafkaDetectionFeed(settings)
    # Data subjects under restriction or objection (issue 15): their new events
    # are flagged when sealed and not routed to detection.
    restricted = RestrictedSubjects(request_reader(settings, client))
    chain = (
        ChainKeeper(store, committer=build_committer(settings, client), restrictions=restricted)
        if settings.integrity_enabled
        else None
    )
    stop = StopSignal()
    outage = OutageWait(source, metrics.heartbeat, stop)

    pipeline = IngestPipeline(
        store=store,
        dead_letters=dead_letters,
        metrics=metrics,
        index_for=DailyIndexes(classes, store.index_name),
        clock=utcnow,
        wait=outage,
        backoff=Backoff(settings.retry_initial_seconds, settings.retry_max_seconds),
        max_message_bytes=settings.max_message_bytes,
        detection_feed=feed,
        router=RestrictingRouter(load_rule_dir(settings.rules_dir), restricted),
        chain=chain,
    )
    loop = IngestLoop(
        source=source,
        pipeline=pipeline,
        metrics=metrics,
        health=metrics.heartbeat,
        stop=stop,
        options=LoopOptions(
            settings.poll_timeout_ms, settings.batch_max_records, settings.consumer_group
        ),
        progress=feed,
        chain=chain,
        clock=utcnow,
    )
    return IngestProcess(
        settings, client, metrics, store, org_settings, classes, source, dead_letters, feed,
        chain, pipeline, stop, outage, loop,
    )  # fmt: skip


def wait_for_store(
    backoff: Backoff, *setups: Callable[[], None], beat: Callable[[], None] = lambda: None
) -> None:
    """Run each setup step, retrying while the store is unavailable
    (calling ``beat`` before each wait: the process is alive)."""
    delays = iter(backoff.delays())
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
