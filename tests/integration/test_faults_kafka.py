"""Issue 11 item 14: the Kafka broker stopped for 30 s while the consumer, the detector and
the API run (each as its own ``audit`` process, as production runs them).

The shared test broker is never touched: the test starts a PRIVATE broker of
its own (``LocalStack.start_kafka`` over a layout of its own under a temp
folder, on free ports) and stops and restarts only that one, by its pid.
Elasticsearch is the shared node (unique indices, deleted afterwards).

Expected: no event lost, none stored twice; the consumer and the detector
resume by themselves (the detector evaluates the events published after the
outage); the API answers 503 problem documents while the broker is away (not
500, not a hang) and 200 again after; each process's /readyz says so.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.replay.traffic import SyntheticMessage
from audit.settings import Settings, load_settings
from audit.stack.layout import StackLayout
from audit.stack.manager import LocalStack
from tests.es_cleanup import drop_prefixed

from .conftest import RunningStack
from .helpers import stored_count, stored_ids, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(name="private_kafka")
def private_kafka_fixture(tmp_path: Path) -> Iterator[LocalStack]:
    """A broker of this test only: its own folder, its own ports, stopped by its own pid."""
    port = free_port()
    controller = free_port()
    layout = StackLayout(
        root=tmp_path / "private-stack",
        kafka_port=port,
        kafka_controller_port=controller,
        es_port=free_port(),  # no node is started here
        es_transport_port=free_port(),
        kafka_heap="256m",
    )
    assert layout.kafka_libs.exists(), "run scripts/setup (it fetches Kafka into .cache/stack)"
    local = LocalStack(layout)
    local.start_kafka(timeout=240)
    try:
        yield local
    finally:
        local.stop_kafka()


@dataclass
class Pipeline:
    settings: Settings
    env: dict[str, str]
    es: Elasticsearch
    api: str
    api_key: str
    consumer_probe: str
    detector_probe: str


@pytest.fixture(name="pipeline")
def pipeline_fixture(
    stack: RunningStack, private_kafka: LocalStack, tmp_path: Path
) -> Iterator[Pipeline]:
    tag = uuid.uuid4().hex[:10]
    api_key = "svc_" + uuid.uuid4().hex
    keys = tmp_path / "api-keys"
    keys.write_text(f"sha256:{hashlib.sha256(api_key.encode()).hexdigest()} svc auditor *\n")
    ports = {name: free_port() for name in ("api", "consumer", "detector")}
    env = {
        "PYTHONPATH": str(ROOT),
        "AUDIT_KAFKA_BOOTSTRAP": private_kafka.layout.kafka_bootstrap,
        "AUDIT_ES_URL": stack.es_url,
        "AUDIT_TOPIC_AUTH": f"t{tag}.audit.auth",
        "AUDIT_TOPIC_SECURITY": f"t{tag}.audit.security",
        "AUDIT_TOPIC_DLQ": f"t{tag}.audit.dlq",
        "AUDIT_TOPIC_ROUTED": f"t{tag}.detect.routed",
        "AUDIT_TOPIC_CHANGELOG": f"t{tag}.detect.changelog",
        "AUDIT_TOPIC_PARTITIONS": "3",
        "AUDIT_CONSUMER_GROUP": f"t{tag}-ingest",
        "AUDIT_DETECTOR_GROUP": f"t{tag}-detect",
        "AUDIT_INDEX_PREFIX": f"t{tag}-events",
        "AUDIT_DETECTION_INDEX": f"t{tag}-detections",
        "AUDIT_INCIDENT_INDEX": f"t{tag}-incidents",
        "AUDIT_NOTIFICATION_INDEX": f"t{tag}-notifications",
        "AUDIT_LOCK_INDEX": f"t{tag}-locks",
        "AUDIT_DETECTION_LATENESS_SECONDS": "10",
        "AUDIT_METRICS_PORT": str(ports["consumer"]),
        "AUDIT_DETECTOR_METRICS_PORT": str(ports["detector"]),
        "AUDIT_RETRY_MAX_SECONDS": "2",
        "AUDIT_API_KEYS_FILE": str(keys),
        "AUDIT_API_AUDIT_TIMEOUT_SECONDS": "5",
        "AUDIT_API_EXPORT_DIR": str(tmp_path / "exports"),
    }
    settings = load_settings(
        **{k.removeprefix("AUDIT_").lower(): v for k, v in env.items() if k != "PYTHONPATH"}
    )
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    ensure_detection_topics(settings)
    es = Elasticsearch(stack.es_url, request_timeout=30)
    full_env = {**os.environ, **env}
    full_env.pop("AUDIT_ENVIRONMENT", None)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, args in (
            ("consume", ["consume"]),
            ("detect", ["detect"]),
            ("serve", ["serve", "--port", str(ports["api"])]),
        ):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "audit.cli.main", *args],
                    env=full_env,
                    cwd=ROOT,
                    stdout=open(tmp_path / f"{name}.log", "ab"),  # noqa: SIM115
                    stderr=subprocess.STDOUT,
                )
            )
        yield Pipeline(
            settings,
            env,
            es,
            f"http://127.0.0.1:{ports['api']}",
            api_key,
            f"http://127.0.0.1:{ports['consumer']}/readyz",
            f"http://127.0.0.1:{ports['detector']}/readyz",
        )
        for proc in procs:  # they survived the outage: still running
            assert proc.poll() is None, (proc.args, proc.returncode)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drop_prefixed(es, f"t{tag}")
        es.close()


def _event(org: str, user: str, ip: str, at: datetime, outcome: str) -> SyntheticMessage:
    event: dict[str, Any] = {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": str(uuid.uuid4()),
            "action": "user.login",
            "outcome": outcome,
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": user},
        "source": {"ip": ip},
    }
    if outcome == "failure":
        event["event"]["reason"] = "bad_password"
    return SyntheticMessage("auth", org.encode(), orjson.dumps(event), event["event"]["id"])


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        response = httpx.get(url, headers=headers, timeout=30)
    except httpx.HTTPError as err:
        return -1, str(err)
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def _evaluated(p: Pipeline) -> float:
    """Routed events the detector has evaluated (its own counter)."""
    try:
        text = httpx.get(p.detector_probe.replace("/readyz", "/metrics"), timeout=10).text
    except httpx.HTTPError:
        return -1.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("audit_detector_events_total")
    )


def test_item14_broker_stopped_30s_nothing_lost_everything_resumes(
    pipeline: Pipeline, private_kafka: LocalStack
) -> None:
    p = pipeline
    key = {"Authorization": f"Bearer {p.api_key}"}
    for probe in (p.consumer_probe, p.detector_probe, f"{p.api}/readyz"):
        wait_until(lambda probe=probe: _status(probe)[0] == 200, 180, f"{probe} ready")
    org, user, ip = "org_fault", "usr_target", "198.51.100.44"
    before_at = datetime.now(UTC) - timedelta(seconds=70)
    before = [_event(org, user, ip, before_at + timedelta(seconds=i), "failure") for i in range(6)]
    before += [
        _event("org_quiet", f"usr_{i}", "192.0.2.1", before_at, "success") for i in range(20)
    ]
    publish(p.settings, before)
    wait_until(lambda: stored_count(p.es, p.settings) == len(before), 180, "the first batch")
    wait_until(lambda: _evaluated(p) >= len(before), 180, "the detector to evaluate them")
    evaluated_before = _evaluated(p)
    assert _status(f"{p.api}/v1/events?limit=1", key)[0] == 200

    private_kafka.stop_kafka()  # this test's own broker, by its pid file
    down_at = time.monotonic()
    wait_until(lambda: _status(f"{p.api}/readyz")[0] == 503, 60, "the API to say not ready")
    status, body = _status(f"{p.api}/readyz")
    assert body["kafka"] is False and body["elasticsearch"] is True
    # The consumer and the detector say they are not ready while it is away.
    for probe in (p.consumer_probe, p.detector_probe):
        wait_until(lambda probe=probe: _status(probe)[0] == 503, 60, f"{probe} not ready")
    # A read must be audited: without the broker it is withheld, as a problem document.
    status, body = _status(f"{p.api}/v1/events?limit=1", key)
    assert status == 503, body
    assert body["type"].startswith("urn:elastra-audit:problem:")
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))

    private_kafka.start_kafka(timeout=240)
    after_at = datetime.now(UTC)
    after = [
        _event(org, user, ip, after_at + timedelta(milliseconds=100 * i), "failure")
        for i in range(8)
    ]
    after += [_event("org_quiet", f"usr_{i}", "192.0.2.1", after_at, "success") for i in range(20)]
    publish(p.settings, after)
    published = {m.event_id for m in before + after}

    def all_stored() -> bool:  # the API's own audit events are ingested too: ignore them
        return stored_count(p.es, p.settings) > 0 and published <= set(stored_ids(p.es, p.settings))

    wait_until(all_stored, 240, "every event stored")
    ids = stored_ids(p.es, p.settings)
    assert [i for i, n in Counter(ids).items() if n > 1] == []  # none twice
    assert published <= set(ids)  # none lost
    # The detector resumed on its own: it evaluates what was routed after the outage.
    wait_until(
        lambda: _evaluated(p) >= evaluated_before + len(after),
        240,
        "the detector to evaluate the events published after the outage",
    )
    # The API recovered with the broker.
    wait_until(
        lambda: _status(f"{p.api}/v1/events?limit=1", key)[0] == 200, 120, "the API to answer"
    )
    for probe in (p.consumer_probe, p.detector_probe, f"{p.api}/readyz"):
        wait_until(lambda probe=probe: _status(probe)[0] == 200, 60, f"{probe} ready again")


def test_the_detectors_source_waits_out_a_broker_that_went_away(
    private_kafka: LocalStack,
) -> None:
    """Polls during an outage come back empty after their timeout (no busy
    loop), and the source reads again once the broker is back. A CI run saw
    kafka-python 3 raise a failed metadata refresh out of ``poll`` as the
    broker went away, and the detector died of it; that raise depends on
    timing and this test does not force it (two runs without the fix passed)."""
    from audit.adapters.kafka.detection_feed import KafkaDetectionFeed
    from audit.adapters.kafka.routed_source import KafkaRoutedSource

    tag = uuid.uuid4().hex[:10]
    settings = load_settings(
        kafka_bootstrap=private_kafka.layout.kafka_bootstrap,
        topic_routed=f"t{tag}.detect.routed",
        topic_changelog=f"t{tag}.detect.changelog",
        detector_group=f"t{tag}-detect",
        topic_partitions=3,
    )
    ensure_detection_topics(settings)
    source = KafkaRoutedSource(settings)
    try:
        wait_until(
            lambda: source.poll(500) == [] and bool(source.take_assignment_changes().assigned),
            120,
            "the partitions to be assigned",
        )
        private_kafka.stop_kafka()
        polls, began = 0, time.monotonic()
        while time.monotonic() - began < 15:
            assert source.poll(500) == []  # an outage to wait out, not an error
            polls += 1
        assert polls <= 32, f"{polls} polls in 15 s: the timeout is not waited out"

        private_kafka.start_kafka(timeout=240)
        feed = KafkaDetectionFeed(settings)
        try:
            feed.publish_progress({"t.audit.auth:0": 123})
            feed.flush()
        finally:
            feed.close()
        read: list[Any] = []
        wait_until(
            lambda: bool(read.extend(m for m in source.poll(500) if m.sources) or read),
            120,
            "the marker published after the outage",
        )
        assert read[0].sources == {"t.audit.auth:0": 123}
    finally:
        source.close()
