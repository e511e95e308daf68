"""/metrics, /healthz and /readyz of the consumer, detector and scheduler:
real HTTP on loopback, an ephemeral port."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from audit.adapters.metrics import Heartbeat, PrometheusMetrics
from audit.adapters.scheduler import _beating


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[PrometheusMetrics, str]]:
    metrics = PrometheusMetrics(heartbeat=Heartbeat(max_age=60.0, clock=clock))
    server = metrics.serve(0, "127.0.0.1")
    host, port = server.server_address[:2]
    try:
        yield metrics, f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_metrics_is_the_prometheus_exposition(served: tuple[PrometheusMetrics, str]) -> None:
    metrics, base = served
    metrics.inc("audit_events_consumed_total", 3, topic="elastra.audit.auth")
    status, content_type, body = _get(base + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'audit_events_consumed_total{topic="elastra.audit.auth"} 3.0' in body
    assert "# TYPE audit_consumer_lag gauge" in body


def test_metrics_speaks_openmetrics_when_asked(served: tuple[PrometheusMetrics, str]) -> None:
    _, base = served
    request = urllib.request.Request(
        base + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().decode().endswith("# EOF\n")


def test_alive_from_the_start_ready_only_once_told(
    served: tuple[PrometheusMetrics, str], clock: Clock
) -> None:
    metrics, base = served
    assert _get(base + "/healthz")[0] == 200
    assert _get(base + "/readyz")[0] == 503
    clock.now += 30
    metrics.heartbeat.ready(True)
    assert _get(base + "/readyz")[:1] == (200,)
    assert _get(base + "/readyz")[2] == "ok\n"


def test_a_loop_that_stops_turning_is_neither_alive_nor_ready(
    served: tuple[PrometheusMetrics, str], clock: Clock
) -> None:
    metrics, base = served
    metrics.heartbeat.beat()
    metrics.heartbeat.ready(True)
    clock.now += 60
    assert _get(base + "/healthz")[0] == 200
    assert _get(base + "/readyz")[0] == 200
    clock.now += 1
    assert _get(base + "/healthz")[0] == 503
    assert _get(base + "/readyz")[0] == 503
    metrics.heartbeat.beat()
    assert _get(base + "/healthz")[0] == 200
    assert _get(base + "/readyz")[0] == 503  # no poll succeeded since


def test_not_ready_as_soon_as_a_client_fails(
    served: tuple[PrometheusMetrics, str], clock: Clock
) -> None:
    metrics, base = served
    metrics.heartbeat.ready(True)
    metrics.heartbeat.beat()
    metrics.heartbeat.ready(False)
    assert _get(base + "/healthz")[0] == 200
    assert _get(base + "/readyz")[0] == 503


def test_other_paths_are_not_found(served: tuple[PrometheusMetrics, str]) -> None:
    _, base = served
    assert _get(base + "/")[0] == 404
    assert _get(base + "/metrics/x")[0] == 404


@pytest.mark.parametrize(
    ("outcome", "ready"),
    [("success", True), ("skipped", True), ("failure", False), ("not_due", None)],
)
def test_scheduled_runs_beat_and_report_readiness(
    clock: Clock, outcome: str, ready: bool | None
) -> None:
    heartbeat = Heartbeat(max_age=180.0, clock=clock)
    clock.now += 500
    assert not heartbeat.is_alive()
    assert _beating(lambda: outcome, heartbeat)() == outcome
    assert heartbeat.is_alive()
    assert heartbeat.is_ready() is bool(ready)


def test_a_loop_that_stopped_confirming_its_broker_is_not_ready_before_it_is_dead(
    clock: Clock,
) -> None:
    # A consumer loop blocked in a commit while the broker is away said
    # ready(True) last: it must go not-ready after ready_max_age, long
    # before liveness (max_age) gives up on it.
    heartbeat = Heartbeat(max_age=60.0, clock=clock, ready_max_age=15.0)
    heartbeat.beat()
    heartbeat.ready(True)
    clock.now += 14
    assert heartbeat.is_ready()
    clock.now += 2
    assert not heartbeat.is_ready()
    assert heartbeat.is_alive()
    heartbeat.ready(True)
    assert heartbeat.is_ready()
