"""A real Prometheus scrapes the running consumer and detector during a replay.

Every series the alert rules and dashboards use that these two processes
export must exist in Prometheus, and the counters must move. The series of
the other processes (scheduler, API) and those that need a fault to appear
(retries) are listed below and checked by the promtool rule tests instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.adapters.kafka.publisher import publish
from audit.replay.mix import mixed_stream
from audit.replay.scenarios import build_many, merge, resolve
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from tests.integration.conftest import ROOT, Isolated, spawn_command, spawn_consumer
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration

# Exported by other processes, or only after a fault: not expected here.
NOT_FROM_INGEST_OR_DETECTION = {
    "audit_api_request_duration_seconds_bucket",
    "audit_api_requests_total",
    "audit_checklist_items_due_soon",
    "audit_checklist_items_overdue",
    "audit_incidents_open",
    "audit_lawful_request_items_due_soon",
    "audit_lawful_request_items_overdue",
    "audit_notifications_total",
    "audit_retention_actions_total",
    "audit_scheduler_job_last_success_timestamp_seconds",
    "audit_scheduler_job_runs_total",
    "audit_digest_last_signed_timestamp_seconds",
    "audit_digests_signed_total",
    "audit_integrity_findings_total",
    "audit_store_retries_total",
}
MUST_MOVE = (
    "audit_events_consumed_total",
    "audit_events_stored_total",
    "audit_events_rejected_total",
    "audit_detector_events_total",
    "audit_batch_size_count",
    "audit_bulk_request_duration_seconds_count",
    "audit_late_events_total",
    "audit_detection_events_too_late_total",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int, expr: str) -> bool:
    """For waits: Prometheus may still be starting on a loaded machine
    (connection refused), which is 'not yet', not a failure."""
    try:
        return bool(_query(port, expr))
    except urllib.error.URLError:
        return False


def _query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="run scripts/setup-ops")
def test_prometheus_scrapes_every_ingest_and_detection_series_and_they_move(
    detecting: Isolated, tmp_path: Path
) -> None:
    consumer_port, detector_port, prom_port = _free_port(), _free_port(), _free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: consumer\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{consumer_port}']}}]\n"
        f"  - job_name: detector\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{detector_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=open(tmp_path / "prometheus.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    os.environ["AUDIT_METRICS_ADDR"] = "127.0.0.1"
    try:
        start = datetime.now(UTC) - timedelta(hours=3)
        benign = mixed_stream(
            TrafficGenerator(
                TrafficProfile(
                    organizations=10,
                    users_per_organization=10,
                    seed=3,
                    start=start,
                    duration=timedelta(hours=2),
                )
            ),
            4_000,
            malformed_ratio=0.01,
            duplicate_ratio=0.02,
        )
        scenarios = build_many(resolve(["all"]), start, 3)
        consumer = spawn_consumer(
            detecting,
            "--until-idle",
            "20",
            log=tmp_path / "c.log",
            extra_env={"AUDIT_METRICS_PORT": str(consumer_port)},
        )
        detecting.env["AUDIT_DETECTOR_METRICS_PORT"] = str(detector_port)
        # Half an hour of late lane: the second wave below (over an hour old
        # once the watermark has reached the present) is past it.
        detecting.env["AUDIT_DETECTION_LATE_HORIZON_SECONDS"] = "1800"
        detector = spawn_command(detecting, "detect", "--until-idle", "15", log=tmp_path / "d.log")
        # Two waves, so that every counter is scraped before and after it
        # moves. The second wave is hours old by then: stored, but too late
        # for the detector (whose watermark followed the caught-up sources).
        half = len(benign.messages) // 2
        publish(detecting.settings, merge(benign.messages[:half], scenarios))
        wait_until(
            lambda: _answers(prom_port, "sum(audit_detections_total) > 0"),
            120,
            "Prometheus to scrape detections",
            interval=1,
        )
        time.sleep(3)
        publish(detecting.settings, benign.messages[half:])
        wait_until(
            lambda: _answers(prom_port, "sum(audit_late_events_total) > 0"),
            120,
            "Prometheus to scrape late events",
            interval=1,
        )
        time.sleep(3)
        expected = set((ROOT / "dashboards" / "expected_series.txt").read_text().split())
        missing = [
            name
            for name in sorted(expected - NOT_FROM_INGEST_OR_DETECTION)
            if not _query(prom_port, f"count({name})")
        ]
        assert missing == []
        for name in MUST_MOVE:
            assert _query(prom_port, f"sum(increase({name}[5m])) > 0"), name
        rejected = _query(prom_port, "sum by (reason) (audit_events_rejected_total)")
        assert {r["metric"]["reason"] for r in rejected} >= {"json", "timestamp"}  # type: ignore[index]
        lag = _query(prom_port, "count by (group) (audit_consumer_lag)")
        assert [r["metric"]["group"] for r in lag] == [detecting.settings.consumer_group]  # type: ignore[index]
        assert consumer.wait(timeout=180) == 0
        assert detector.wait(timeout=180) == 0
    finally:
        os.environ.pop("AUDIT_METRICS_ADDR", None)
        prometheus.terminate()
        prometheus.wait(timeout=30)
