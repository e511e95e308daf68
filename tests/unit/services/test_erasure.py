"""Erasing one organization's events early: held documents kept, blocks restored,
reruns resume, outages counted as failures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.domain.retention import (
    RetentionPolicy,
    index_name,
)
from audit.errors import StoreUnavailable
from audit.services.erasure import ERASE_ACTION, ErasureRefused, ErasureService
from audit.services.holds import HoldService
from audit.services.ports.retention import RetentionStepFailed
from audit.services.retention import ACTIONS_METRIC
from tests.fakes.ingest import FakeMetrics
from tests.fakes.retention import FakeHoldStore, FakeRetentionCluster

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
HOT = date(2026, 11, 25)
WARM = date(2026, 11, 10)
COLD = date(2026, 10, 1)


@pytest.fixture(scope="module")
def policy() -> RetentionPolicy:
    return load_retention_policy()


def docs(day: date) -> dict[str, dict[str, Any]]:
    return {
        f"{org}-{user}-{day.isoformat()}": {
            "@timestamp": f"{day.isoformat()}T12:00:00Z",
            "organization": {"id": org},
            "user": {"id": user},
        }
        for org in ("org_a", "org_b")
        for user in ("usr_1", "usr_2")
    }


class World:
    def __init__(self, policy: RetentionPolicy) -> None:
        self.cluster = FakeRetentionCluster(policy)
        self.cluster.add_index(index_name("standard", HOT), docs(HOT), segments=5)
        self.cluster.add_index(
            index_name("standard", WARM), docs(WARM), write_block=True, segments=1
        )
        self.cluster.add_index(
            index_name("standard", COLD),
            docs(COLD),
            write_block=True,
            read_only=True,
            segments=1,
        )
        self.holds = FakeHoldStore()
        self.metrics = FakeMetrics()
        self.service = ErasureService(self.cluster, self.holds, policy, self.metrics)

    def orgs(self, day: date) -> list[str]:
        index = self.cluster.indices[index_name("standard", day)]
        return sorted(d["organization"]["id"] for d in index.docs.values())


def test_erasure_deletes_the_organizations_events_and_restores_each_block(
    policy: RetentionPolicy,
) -> None:
    world = World(policy)
    report = world.service.erase("org_a", "dpo@acme", "end of contract", AT)

    for day in (HOT, WARM, COLD):
        assert world.orgs(day) == ["org_b", "org_b"]
    assert report.to_json()["deleted"] == 6
    warm = world.cluster.indices[index_name("standard", WARM)]
    cold = world.cluster.indices[index_name("standard", COLD)]
    assert (warm.write_block, warm.read_only) == (True, False)
    assert (cold.write_block, cold.read_only) == (True, True)
    # read_only refuses merges: the cold index was merged before it was blocked again.
    cold_steps = [s for i, s in world.cluster.steps if i == index_name("standard", COLD)]
    assert cold_steps == [
        "remove_read_only",
        "remove_write",
        "add_write",
        "force_merge",
        "add_read_only",
    ]
    assert world.metrics.total(ACTIONS_METRIC, action=ERASE_ACTION, outcome="success") == 1


def test_held_documents_are_kept_and_reported(policy: RetentionPolicy) -> None:
    world = World(policy)
    HoldService(world.holds).create(
        organization_ids=["org_a"],
        user_ids=["usr_1"],
        by="legal",
        reason="litigation",
        reference="CASE-1",
        at=AT - timedelta(days=1),
        hold_id="case-1",
    )
    report = world.service.erase("org_a", "dpo@acme", "end of contract", AT).to_json()

    assert report["held_by"] == ["case-1"]
    assert (report["matching"], report["kept_held"], report["deleted"]) == (3, 3, 3)
    kept = world.cluster.indices[index_name("standard", HOT)].docs
    assert sorted(kept) == [
        f"org_a-usr_1-{HOT.isoformat()}",
        f"org_b-usr_1-{HOT.isoformat()}",
        f"org_b-usr_2-{HOT.isoformat()}",
    ]


def test_a_dry_run_counts_without_deleting_or_unblocking(policy: RetentionPolicy) -> None:
    world = World(policy)
    report = world.service.erase("org_a", "dpo@acme", "check", AT, dry_run=True).to_json()
    assert report["matching"] == 6 and report["deleted"] == 0
    assert world.orgs(HOT).count("org_a") == 2
    assert world.cluster.steps == []
    assert world.metrics.total(ACTIONS_METRIC) == 0


def test_an_erasure_needs_who_and_why(policy: RetentionPolicy) -> None:
    world = World(policy)
    with pytest.raises(ErasureRefused):
        world.service.erase("org_a", "dpo@acme", " ", AT)
    assert world.orgs(HOT).count("org_a") == 2


def test_an_outage_is_counted_as_a_failure_and_a_rerun_finishes(policy: RetentionPolicy) -> None:
    world = World(policy)
    world.cluster.outages.down(1, after=4)  # observe, then counts and deletions
    with pytest.raises(StoreUnavailable):
        world.service.erase("org_a", "dpo@acme", "end of contract", AT)
    assert world.metrics.total(ACTIONS_METRIC, action=ERASE_ACTION, outcome="failure") == 1

    report = world.service.erase("org_a", "dpo@acme", "end of contract", AT).to_json()
    assert report["deleted"] == 6
    assert all("org_a" not in world.orgs(day) for day in (HOT, WARM, COLD))


def test_a_refused_delete_fails_the_erasure_and_counts_it(policy: RetentionPolicy) -> None:
    world = World(policy)
    # Someone re-blocked the hot index between the plan and the deletion.
    original = world.cluster.set_block

    def block_again(index: str, block: str, present: bool) -> None:
        original(index, block, present)
        world.cluster.indices[index_name("standard", HOT)].write_block = True

    world.cluster.set_block = block_again  # type: ignore[method-assign]
    with pytest.raises(RetentionStepFailed, match="refused"):
        world.service.erase("org_a", "dpo@acme", "end of contract", AT)
    assert world.metrics.total(ACTIONS_METRIC, action=ERASE_ACTION, outcome="failure") == 1
