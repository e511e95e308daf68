"""The scheduler's single-run guard on the real node: one run per minute slot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from audit.adapters.elasticsearch.lease_store import ElasticsearchLease
from audit.adapters.metrics import PrometheusMetrics
from audit.services.guarded_runner import GuardedRunner

from .conftest import ROOT
from .incident_support import IncidentEnv, incident_env_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def lease(env: IncidentEnv, ttl: float = 120.0) -> ElasticsearchLease:
    wiring = env.wiring()
    lease = ElasticsearchLease(wiring.client, env.overrides["lock_index"], timedelta(seconds=ttl))
    lease.ensure_index()
    return lease


def test_two_schedulers_at_once_run_each_minute_slot_once(incident_env: IncidentEnv) -> None:
    clock = Clock(START)
    metrics = [PrometheusMetrics(), PrometheusMetrics()]
    runners = [
        GuardedRunner(lease(incident_env), f"replica-{n}", metrics[n], clock) for n in (0, 1)
    ]
    runs: list[tuple[str, datetime]] = []
    lock = threading.Lock()

    def work_of(holder: str):  # type: ignore[no-untyped-def]
        def work(now: datetime) -> None:
            with lock:
                runs.append((holder, now))
            time.sleep(0.05)

        return work

    slots = 8
    for slot in range(slots):
        clock.now = START + timedelta(minutes=slot, seconds=slot % 3)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def fire(runner: GuardedRunner, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            outcomes.append(runner.run("deadlines", work_of(runner.holder)))

        threads = [threading.Thread(target=fire, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["skipped", "success"], slot
        # Later in the same minute, after the winner released: still nobody runs it again.
        clock.now = clock.now + timedelta(seconds=30)
        assert [r.run("deadlines", work_of(r.holder)) for r in runners] == ["skipped"] * 2

    per_slot: dict[datetime, int] = {}
    for _, now in runs:
        minute = now.replace(second=0)
        per_slot[minute] = per_slot.get(minute, 0) + 1
    assert per_slot == {START + timedelta(minutes=m): 1 for m in range(slots)}
    total = sum(
        m.registry.get_sample_value(
            "audit_scheduler_job_runs_total", {"task": "deadlines", "outcome": "success"}
        )
        or 0
        for m in metrics
    )
    assert total == slots
    winners = [
        m
        for m in metrics
        if m.registry.get_sample_value(
            "audit_scheduler_job_last_success_timestamp_seconds", {"task": "deadlines"}
        )
    ]
    assert winners


def test_unexpired_lease_of_a_crashed_holder_blocks_until_expiry(
    incident_env: IncidentEnv,
) -> None:
    first, second = lease(incident_env, ttl=90), lease(incident_env, ttl=90)
    assert first.acquire("deadlines", "crashed", START, START)  # never released
    next_slot = START + timedelta(minutes=1)
    assert not second.acquire("deadlines", "other", next_slot, next_slot)
    later = START + timedelta(minutes=2)
    assert second.acquire("deadlines", "other", later, later)
    assert not first.acquire("deadlines", "crashed", later, later)


def test_two_scheduler_processes_started_at_once(incident_env: IncidentEnv) -> None:
    while datetime.now(UTC).second > 45:  # keep both runs inside one minute
        time.sleep(1)
    env = {**os.environ, **incident_env.env()}
    start = time.time() + 4.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.incident_support",
                "scheduler-once",
                "--start",
                str(start),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    results = [json.loads(out.splitlines()[-1]) for out in outputs]
    assert sorted(r["outcome"] for r in results) == ["skipped", "success"]
    (winner,) = [r for r in results if r["outcome"] == "success"]
    assert winner["summary"]["incidents"] == 0
