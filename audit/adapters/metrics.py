"""Every metric elastra-audit exports, defined in one place.

Names follow Prometheus conventions: ``audit_`` prefix, base units
(seconds, bytes), ``_total`` for counters. No label carries a user id, an IP
or an event id: labels are bounded sets (topic, partition, rule id, reason).
Services record through the :class:`audit.services.ports.MetricsRecorder`
port; this adapter implements it over prometheus-client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

Kind = Literal["counter", "gauge", "histogram"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = _LATENCY_BUCKETS


METRICS: tuple[MetricSpec, ...] = (
    # --- ingest -----------------------------------------------------------
    MetricSpec(
        "audit_events_consumed_total", "counter", "Messages read from the audit topics.", ("topic",)
    ),
    MetricSpec(
        "audit_events_stored_total", "counter", "Events newly stored in Elasticsearch.", ("topic",)
    ),
    MetricSpec(
        "audit_events_duplicate_total",
        "counter",
        "Events already stored (same event.id): counted, not stored again.",
        ("topic",),
    ),
    MetricSpec(
        "audit_events_rejected_total",
        "counter",
        "Messages sent to the dead-letter topic, by reason.",
        ("reason",),
    ),
    MetricSpec(
        "audit_bulk_request_duration_seconds",
        "histogram",
        "Latency of Elasticsearch bulk requests.",
    ),
    MetricSpec("audit_batch_size", "histogram", "Messages per consumed batch.", (), _SIZE_BUCKETS),
    MetricSpec(
        "audit_consumer_lag",
        "gauge",
        "Messages between the committed offset and the end of the partition, by consumer group.",
        ("group", "topic", "partition"),
    ),
    MetricSpec(
        "audit_store_retries_total",
        "counter",
        "Bulk writes retried after Elasticsearch was unavailable or overloaded.",
        ("reason",),
    ),
    MetricSpec(
        "audit_last_commit_timestamp_seconds",
        "gauge",
        "Unix time of the last offset commit of the ingest consumer.",
    ),
    MetricSpec(
        "audit_late_events_total",
        "counter",
        "Events later than the allowed lateness of the detection windows.",
    ),
    # --- detection --------------------------------------------------------
    MetricSpec(
        "audit_detector_events_total", "counter", "Routed events evaluated by the detector."
    ),
    MetricSpec(
        "audit_detections_total", "counter", "Detections raised or updated, by rule.", ("rule_id",)
    ),
    MetricSpec(
        "audit_detection_latency_seconds",
        "histogram",
        "From the event's ingestion to its detection being stored.",
    ),
    MetricSpec(
        "audit_detection_state_keys",
        "gauge",
        "Active group keys held in detection window state.",
        ("rule_id",),
    ),
    MetricSpec(
        "audit_detection_state_bytes",
        "gauge",
        "Approximate bytes of detection window state held by this process.",
    ),
    # --- incidents, checklists, notifications ------------------------------
    MetricSpec(
        "audit_incidents_open", "gauge", "Incidents not closed, by severity.", ("severity",)
    ),
    MetricSpec(
        "audit_checklist_items_overdue",
        "gauge",
        "Checklist items past their deadline without a decision.",
    ),
    MetricSpec(
        "audit_checklist_items_due_soon",
        "gauge",
        "Checklist items due within 12 hours without a decision.",
    ),
    MetricSpec(
        "audit_notifications_total", "counter", "Webhook notifications, by outcome.", ("outcome",)
    ),
    MetricSpec(
        "audit_scheduler_job_runs_total",
        "counter",
        "Scheduled job runs, by task (the scheduled job) and outcome.",
        ("task", "outcome"),
    ),
    MetricSpec(
        "audit_scheduler_job_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful run of a scheduled job, by task.",
        ("task",),
    ),
    # --- retention and integrity --------------------------------------------
    MetricSpec(
        "audit_retention_actions_total",
        "counter",
        "Retention actions applied to indices, by action and outcome.",
        ("action", "outcome"),
    ),
    MetricSpec(
        "audit_integrity_findings_total",
        "counter",
        "Integrity verification findings (modified, missing, forged, reordered).",
    ),
    MetricSpec("audit_digests_signed_total", "counter", "Signed integrity digests written."),
    MetricSpec(
        "audit_digest_last_signed_timestamp_seconds",
        "gauge",
        "Unix time of the last signed integrity digest.",
    ),
    # --- API ---------------------------------------------------------------
    MetricSpec(
        "audit_api_requests_total",
        "counter",
        "HTTP API requests, by route template, method and status.",
        ("route", "method", "status"),
    ),
    MetricSpec(
        "audit_api_request_duration_seconds",
        "histogram",
        "HTTP API request latency, by route template.",
        ("route",),
    ),
)

METRIC_NAMES = frozenset(spec.name for spec in METRICS)


class PrometheusMetrics:
    """A :class:`MetricsRecorder` over a prometheus-client registry.

    A registry per instance (not the global default) so that tests and
    several components in one process do not collide.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # The *_created series double every counter for no use in alerting.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}
        for spec in METRICS:
            self._metrics[spec.name] = _build(spec, self.registry)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        metric = self._metrics[name]
        assert isinstance(metric, Counter | Gauge)
        (metric.labels(**labels) if labels else metric).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        metric = self._metrics[name]
        assert isinstance(metric, Gauge)
        (metric.labels(**labels) if labels else metric).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        metric = self._metrics[name]
        assert isinstance(metric, Histogram)
        (metric.labels(**labels) if labels else metric).observe(value)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` on ``addr:port`` from a daemon thread."""
        start_http_server(port, addr=addr, registry=self.registry)


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    # prometheus-client appends _total itself; it wants the bare name.
    if spec.kind == "counter":
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
