"""The detector process's object graph, built from settings.

:func:`build_detector` only builds (no I/O); :meth:`DetectorWiring.setup`
creates the topics and indices and the incident handler; then
``wiring.loop.run()``.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from audit.adapters.bundled_data import load_rule_dir
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.detection_store import ElasticsearchDetectionStore
from audit.adapters.kafka.changelog import KafkaChangelog
from audit.adapters.kafka.dead_letter_reader import read_dead_letters
from audit.adapters.kafka.routed_source import KafkaRoutedSource
from audit.adapters.kafka.too_late import ERROR_TYPE, KafkaTooLateSink
from audit.adapters.kafka.topics import ensure_detection_topics
from audit.adapters.metrics import CONSUMER_READY_MAX_AGE_SECONDS, Heartbeat, PrometheusMetrics
from audit.services.detector_loop import DetectorConfig, DetectorLoop
from audit.settings import Settings
from audit.wiring.incidents import IncidentWiring


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DetectorWiring:
    settings: Settings
    client: Elasticsearch
    source: KafkaRoutedSource
    changelog: KafkaChangelog
    detections: ElasticsearchDetectionStore
    metrics: PrometheusMetrics
    loop: DetectorLoop
    too_late: KafkaTooLateSink
    incidents: IncidentWiring | None = field(default=None)

    def setup(self) -> None:
        """Create the routed and changelog topics and the detection index;
        start the changelog's producer; build the incident handler (it
        creates its indices) when enabled; serve ``/metrics`` when a port is set."""
        ensure_detection_topics(self.settings)
        self.detections.ensure_index()
        self.changelog.connect()
        if self.settings.detector_opens_incidents:
            from audit.wiring.incidents import build_incidents

            self.incidents = build_incidents(self.settings, self.client)
            self.loop.handler = self.incidents.service
        if self.settings.detector_metrics_port:
            self.metrics.serve(self.settings.detector_metrics_port, self.settings.metrics_addr)

    def close(self) -> None:
        self.loop.close()
        self.source.close()
        self.changelog.close()
        self.too_late.close()
        self.client.close()


def build_detector(settings: Settings) -> DetectorWiring:
    # Restoring a partition's window state from the changelog can hold a
    # turn of the loop for a while: two minutes before /healthz fails.
    metrics = PrometheusMetrics(
        heartbeat=Heartbeat(max_age=120.0, ready_max_age=CONSUMER_READY_MAX_AGE_SECONDS)
    )
    client = build_client(settings)
    source = KafkaRoutedSource(settings)
    changelog = KafkaChangelog(settings)
    detections = ElasticsearchDetectionStore(client, settings.detection_index)
    config = DetectorConfig(
        lateness=timedelta(seconds=settings.detection_lateness_seconds),
        late_horizon=timedelta(seconds=settings.detection_late_horizon_seconds),
        state_interval=settings.detection_state_interval_seconds,
    )
    too_late = KafkaTooLateSink(settings)
    loop = DetectorLoop(
        load_rule_dir(settings.rules_dir),
        config,
        source,
        changelog,
        detections,
        None,
        metrics,
        metrics.heartbeat,
        _utcnow,
        too_late=too_late,
    )
    source.set_revoke_hook(loop.settle)
    return DetectorWiring(settings, client, source, changelog, detections, metrics, loop, too_late)


def run_detector(settings: Settings, *, until_idle: float | None = None) -> int:
    """Build, set up and run the detector until SIGTERM/SIGINT (or
    ``until_idle`` seconds with nothing to read); returns detections written."""
    wiring = build_detector(settings)
    loop = wiring.loop

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop = True

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        wiring.setup()
        return loop.run(until_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wiring.close()


def too_late_sample(settings: Settings, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` events the detectors recorded as too late (oldest first)."""
    found: list[dict[str, Any]] = []
    for letter in read_dead_letters(settings):
        if letter.headers.get("error.type") == ERROR_TYPE and letter.value is not None:
            found.append(orjson.loads(letter.value))
            if len(found) >= limit:
                break
    return found
