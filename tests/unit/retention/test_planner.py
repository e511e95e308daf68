from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from audit.domain.retention import (
    ActionKind,
    HoldScope,
    IndexState,
    LegalHold,
    PlannedAction,
    RetentionPolicy,
    StepKind,
    Tier,
    pending,
    plan,
)
from tests.unit.retention.conftest import Cluster


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


HOLD = LegalHold(
    id="case-2026-017",
    scope=HoldScope(
        organization_ids=("org_a",),
        start=datetime(2025, 2, 20, tzinfo=UTC),
        end=datetime(2025, 2, 25, tzinfo=UTC),
    ),
    created_by="legal@elastra.example",
    reason="litigation hold",
    reference="CASE-2026-017",
    created_at=datetime(2026, 1, 10, tzinfo=UTC),
)
RELEASED = HOLD.release("legal@elastra.example", datetime(2026, 9, 1, tzinfo=UTC))


def by_index(actions: list[PlannedAction]) -> dict[str, ActionKind]:
    return {action.index: action.kind for action in actions}


# (plan time, index, expected action) over untouched (all hot) synthetic indices.
TABLE = [
    ("2026-03-01", "audit-events-standard-2026.02.22", ActionKind.NONE),  # age 6
    ("2026-03-01", "audit-events-standard-2026.02.21", ActionKind.TO_WARM),  # age 7
    ("2026-03-01", "audit-events-standard-2026.01.30", ActionKind.TO_WARM),  # age 29
    ("2026-03-01", "audit-events-standard-2026.01.29", ActionKind.TO_COLD),  # age 30
    ("2026-03-01", "audit-events-standard-2025.03.01", ActionKind.TO_COLD),  # age 364
    ("2026-03-01", "audit-events-standard-2025.02.28", ActionKind.DELETE),  # age 365
    ("2026-03-01", "audit-events-standard-2025.02.25", ActionKind.DELETE),  # after hold end
    ("2026-03-01", "audit-events-standard-2025.02.24", ActionKind.COPY_HELD_THEN_DELETE),
    ("2026-03-01", "audit-events-standard-2025.02.20", ActionKind.COPY_HELD_THEN_DELETE),
    ("2026-03-01", "audit-events-standard-2025.02.19", ActionKind.DELETE),
    ("2026-03-01", "audit-events-extended-2025.12.01", ActionKind.TO_WARM),  # age 89
    ("2026-03-01", "audit-events-extended-2025.11.30", ActionKind.TO_COLD),  # age 90
    ("2026-03-01", "audit-events-extended-2025.01.01", ActionKind.TO_COLD),
    ("2026-03-01", "audit-events-extended-2025.02.20", ActionKind.TO_COLD),  # held, not due
    ("2025-01-05", "audit-events-standard-2025.01.01", ActionKind.NONE),  # age 3
    ("2025-01-09", "audit-events-standard-2025.01.01", ActionKind.TO_WARM),  # age 7
    ("2025-01-09", "audit-events-extended-2025.01.02", ActionKind.NONE),  # age 6
    ("2026-01-02", "audit-events-standard-2025.01.01", ActionKind.DELETE),  # age 365
    ("2026-01-02", "audit-events-standard-2025.01.02", ActionKind.TO_COLD),  # age 364
    ("2026-12-31", "audit-events-standard-2025.02.24", ActionKind.DELETE),  # hold released
    ("2026-12-31", "audit-events-extended-2025.02.24", ActionKind.TO_COLD),
    ("2026-12-31", "audit-events-standard-2026.12.30", ActionKind.NONE),  # still open
]


@pytest.mark.parametrize(("when", "index", "expected"), TABLE)
def test_plan_matches_the_table(
    policy: RetentionPolicy, when: str, index: str, expected: ActionKind
) -> None:
    cluster = Cluster.synthetic()
    actions = by_index(plan(cluster.indices(), [RELEASED], policy, at(when)))
    assert actions[index] is expected


def test_plan_totals_at_a_date(policy: RetentionPolicy) -> None:
    cluster = Cluster.synthetic()
    actions = plan(cluster.indices(), [RELEASED], policy, at("2026-03-01"))
    counts = Counter((a.retention_class, a.kind.value) for a in actions)
    # standard: 2025-01-01..2025-02-28 deleted (59 days, 5 of them held),
    # 2025-03-01..2026-01-29 cold (335), 2026-01-30..02-21 warm (23), rest hot.
    assert counts[("standard", "delete")] == 54
    assert counts[("standard", "copy_held_then_delete")] == 5
    assert counts[("standard", "to_cold")] == 335
    assert counts[("standard", "to_warm")] == 23
    assert counts[("standard", "none")] == 730 - 54 - 5 - 335 - 23
    assert counts[("extended", "to_cold")] == 334  # 2025-01-01..2025-11-30
    assert counts[("extended", "to_warm")] == 83  # 2025-12-01..2026-02-21


def test_actions_carry_reason_steps_and_holds(policy: RetentionPolicy) -> None:
    cluster = Cluster.synthetic()
    actions = {a.index: a for a in plan(cluster.indices(), [HOLD], policy, at("2026-03-01"))}
    held = actions["audit-events-standard-2025.02.22"]
    assert held.holds == ("case-2026-017",)
    assert [s.kind for s in held.steps] == [StepKind.COPY_HELD, StepKind.DELETE_INDEX]
    assert held.steps[0].target == "audit-holds-case-2026-017"
    assert "case-2026-017" in held.reason and "365" in held.reason
    cold = actions["audit-events-standard-2025.06.01"]
    assert [s.kind for s in cold.steps] == [
        StepKind.ADD_WRITE_BLOCK,
        StepKind.FORCE_MERGE,
        StepKind.SET_REPLICAS,
        StepKind.SET_TIER_PREFERENCE,
        StepKind.ADD_READ_ONLY,
    ]
    assert cold.steps[2].replicas == 0
    assert cold.steps[3].tier_preference == "data_cold,data_warm,data_hot"
    assert cold.tier is Tier.HOT
    assert actions["audit-events-extended-2025.02.22"].holds == ("case-2026-017",)


@pytest.mark.parametrize("when", ["2025-06-01", "2026-03-01", "2026-09-15", "2026-12-31"])
def test_applying_a_plan_then_planning_again_finds_nothing(
    policy: RetentionPolicy, when: str
) -> None:
    cluster = Cluster.synthetic()
    holds = [HOLD]
    actions = plan(cluster.indices(), holds, policy, at(when))
    cluster.apply(actions, holds, policy)
    again = plan(cluster.indices(), holds, policy, at(when))
    assert pending(again) == []


def test_crash_mid_apply_then_replan_reaches_the_same_end_state(policy: RetentionPolicy) -> None:
    holds = [HOLD]
    when = at("2026-03-01")
    reference = Cluster.synthetic()
    reference.apply(plan(reference.indices(), holds, policy, when), holds, policy)
    total = sum(len(a.steps) for a in plan(Cluster.synthetic().indices(), holds, policy, when))
    for crash_after in (1, 2, 3, 7, 123, total // 2, total - 1):
        cluster = Cluster.synthetic()
        cluster.apply(plan(cluster.indices(), holds, policy, when), holds, policy, crash_after)
        cluster.apply(plan(cluster.indices(), holds, policy, when), holds, policy)
        assert cluster.states == reference.states, crash_after
        assert cluster.docs == reference.docs, crash_after


def test_crash_between_copy_and_delete_loses_nothing(policy: RetentionPolicy) -> None:
    holds = [HOLD]
    when = at("2026-03-01")
    cluster = Cluster.synthetic()
    actions = [
        a
        for a in plan(cluster.indices(), holds, policy, when)
        if a.kind is ActionKind.COPY_HELD_THEN_DELETE
    ]
    first = actions[0]
    by_id = {h.id: h for h in holds}
    cluster.apply_step(first.steps[0], by_id, policy)  # copied, crashed before delete
    again = {a.index: a for a in plan(cluster.indices(), holds, policy, when)}
    assert [s.kind for s in again[first.index].steps] == [StepKind.COPY_HELD, StepKind.DELETE_INDEX]
    assert again["audit-holds-case-2026-017"].blocked_by == ("case-2026-017",)


def test_held_documents_survive_then_expire_after_release(policy: RetentionPolicy) -> None:
    cluster = Cluster.synthetic()
    cluster.apply(plan(cluster.indices(), [HOLD], policy, at("2026-03-01")), [HOLD], policy)
    held = cluster.docs["audit-holds-case-2026-017"]
    assert held == {("org_a", date(2025, 2, d)) for d in range(20, 25)}
    assert "audit-events-standard-2025.02.22" not in cluster.states
    # kept while the hold is active, whatever the age of the copies...
    before = {a.index: a for a in plan(cluster.indices(), [RELEASED], policy, at("2026-08-31"))}
    assert before["audit-holds-case-2026-017"].blocked_by == ("case-2026-017",)
    # ...and once released, they expire as the originals would have (long since)
    after = {a.index: a for a in plan(cluster.indices(), [RELEASED], policy, at("2026-09-01"))}
    assert after["audit-holds-case-2026-017"].kind is ActionKind.DELETE
    assert "ended" in after["audit-holds-case-2026-017"].reason


def test_released_hold_index_is_deleted_when_its_copies_expire(policy: RetentionPolicy) -> None:
    state = IndexState(
        name="audit-holds-case-2026-017", retention_class="standard", day=date(2025, 2, 24)
    )
    actions = plan([state], [RELEASED], policy, at("2026-09-02"))
    assert actions[0].kind is ActionKind.DELETE
    recent = state.model_copy(update={"day": date(2026, 8, 1)})
    kept = plan([recent], [RELEASED], policy, at("2026-09-02"))[0]
    assert kept.kind is ActionKind.NONE and "copies expire from 2027-08-02" in kept.reason
    active = plan([state], [HOLD], policy, at("2026-09-02"))
    assert active[0].kind is ActionKind.NONE and active[0].blocked_by == ("case-2026-017",)


def test_read_only_index_needing_changes_is_unblocked_then_reblocked(
    policy: RetentionPolicy,
) -> None:
    state = IndexState.event_index(
        "audit-events-standard-2025.06.01", read_only=True, write_block=True, replicas=1
    )
    steps = [s.kind for s in plan([state], [], policy, at("2026-03-01"))[0].steps]
    assert steps == [
        StepKind.REMOVE_READ_ONLY,
        StepKind.SET_REPLICAS,
        StepKind.SET_TIER_PREFERENCE,
        StepKind.ADD_READ_ONLY,
    ]


def test_unknown_class_is_never_deleted(policy: RetentionPolicy) -> None:
    state = IndexState.event_index("audit-events-gold-2020.01.01")
    action = plan([state], [], policy, at("2026-03-01"))[0]
    assert action.kind is ActionKind.NONE and "not in the policy" in action.reason
