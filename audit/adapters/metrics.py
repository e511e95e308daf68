"""Every metric elastra-audit exports, defined in one place.

Names follow Prometheus conventions: ``audit_`` prefix, base units
(seconds, bytes), ``_total`` for counters. No label carries a user id, an IP
or an event id: labels are bounded sets (topic, partition, rule id, reason).
Services record through the :class:`audit.services.ports.MetricsRecorder`
port; this adapter implements it over prometheus-client.

The consumer, detector and scheduler serve ``/metrics`` beside ``/healthz``
(the run loop turned recently) and ``/readyz`` (the last poll, commit or
lease succeeded recently), answered from a :class:`Heartbeat` they update.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

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
        "Events too late for detection: older than the watermark minus the late horizon.",
    ),
    # --- detection --------------------------------------------------------
    MetricSpec(
        "audit_detector_events_total", "counter", "Routed events evaluated by the detector."
    ),
    MetricSpec(
        "audit_detection_events_too_late_total",
        "counter",
        "Routed events not evaluated, older than the watermark minus the late horizon, by rule.",
        ("rule",),
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
        "Bytes of this process's detection window state as last written to its changelog.",
    ),
    MetricSpec(
        "audit_detection_state_entries",
        "gauge",
        "Events held in detection state (new_value: history values), by rule:"
        " what the detector's memory grows with.",
        ("rule_id",),
    ),
    # --- every process ------------------------------------------------------
    MetricSpec(
        "audit_process_memory_limit_bytes",
        "gauge",
        "Memory this process may use: its cgroup's limit, or the machine's memory"
        " when the cgroup sets none.",
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
        "audit_lawful_request_items_overdue",
        "gauge",
        "Checklist items of open lawful requests past their deadline without a decision.",
    ),
    MetricSpec(
        "audit_lawful_request_items_due_soon",
        "gauge",
        "Checklist items of open lawful requests due within 12 hours without a decision.",
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
#: Series of prometheus-client's process collector, registered beside
#: METRICS in every registry (the alerts compare the first with the limit).
PROCESS_SERIES = ("process_resident_memory_bytes", "process_cpu_seconds_total")

#: Where a process's memory limit is read from: cgroup v2, then v1.
CGROUP_MEMORY_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
MEMINFO = Path("/proc/meminfo")


def memory_limit_bytes(
    limits: tuple[Path, ...] = CGROUP_MEMORY_LIMITS, meminfo: Path = MEMINFO
) -> float | None:
    """The memory this process may use: the smallest of its cgroup's limit
    and the machine's memory (a cgroup without a limit says ``max``, or, in
    v1, a number near 2**63); None when neither can be read."""
    found: list[float] = []
    for path in limits:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            found.append(float(text))
        break  # the first that exists is this process's hierarchy
    try:
        for line in meminfo.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemTotal":
                found.append(float(value.split()[0]) * 1024)  # reported in kB
                break
    except (OSError, ValueError, IndexError):
        pass
    return min(found) if found else None


#: /readyz of a consumer loop (ingest and detector) says ready only while the
#: loop confirmed a reachable broker within this many seconds: an idle loop
#: turns every poll (0.5 s), a busy one every second or two; a loop silent
#: for longer is blocked (a commit or flush waiting out a broker outage).
CONSUMER_READY_MAX_AGE_SECONDS = 15.0


class Heartbeat:
    """Liveness and readiness of a process's run loop; thread-safe.

    ``beat()`` each time the loop turns; ``ready(True)`` when the Kafka or
    Elasticsearch call it depends on just succeeded, ``ready(False)`` when
    it failed. Alive while the last beat is at most ``max_age`` seconds old
    (starting counts as a beat, so setup gets that long); ready while the
    last ``ready`` said True and is at most ``ready_max_age`` seconds old
    (default ``max_age``). A consumer loop sets a shorter ``ready_max_age``:
    a kafka-python call (a commit, a flush) can block its loop for as long as
    the broker is away, and a loop that has not confirmed a broker for that
    long is not ready even though nothing said False.
    """

    def __init__(
        self,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        ready_max_age: float | None = None,
    ) -> None:
        self.max_age = max_age
        self.ready_max_age = max_age if ready_max_age is None else ready_max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._beat = clock()
        self._ready_at: float | None = None

    def beat(self) -> None:
        with self._lock:
            self._beat = self._clock()

    def ready(self, ok: bool) -> None:
        with self._lock:
            self._ready_at = self._clock() if ok else None

    def is_alive(self) -> bool:
        with self._lock:
            return self._clock() - self._beat <= self.max_age

    def is_ready(self) -> bool:
        with self._lock:
            return (
                self._ready_at is not None and self._clock() - self._ready_at <= self.ready_max_age
            )


class PrometheusMetrics:
    """A :class:`MetricsRecorder` over a prometheus-client registry.

    A registry per instance (not the global default) so that tests and
    several components in one process do not collide.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, heartbeat: Heartbeat | None = None
    ) -> None:
        # The *_created series double every counter for no use in alerting.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat()
        self._metrics: dict[str, Counter | Gauge | Histogram] = {}
        for spec in METRICS:
            self._metrics[spec.name] = _build(spec, self.registry)
        # Resident memory against the limit: AuditProcessMemoryNearLimit warns
        # before the kernel kills the process (the detector's windows grow
        # with the traffic they hold; see docs/deploy.md, sizing).
        ProcessCollector(registry=self.registry)
        limit = memory_limit_bytes()
        if limit is not None:
            self.set("audit_process_memory_limit_bytes", limit)

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

    def serve(self, port: int, addr: str = "127.0.0.1") -> ThreadingHTTPServer:
        """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``addr:port``
        from a daemon thread; ``port`` 0 picks a free one (``server_address``)."""
        server = ThreadingHTTPServer((addr, port), _handler(self.registry, self.heartbeat))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
        return server


def _handler(registry: CollectorRegistry, heartbeat: Heartbeat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                # The format the scraper asks for, as prometheus-client's own server.
                encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._answer(200, encoder(registry), content_type)
            elif path == "/healthz":
                self._probe(heartbeat.is_alive())
            elif path == "/readyz":
                self._probe(heartbeat.is_ready())
            else:
                self._answer(404, b"not found\n", "text/plain; charset=utf-8")

        def _probe(self, ok: bool) -> None:
            status, body = (200, b"ok\n") if ok else (503, b"unavailable\n")
            self._answer(status, body, "text/plain; charset=utf-8")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape and probe is noise

    return Handler


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    # prometheus-client appends _total itself; it wants the bare name.
    if spec.kind == "counter":
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
