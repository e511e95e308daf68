"""The real Kafka broker and Elasticsearch node, started once per test run.

The suite runs its own stack (other ports, its own folder) so it never
touches a developer's demo stack. If a stack already answers on those ports
(e.g. started by .ci/run or a previous session), it is reused and left
running; otherwise it is started here and stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.settings import Settings, load_settings
from audit.stack.layout import StackLayout
from audit.stack.manager import LocalStack
from tests.es_cleanup import drop_prefixed

ROOT = Path(__file__).resolve().parents[2]
TEST_KAFKA_PORT = int(os.environ.get("AUDIT_TEST_KAFKA_PORT", "29092"))
TEST_ES_PORT = int(os.environ.get("AUDIT_TEST_ES_PORT", "29200"))


@dataclass
class RunningStack:
    stack: LocalStack
    layout: StackLayout

    @property
    def kafka_bootstrap(self) -> str:
        return self.layout.kafka_bootstrap

    @property
    def es_url(self) -> str:
        return self.layout.es_url


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    os.environ.setdefault("AUDIT_STACK_DIR", str(ROOT / ".stack-test"))
    os.environ["AUDIT_STACK_KAFKA_PORT"] = str(TEST_KAFKA_PORT)
    os.environ["AUDIT_STACK_ES_PORT"] = str(TEST_ES_PORT)
    layout = StackLayout.from_env()
    local = LocalStack(layout)
    already_up = all(s.healthy for s in local.status())
    if not already_up:
        local.up(timeout=240)
    yield RunningStack(local, layout)
    if not already_up and not os.environ.get("AUDIT_TEST_KEEP_STACK"):
        local.down()


@dataclass
class Isolated:
    """Names unique to one test: topics, consumer group, index prefix."""

    settings: Settings
    env: dict[str, str]
    es: Elasticsearch


@pytest.fixture
def isolated(stack: RunningStack) -> Iterator[Isolated]:
    tag = uuid.uuid4().hex[:10]
    env = {
        "AUDIT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "AUDIT_ES_URL": stack.es_url,
        "AUDIT_TOPIC_AUTH": f"t{tag}.audit.auth",
        "AUDIT_TOPIC_SECURITY": f"t{tag}.audit.security",
        "AUDIT_TOPIC_DLQ": f"t{tag}.audit.dlq",
        "AUDIT_TOPIC_PARTITIONS": "3",
        "AUDIT_CONSUMER_GROUP": f"t{tag}-ingest",
        "AUDIT_INDEX_PREFIX": f"t{tag}-events",
        "AUDIT_METRICS_PORT": "0",
        "AUDIT_RETRY_MAX_SECONDS": "2",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = load_settings()
    es = Elasticsearch(stack.es_url, request_timeout=30)
    try:
        yield Isolated(settings, env, es)
    finally:
        drop_prefixed(es, f"t{tag}")
        es.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def spawn_consumer(
    isolated: Isolated, *args: str, log: Path | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The ingest consumer in its own process, as production runs it."""
    env = {**os.environ, **isolated.env, **(extra_env or {})}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "audit.cli.main", "consume", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def spawn_command(
    isolated: Isolated, command: str, *args: str, log: Path
) -> subprocess.Popen[bytes]:
    """Any ``audit`` command in its own process, with the isolated names."""
    env = {**os.environ, **isolated.env}
    return subprocess.Popen(
        [sys.executable, "-m", "audit.cli.main", command, *args],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


@pytest.fixture
def detecting(isolated: Isolated) -> Isolated:
    """The isolated names plus the detection topics, group and index."""
    tag = isolated.settings.consumer_group.removesuffix("-ingest")
    extra = {
        "AUDIT_TOPIC_ROUTED": f"{tag}.detect.routed",
        "AUDIT_TOPIC_CHANGELOG": f"{tag}.detect.changelog",
        "AUDIT_DETECTOR_GROUP": f"{tag}-detect",
        "AUDIT_DETECTION_INDEX": f"{tag}-detections",
        "AUDIT_INCIDENT_INDEX": f"{tag}-incidents",
        "AUDIT_NOTIFICATION_INDEX": f"{tag}-notifications",
        "AUDIT_DETECTOR_METRICS_PORT": "0",
        "AUDIT_DETECTION_LATENESS_SECONDS": "10",
    }
    os.environ.update(extra)
    isolated.env.update(extra)
    from audit.settings import load_settings

    isolated.settings = load_settings()
    s = isolated.settings
    ensure_topics(s, {s.topic_auth: None, s.topic_security: None, s.topic_dlq: None})
    ensure_detection_topics(s)
    yield isolated
    for key in extra:
        os.environ.pop(key, None)
    names = list(isolated.es.indices.get(index=f"{tag}-*", allow_no_indices=True))
    if names:
        isolated.es.indices.delete(index=",".join(names))
