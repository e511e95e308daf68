"""Entry point of the detector: settings -> wiring -> run loop.

Run it as ``audit detect``. It reads the routed topic (records re-keyed by
each rule's group key, plus the ingest side's progress markers) in a
consumer group; each partition it owns is a :class:`DetectionTask` whose
state is restored from the changelog before it processes anything. After
each batch: detections are written to Elasticsearch (by id, so idempotent)
and handed to the incident service, changed state goes to the changelog,
and only then are offsets committed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import FrameType

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from audit.adapters.bundled_data import load_rule_dir
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.detection_store import ElasticsearchDetectionStore
from audit.adapters.kafka.changelog import KafkaChangelog
from audit.adapters.kafka.config import connection_options
from audit.adapters.kafka.detection_feed import KIND_HEADER, KIND_PROGRESS
from audit.adapters.kafka.topics import ensure_detection_topics
from audit.adapters.metrics import Heartbeat, PrometheusMetrics
from audit.domain.detection import RoutedEvent
from audit.domain.detection.record import Detection
from audit.services.detection import DetectionTask
from audit.settings import Settings, load_settings

log = logging.getLogger("consumers.detect")


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Notes partition moves; the run loop acts on them after poll returns."""

    def __init__(self) -> None:
        self.assigned: set[int] = set()
        self.revoked: set[int] = set()

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.revoked.update(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned.update(tp.partition for tp in assigned)


class Detector:
    def __init__(self, settings: Settings, metrics: PrometheusMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stop = False
        self.rules = load_rule_dir(settings.rules_dir)
        self.lateness = timedelta(seconds=settings.detection_lateness_seconds)
        ensure_detection_topics(settings)
        self.es = build_client(settings)
        self.detections = ElasticsearchDetectionStore(self.es, settings.detection_index)
        self.detections.ensure_index()
        self.incidents = None
        if settings.detector_opens_incidents:
            from audit.wiring.incidents import build_incidents

            self.incidents = build_incidents(settings, self.es)
        self.changelog = KafkaChangelog(settings)
        self.listener = _Assignments()
        self.consumer = KafkaConsumer(
            group_id=settings.detector_group,
            client_id="elastra-audit-detector",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=5000,
            **connection_options(settings),
        )
        self.consumer.subscribe([settings.topic_routed], listener=self.listener)
        self.tasks: dict[int, DetectionTask] = {}
        self.sources = self._expected_sources()
        self.raised = 0
        # Expiry and the state gauges (a walk over every key) run every 30 s,
        # not per batch, and on the first batch too.
        self._last_expiry = 0.0

    def _expected_sources(self) -> list[str]:
        sources: list[str] = []
        for topic in self.settings.audit_topics:
            partitions = self.consumer.partitions_for_topic(topic) or set()
            sources.extend(f"{topic}:{p}" for p in sorted(partitions))
        return sources

    def _rebalance(self) -> None:
        for partition in self.listener.revoked:
            self.tasks.pop(partition, None)
        self.listener.revoked.clear()
        for partition in sorted(self.listener.assigned):
            if partition in self.tasks:
                continue
            task = DetectionTask(
                partition, self.rules, lateness=self.lateness, expected_sources=self.sources
            )
            restored = task.restore(self.changelog.read(partition))
            log.info("partition %d: restored %d keys from the changelog", partition, restored)
            self.tasks[partition] = task
        self.listener.assigned.clear()

    def run_once(self) -> int:
        polled = self.consumer.poll(timeout_ms=500)
        self._rebalance()
        found: dict[str, Detection] = {}
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        processed = 0
        for tp, records in polled.items():
            task = self.tasks.get(tp.partition)
            if task is None:
                continue
            for record in records:
                kind = dict(record.headers or ()).get(KIND_HEADER)
                if kind == KIND_PROGRESS:
                    for detection in task.apply_progress(orjson.loads(record.value)["sources"]):
                        found[detection.id] = detection
                    continue
                for item in orjson.loads(record.value):
                    for detection in task.apply_event(RoutedEvent.from_dict(item)):
                        found[detection.id] = detection
                    processed += 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if time.monotonic() - self._last_expiry > 30:
            self._last_expiry = time.monotonic()
            state_bytes = 0.0
            for task in self.tasks.values():
                task.expire()
                state_bytes += task.engine.approx_bytes_per_key() * task.engine.active_keys
            self.metrics.set("audit_detection_state_bytes", state_bytes)
            self._record_state()
        self._store(found)
        for task in self.tasks.values():
            changes = task.take_changes()
            if changes:
                self.changelog.write(task.partition, changes)
            late = task.take_late_count()
            if late:
                self.metrics.inc("audit_late_events_total", late)
        self.changelog.flush()
        owned = self.consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in owned}
        offsets = {**getattr(self, "_deferred", {}), **offsets}
        self._deferred: dict[TopicPartition, OffsetAndMetadata] = {}
        if offsets:
            try:
                self.consumer.commit(offsets)
            except KafkaError as err:  # the broker is away: commit with the next batch
                log.warning("commit deferred, the broker is unavailable: %s", err)
                self._deferred = offsets
        if processed:
            self.metrics.inc("audit_detector_events_total", processed)
        return processed

    def _store(self, found: dict[str, Detection]) -> None:
        now = datetime.now(UTC)
        for detection in found.values():
            stamped = detection.model_copy(update={"detected_at": now})
            self.detections.put(stamped)
            self.raised += 1
            self.metrics.inc("audit_detections_total", rule_id=detection.rule_id)
            lag = (now - detection.last_seen).total_seconds()
            if 0 <= lag < 86_400:
                self.metrics.observe("audit_detection_latency_seconds", lag)
            if self.incidents is not None:
                self.incidents.service.handle_detection(stamped, now)

    def _record_state(self) -> None:
        per_rule: dict[str, int] = dict.fromkeys(self.rules_ids(), 0)
        for task in self.tasks.values():
            for key in task.engine.state_keys():
                rule_id = key.split("|", 1)[0]
                per_rule[rule_id] = per_rule.get(rule_id, 0) + 1
        for rule_id, count in per_rule.items():
            self.metrics.set("audit_detection_state_keys", count, rule_id=rule_id)

    def rules_ids(self) -> list[str]:
        return [rule.id for rule in self.rules if rule.enabled]

    def run(self, until_idle: float | None = None) -> int:
        idle_since = time.monotonic()
        while not self.stop:
            processed = self.run_once()
            # The poll and the commit returned: alive and ready.
            self.metrics.heartbeat.beat()
            self.metrics.heartbeat.ready(True)
            if processed or not self.tasks:
                idle_since = time.monotonic()
            elif until_idle is not None and time.monotonic() - idle_since >= until_idle:
                break
        return self.raised

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.changelog.close()
        if self.incidents is not None:
            self.incidents.close()
        self.es.close()


def run(settings: Settings, *, until_idle: float | None = None) -> int:
    # Restoring a partition's window state from the changelog can hold a
    # turn of the loop for a while: two minutes before /healthz fails.
    metrics = PrometheusMetrics(heartbeat=Heartbeat(max_age=120.0))
    if settings.detector_metrics_port:
        metrics.serve(settings.detector_metrics_port, settings.metrics_addr)
    detector = Detector(settings, metrics)

    def stop(signum: int, frame: FrameType | None) -> None:
        detector.stop = True

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return detector.run(until_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        detector.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    print(run(load_settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
