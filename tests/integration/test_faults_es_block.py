"""Issue 11 item 15: Elasticsearch refuses writes because the flood-stage watermark put the
indices read-only (simulated with the index block ``read_only_allow_delete`` on this test's
own indices). The consumer backs off as for an outage, loses nothing, and writes resume
when the block is lifted.

The alert that fires for it (AuditElasticsearchBulkRetries, reason ``overloaded``) has its
promtool case in dashboards/prometheus/alerts_test.yaml.
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.replay.traffic import SyntheticMessage

from .conftest import Isolated, spawn_consumer
from .helpers import stored_count, stored_ids, wait_until

pytestmark = pytest.mark.integration
BLOCK = "index.blocks.read_only_allow_delete"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _messages(n: int, at: datetime) -> list[SyntheticMessage]:
    out = []
    for i in range(n):
        event = {
            "@timestamp": (at + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            "event": {
                "id": str(uuid.uuid4()),
                "action": "user.login",
                "outcome": "success",
                "provider": "auth-service",
            },
            "organization": {"id": "org_block"},
            "user": {"id": f"usr_{i}"},
            "source": {"ip": "192.0.2.8"},
        }
        out.append(
            SyntheticMessage("auth", b"org_block", orjson.dumps(event), event["event"]["id"])
        )
    return out


def _retries(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("audit_store_retries_total{") and 'reason="overloaded"' in line
    )


def test_item15_read_only_block_backs_off_and_loses_nothing(
    isolated: Isolated, tmp_path: Path
) -> None:
    settings, es = isolated.settings, isolated.es
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    port = _free_port()
    consumer = spawn_consumer(
        isolated, log=tmp_path / "consume.log", extra_env={"AUDIT_METRICS_PORT": str(port)}
    )
    metrics = f"http://127.0.0.1:{port}/metrics"
    indices: list[str] = []
    try:
        now = datetime.now(UTC)
        first = _messages(30, now)
        publish(settings, first)
        wait_until(lambda: stored_count(es, settings) == 30, 180, "the first batch")
        indices = list(es.indices.get(index=f"{settings.index_prefix}-*"))
        assert indices
        es.indices.put_settings(index=",".join(indices), settings={BLOCK: True})
        retries_before = _retries(metrics)

        second = _messages(40, now + timedelta(seconds=1))
        publish(settings, second)
        wait_until(lambda: _retries(metrics) > retries_before + 1, 120, "retries while blocked")
        time.sleep(5)
        assert stored_count(es, settings) == 30  # refused, held, not dropped
        assert consumer.poll() is None  # backing off, not crashed

        es.indices.put_settings(index=",".join(indices), settings={BLOCK: None})
        wait_until(lambda: stored_count(es, settings) >= 70, 180, "writes to resume")
        ids = stored_ids(es, settings)
        assert sorted(ids) == sorted(m.event_id for m in first + second)  # once each
        assert consumer.poll() is None
    finally:
        if indices:  # never leave a block behind, even on failure
            es.indices.put_settings(index=",".join(indices), settings={BLOCK: None})
        consumer.terminate()
        consumer.wait(timeout=60)
