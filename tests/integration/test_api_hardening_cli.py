"""Issue 11 item 19: every command honours the settings; each hint the demo prints works.

The demo runs as a process against the shared stack (its own topics and
indices, named by its seed, deleted afterwards); each "explore it" line is
then run as printed (the environment assignment, then the ``audit`` command).
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient

from tests.es_cleanup import drop_prefixed

from .conftest import RunningStack

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def audit(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(name="demo_env")
def demo_env_fixture(stack: RunningStack) -> Iterator[tuple[dict[str, str], int]]:
    seed = random.randrange(10**8, 10**9)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUDIT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "AUDIT_ES_URL": stack.es_url,
        "AUDIT_METRICS_PORT": "0",
    }
    for name in ("AUDIT_INDEX_PREFIX", "AUDIT_DETECTION_INDEX", "AUDIT_INCIDENT_INDEX"):
        env.pop(name, None)
    yield env, seed
    tag = f"demo{seed}"
    es = Elasticsearch(stack.es_url, request_timeout=30)
    try:
        drop_prefixed(es, tag)
    finally:
        es.close()
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        mine = [t for t in admin.list_topics() if t.startswith(f"{tag}.")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def hints(output: str) -> list[tuple[dict[str, str], list[str]]]:
    """The demo's "explore it" commands: (environment assignments, audit arguments)."""
    found = []
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("explore it:"))
    for line in lines[start : start + 3]:
        words = shlex.split(line.removeprefix("explore it:"))
        assignments = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        command = [w for w in words if w not in {f"{k}={v}" for k, v in assignments.items()}]
        assert command[0] == "audit", line
        found.append((assignments, command[1:]))
    return found


def test_item19_each_hint_the_demo_prints_finds_the_demo_data(
    demo_env: tuple[dict[str, str], int],
) -> None:
    env, seed = demo_env
    demo = audit(["demo", "--events", "300", "--seed", str(seed)], env, timeout=600)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    commands = hints(demo.stdout)
    assert len(commands) == 3
    for assignments, args in commands:
        ran = audit(args, {**env, **assignments}, timeout=120)
        assert ran.returncode == 0, (args, ran.stderr[-2000:])
        rows = [json.loads(line) for line in ran.stdout.splitlines() if line.strip()]
        if args[:2] == ["events", "search"]:
            assert len(rows) == 5 and summary["stored"] >= 5, ran.stdout[:500]
            assert all(r["event"]["id"] for r in rows)
        else:  # the demo's attacks were detected and opened incidents: they are listed
            assert rows and all(r["id"] for r in rows), (args, ran.stdout[:500])
