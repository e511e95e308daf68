"""Deleting a read-only index: the node refuses it under the block, so the plan lifts it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from audit.domain.retention import (
    ActionKind,
    HoldScope,
    IndexState,
    LegalHold,
    RetentionPolicy,
    StepKind,
    plan,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_read_only_index_due_for_deletion_is_unblocked_first(policy: RetentionPolicy) -> None:
    state = IndexState.event_index(
        "audit-events-standard-2025.01.10", read_only=True, write_block=True
    )
    action = plan([state], [], policy, AT)[0]
    assert action.kind is ActionKind.DELETE
    assert [s.kind for s in action.steps] == [StepKind.REMOVE_READ_ONLY, StepKind.DELETE_INDEX]


def test_held_read_only_index_is_copied_while_still_blocked(policy: RetentionPolicy) -> None:
    hold = LegalHold(
        id="case-1",
        scope=HoldScope(organization_ids=("org_a",)),
        created_by="legal",
        reason="r",
        reference="REF",
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    state = IndexState.event_index("audit-events-standard-2025.01.10", read_only=True)
    action = plan([state], [hold], policy, AT)[0]
    assert [s.kind for s in action.steps] == [
        StepKind.COPY_HELD,
        StepKind.REMOVE_READ_ONLY,
        StepKind.DELETE_INDEX,
    ]


def test_read_only_hold_index_is_unblocked_before_it_expires(policy: RetentionPolicy) -> None:
    state = IndexState(
        name="audit-holds-case-1", retention_class="standard", day=date(2024, 1, 1), read_only=True
    )
    action = plan([state], [], policy, AT)[0]
    assert action.kind is ActionKind.NONE  # no record of the hold: kept
    released = LegalHold(
        id="case-1",
        scope=HoldScope(organization_ids=("org_a",)),
        created_by="legal",
        reason="r",
        reference="REF",
        created_at=datetime(2024, 6, 1, tzinfo=UTC),
        released_at=datetime(2025, 1, 1, tzinfo=UTC),
        released_by="legal",
    )
    action = plan([state], [released], policy, AT)[0]
    assert [s.kind for s in action.steps] == [StepKind.REMOVE_READ_ONLY, StepKind.DELETE_INDEX]
