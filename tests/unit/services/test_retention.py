"""Retention applied to a fake cluster: tiers, deletion, held copies first,
failures contained to their index, reruns reaching the same end state;
and the daily job that runs it once a day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.domain.retention import (
    LegalHold,
    RetentionPolicy,
    StepKind,
    index_name,
)
from audit.errors import StoreUnavailable
from audit.services.holds import HoldService
from audit.services.retention import ACTIONS_METRIC, RetentionService
from audit.services.retention_job import DailyRetentionJob
from tests.fakes.ingest import FakeMetrics
from tests.fakes.retention import FakeHoldStore, FakeRetentionCluster

AT = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
TODAY = AT.date()
OLD = TODAY - timedelta(days=400)  # past the standard class's 365 days
COLD = TODAY - timedelta(days=40)  # past 30 days: cold
WARM = TODAY - timedelta(days=10)  # past 7 days: warm
FRESH = TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def policy() -> RetentionPolicy:
    return load_retention_policy()


def docs(day: date, *orgs: str) -> dict[str, dict[str, Any]]:
    return {
        f"{org}-{day.isoformat()}-{n}": {
            "@timestamp": f"{day.isoformat()}T12:00:00Z",
            "organization": {"id": org},
            "user": {"id": f"usr_{n}"},
            "event": {"id": f"{org}-{day.isoformat()}-{n}", "action": "user.login"},
        }
        for org in orgs
        for n in (1, 2)
    }


def cluster_with_days(policy: RetentionPolicy) -> FakeRetentionCluster:
    cluster = FakeRetentionCluster(policy)
    for day in (OLD, COLD, WARM, FRESH):
        cluster.add_index(index_name("standard", day), docs(day, "org_a", "org_b"), segments=9)
    return cluster


def service(cluster: FakeRetentionCluster, holds: FakeHoldStore, policy: RetentionPolicy):
    metrics = FakeMetrics()
    return RetentionService(cluster, holds, policy, metrics), metrics


def test_apply_moves_each_index_to_its_tier_and_deletes_the_expired(
    policy: RetentionPolicy,
) -> None:
    cluster = cluster_with_days(policy)
    retention, metrics = service(cluster, FakeHoldStore(), policy)

    report = retention.apply(AT)

    assert report.ok, report.to_json()
    assert index_name("standard", OLD) not in cluster.indices
    warm = cluster.indices[index_name("standard", WARM)]
    assert (warm.write_block, warm.read_only, warm.segments, warm.replicas) == (True, False, 1, 0)
    cold = cluster.indices[index_name("standard", COLD)]
    assert cold.read_only and cold.tier_preference == policy.settings.cold_tier_preference
    assert cold.segments == 1
    fresh = cluster.indices[index_name("standard", FRESH)]
    assert not fresh.write_block and fresh.segments == 9
    assert metrics.total(ACTIONS_METRIC, outcome="success") == report.planned == 3
    # Idempotent: a second run finds nothing to do.
    assert retention.apply(AT).planned == 0


def test_held_documents_are_copied_and_verified_before_their_index_is_deleted(
    policy: RetentionPolicy,
) -> None:
    cluster = cluster_with_days(policy)
    holds = FakeHoldStore()
    HoldService(holds).create(
        organization_ids=["org_a"],
        user_ids=["usr_1"],
        by="legal",
        reason="litigation",
        reference="CASE-9",
        at=AT - timedelta(days=500),
        hold_id="case-9",
    )
    retention, _ = service(cluster, holds, policy)

    report = retention.apply(AT)

    assert report.ok, report.to_json()
    assert index_name("standard", OLD) not in cluster.indices
    copies = cluster.indices["audit-holds-case-9"]
    assert sorted(copies.docs) == [f"org_a-{OLD.isoformat()}-1"]
    assert copies.meta == {"class": "standard", "newest_day": OLD.isoformat()}
    (deleted,) = [r for r in report.results if r.action == "copy_held_then_delete"]
    assert deleted.copies[0]["verified"] == deleted.copies[0]["selected"] == 1


def test_a_copy_that_does_not_verify_keeps_the_source_and_is_reported_refused(
    policy: RetentionPolicy,
) -> None:
    cluster = cluster_with_days(policy)
    holds = FakeHoldStore()
    HoldService(holds).create(
        organization_ids=["org_b"],
        by="legal",
        reason="litigation",
        reference="CASE-2",
        at=AT - timedelta(days=500),
        hold_id="case-2",
    )
    cluster.add_index("audit-holds-case-2", write_block=True)  # copies cannot land
    retention, metrics = service(cluster, holds, policy)

    report = retention.apply(AT)

    (copy,) = [r for r in report.results if r.action == "copy_held_then_delete"]
    assert copy.outcome == "refused"
    assert "not deleting" in (copy.error or "")
    assert len(cluster.indices[index_name("standard", OLD)].docs) == 4
    assert not report.ok
    assert metrics.total(ACTIONS_METRIC, outcome="refused") == 1


def test_a_refused_step_stops_its_index_only(policy: RetentionPolicy) -> None:
    cluster = cluster_with_days(policy)
    warm_index = index_name("standard", WARM)
    cluster.refuse(warm_index, StepKind.FORCE_MERGE, "disk usage exceeded flood-stage watermark")
    retention, metrics = service(cluster, FakeHoldStore(), policy)

    report = retention.apply(AT)

    (warm,) = [r for r in report.results if r.index == warm_index]
    assert warm.outcome == "failure"
    assert "flood-stage" in (warm.error or "")
    assert StepKind.FORCE_MERGE.value not in warm.steps_done
    assert StepKind.SET_REPLICAS.value not in warm.steps_done  # the rest of that index skipped
    assert cluster.indices[warm_index].replicas == 1
    assert index_name("standard", OLD) not in cluster.indices  # the others went on
    assert metrics.total(ACTIONS_METRIC, outcome="failure") == 1


def test_an_outage_stops_the_run_and_a_rerun_reaches_the_same_end_state(
    policy: RetentionPolicy,
) -> None:
    reference = cluster_with_days(policy)
    service(reference, FakeHoldStore(), policy)[0].apply(AT)

    cluster = cluster_with_days(policy)
    retention, _ = service(cluster, FakeHoldStore(), policy)
    done: list[str] = []

    def crash_after_three(action: Any, step: Any) -> None:
        done.append(step.kind.value)
        if len(done) == 3:
            cluster.outages.down(1)

    with pytest.raises(StoreUnavailable):
        retention.apply(AT, after_step=crash_after_three)
    assert len(done) == 3

    assert retention.apply(AT).ok
    assert cluster.observe() == reference.observe()


def test_the_daily_job_runs_once_a_day_and_retries_after_a_failure(
    policy: RetentionPolicy,
) -> None:
    cluster = cluster_with_days(policy)
    retention, _ = service(cluster, FakeHoldStore(), policy)
    job = DailyRetentionJob(retention, minute_of_day=30, retry_after=timedelta(minutes=15))
    morning = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)

    assert not job.due(morning + timedelta(minutes=29))
    assert job.due(morning + timedelta(minutes=30))
    cluster.outages.down(1)
    with pytest.raises(StoreUnavailable):
        job.run(morning + timedelta(minutes=30))
    assert not job.due(morning + timedelta(minutes=44))
    assert job.due(morning + timedelta(minutes=45))

    report = job.run(morning + timedelta(minutes=45))
    assert report.ok and job.last_report is report
    assert not job.due(morning + timedelta(hours=23))
    assert job.due(morning + timedelta(days=1, minutes=30))


def test_the_daily_job_counts_a_run_with_failed_actions_as_failed(
    policy: RetentionPolicy,
) -> None:
    cluster = cluster_with_days(policy)
    cluster.refuse(index_name("standard", WARM), StepKind.ADD_WRITE_BLOCK)
    retention, _ = service(cluster, FakeHoldStore(), policy)
    job = DailyRetentionJob(retention, minute_of_day=0)
    with pytest.raises(RuntimeError, match="to_warm:failure"):
        job.run(AT)
    assert job.due(AT + timedelta(minutes=15))


def test_holds_released_let_their_copies_expire_like_the_originals(
    policy: RetentionPolicy,
) -> None:
    cluster = FakeRetentionCluster(policy)
    cluster.add_index(
        "audit-holds-case-1",
        docs(OLD, "org_a"),
        meta={"class": "standard", "newest_day": OLD.isoformat()},
    )
    holds = FakeHoldStore()
    hold = LegalHold.model_validate(
        {
            "id": "case-1",
            "scope": {"organization_ids": ["org_a"]},
            "created_by": "legal",
            "reason": "r",
            "reference": "C",
            "created_at": (AT - timedelta(days=500)).isoformat(),
        }
    )
    holds.create(hold)
    retention, _ = service(cluster, holds, policy)
    assert retention.apply(AT).planned == 0  # held: kept
    HoldService(holds).release("case-1", "legal", "closed", AT)
    assert retention.apply(AT + timedelta(minutes=1)).ok
    assert "audit-holds-case-1" not in cluster.indices
