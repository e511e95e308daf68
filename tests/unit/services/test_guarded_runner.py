"""Scheduled jobs across replicas: one run per minute slot, failures counted,
the lease never blocking the next slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.services.guarded_runner import GuardedRunner
from audit.services.retention_job import RETENTION_JOB
from tests.fakes.clock import FakeClock
from tests.fakes.incidents import FakeLease
from tests.fakes.ingest import FakeMetrics

START = datetime(2026, 11, 26, 0, 30, 5, tzinfo=UTC)


def runners() -> tuple[GuardedRunner, GuardedRunner, FakeClock, FakeLease, FakeMetrics]:
    clock, lease, metrics = FakeClock(START), FakeLease(timedelta(minutes=5)), FakeMetrics()
    return (
        GuardedRunner(lease, "replica-a", metrics, clock),
        GuardedRunner(lease, "replica-b", metrics, clock),
        clock,
        lease,
        metrics,
    )


def test_one_replica_runs_each_slot() -> None:
    a, b, clock, _, metrics = runners()
    ran: list[str] = []
    assert a.run(RETENTION_JOB, lambda now: ran.append("a")) == "success"
    assert b.run(RETENTION_JOB, lambda now: ran.append("b")) == "skipped"
    clock.advance(timedelta(minutes=1))
    assert b.run(RETENTION_JOB, lambda now: ran.append("b")) == "success"  # a released it
    assert ran == ["a", "b"]
    assert metrics.total("audit_scheduler_job_runs_total", outcome="skipped") == 1
    assert ("audit_scheduler_job_last_success_timestamp_seconds", (("task", "retention"),)) in (
        metrics.gauges
    )


def test_a_failed_job_is_counted_and_releases_its_lease() -> None:
    a, b, clock, _, metrics = runners()

    def boom(now: datetime) -> None:
        raise RuntimeError("retention: to_warm:failure")

    assert a.run(RETENTION_JOB, boom) == "failure"
    clock.advance(timedelta(minutes=1))
    assert b.run(RETENTION_JOB, lambda now: None) == "success"
    assert metrics.total("audit_scheduler_job_runs_total", outcome="failure") == 1


def test_an_unreachable_lock_index_is_a_failure_not_a_run() -> None:
    a, _, _, lease, metrics = runners()
    lease.docs.outages.down(1)
    ran: list[datetime] = []
    assert a.run(RETENTION_JOB, ran.append) == "failure"
    assert ran == []
    assert metrics.total("audit_scheduler_job_runs_total", outcome="failure") == 1


def test_a_crashed_holders_lease_expires() -> None:
    a, b, clock, lease, _ = runners()
    # replica-a took the slot and died without releasing.
    assert lease.acquire(RETENTION_JOB, "replica-a", START.replace(second=0), START)
    clock.advance(timedelta(minutes=1))
    assert b.run(RETENTION_JOB, lambda now: None) == "skipped"  # its lease is in force
    clock.advance(timedelta(minutes=5))
    assert b.run(RETENTION_JOB, lambda now: None) == "success"
    assert a.holder == "replica-a"
