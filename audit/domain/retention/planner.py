"""The retention plan: for every index, what to do now, why, and in which steps.

``plan(indices, holds, policy, at)`` is pure and deterministic. Properties:

* idempotent: the state reached by applying a plan plans to nothing
  (every action ``none``);
* resumable: steps only bring a setting to its target, so each is
  idempotent; they are ordered so that a crash between any two leaves a
  state whose new plan contains exactly the remaining work. Held documents
  are copied (same ``_id``, so a repeat overwrites) and counted before the
  index is deleted; a crash before the delete copies again and deletes.

Steps, in the order they are applied within an action:

* ``remove_read_only`` (only when a setting must change on a read-only
  index: the block refuses force-merge and settings updates), later
  followed by ``add_read_only``;
* ``add_write_block``, ``force_merge`` (to ``segments``),
  ``set_replicas``, ``set_tier_preference``, ``add_read_only``;
* ``copy_held`` (source index, hold ``query``, ``target`` hold index; the
  executor copies with point-in-time + search_after + bulk and then checks
  that every source ``_id`` the query selects is in the target), then
  ``remove_read_only`` if the index is read-only (Elasticsearch 8.19 refuses
  to delete an index with a ``read_only`` block: verified on the node), then
  ``delete_index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from audit.domain.retention.holds import LegalHold, hold_query
from audit.domain.retention.indices import hold_index_name
from audit.domain.retention.policy import RetentionClass, RetentionPolicy
from audit.domain.retention.state import IndexState, Tier


class ActionKind(StrEnum):
    NONE = "none"
    TO_WARM = "to_warm"
    TO_COLD = "to_cold"
    COPY_HELD_THEN_DELETE = "copy_held_then_delete"
    DELETE = "delete"


class StepKind(StrEnum):
    REMOVE_READ_ONLY = "remove_read_only"
    ADD_WRITE_BLOCK = "add_write_block"
    FORCE_MERGE = "force_merge"
    SET_REPLICAS = "set_replicas"
    SET_TIER_PREFERENCE = "set_tier_preference"
    ADD_READ_ONLY = "add_read_only"
    COPY_HELD = "copy_held"
    DELETE_INDEX = "delete_index"


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StepKind
    index: str
    segments: int | None = None
    replicas: int | None = None
    tier_preference: str | None = None
    hold_id: str | None = None
    target: str | None = None
    query: dict[str, Any] | None = None


class PlannedAction(BaseModel):
    """One index's line of the plan (``audit retention plan --json`` prints these).

    ``holds``: active holds whose documents the index may contain (copied
    before a delete); ``blocked_by``: holds that keep the index from being
    deleted (a hold index of an active hold).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: str
    retention_class: str
    day: date
    age_days: int
    tier: Tier
    kind: ActionKind
    reason: str
    steps: tuple[Step, ...] = ()
    holds: tuple[str, ...] = ()
    blocked_by: tuple[str, ...] = ()


def pending(actions: Sequence[PlannedAction]) -> list[PlannedAction]:
    """The actions that change something."""
    return [action for action in actions if action.kind is not ActionKind.NONE]


def plan(
    indices: Sequence[IndexState],
    holds: Sequence[LegalHold],
    policy: RetentionPolicy,
    at: datetime,
) -> list[PlannedAction]:
    """One action per index, ordered by day then name (oldest first)."""
    if at.utcoffset() is None:
        raise ValueError("plan time must carry a time zone")
    holds_by_id = {hold.id: hold for hold in holds}
    actions = [
        _plan_hold_index(state, holds_by_id.get(state.hold_id), policy, at)
        if state.hold_id is not None
        else _plan_event_index(state, holds, policy, at)
        for state in indices
    ]
    return sorted(actions, key=lambda action: (action.day, action.index))


def _action(
    state: IndexState, policy: RetentionPolicy, at: datetime, **fields: Any
) -> PlannedAction:
    return PlannedAction(
        index=state.name,
        retention_class=state.retention_class,
        day=state.day,
        age_days=state.age_days(at),
        tier=state.tier(policy.settings.cold_tier_preference),
        **fields,
    )


def _plan_event_index(
    state: IndexState, holds: Sequence[LegalHold], policy: RetentionPolicy, at: datetime
) -> PlannedAction:
    rules = policy.classes.get(state.retention_class)
    if rules is None:
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.NONE,
            reason=f"class {state.retention_class!r} is not in the policy: kept untouched",
        )
    age = state.age_days(at)
    applying = tuple(
        hold.id for hold in holds if hold.is_active(at) and hold.matches_index(state.day)
    )
    if age >= rules.delete_after_days:
        return _deletion(state, [h for h in holds if h.id in applying], rules, policy, at)
    if age >= rules.cold_after_days:
        return _tiering(state, policy, at, Tier.COLD, rules.cold_after_days, rules, applying)
    if age >= rules.warm_after_days:
        return _tiering(state, policy, at, Tier.WARM, rules.warm_after_days, rules, applying)
    until = state.day + timedelta(days=rules.warm_after_days + 1)
    return _action(
        state,
        policy,
        at,
        kind=ActionKind.NONE,
        reason=f"hot: age {age} d < warm at {rules.warm_after_days} d (warm from {until})",
        holds=applying,
    )


def _deletion(
    state: IndexState,
    holds: Sequence[LegalHold],
    rules: RetentionClass,
    policy: RetentionPolicy,
    at: datetime,
) -> PlannedAction:
    reason = (
        f"age {state.age_days(at)} d >= delete at {rules.delete_after_days} d "
        f"(class {state.retention_class})"
    )
    delete = _delete_steps(state)
    if not holds:
        return _action(state, policy, at, kind=ActionKind.DELETE, reason=reason, steps=delete)
    copies = tuple(
        Step(
            kind=StepKind.COPY_HELD,
            index=state.name,
            hold_id=hold.id,
            target=hold_index_name(hold.id),
            query=hold_query(hold),
        )
        for hold in holds
    )
    names = ", ".join(hold.id for hold in holds)
    return _action(
        state,
        policy,
        at,
        kind=ActionKind.COPY_HELD_THEN_DELETE,
        reason=f"{reason}; documents held by {names} are copied first",
        steps=(*copies, *delete),
        holds=tuple(hold.id for hold in holds),
    )


def _delete_steps(state: IndexState) -> tuple[Step, ...]:
    """Delete, lifting a read-only block first (the node refuses to delete under it)."""
    delete = Step(kind=StepKind.DELETE_INDEX, index=state.name)
    if state.read_only:
        return (Step(kind=StepKind.REMOVE_READ_ONLY, index=state.name), delete)
    return (delete,)


def _tier_steps(state: IndexState, policy: RetentionPolicy, tier: Tier) -> list[Step]:
    settings = policy.settings
    changes: list[Step] = []
    if not state.write_block:
        changes.append(Step(kind=StepKind.ADD_WRITE_BLOCK, index=state.name))
    if state.segments > settings.force_merge_segments:
        changes.append(
            Step(
                kind=StepKind.FORCE_MERGE,
                index=state.name,
                segments=settings.force_merge_segments,
            )
        )
    if state.replicas != settings.warm_replicas:
        changes.append(
            Step(kind=StepKind.SET_REPLICAS, index=state.name, replicas=settings.warm_replicas)
        )
    if tier is Tier.COLD and state.tier_preference != settings.cold_tier_preference:
        changes.append(
            Step(
                kind=StepKind.SET_TIER_PREFERENCE,
                index=state.name,
                tier_preference=settings.cold_tier_preference,
            )
        )
    needs_unblock = state.read_only and any(
        step.kind is not StepKind.ADD_WRITE_BLOCK for step in changes
    )
    steps = []
    if needs_unblock:
        steps.append(Step(kind=StepKind.REMOVE_READ_ONLY, index=state.name))
    steps.extend(changes)
    if needs_unblock or (tier is Tier.COLD and not state.read_only):
        steps.append(Step(kind=StepKind.ADD_READ_ONLY, index=state.name))
    return steps


def _tiering(
    state: IndexState,
    policy: RetentionPolicy,
    at: datetime,
    tier: Tier,
    threshold: int,
    rules: RetentionClass,
    holds: tuple[str, ...],
) -> PlannedAction:
    steps = tuple(_tier_steps(state, policy, tier))
    age = state.age_days(at)
    deleted_on = state.day + timedelta(days=rules.delete_after_days + 1)
    if not steps:
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.NONE,
            reason=f"{tier.value} as due (age {age} d); deleted from {deleted_on}",
            holds=holds,
        )
    return _action(
        state,
        policy,
        at,
        kind=ActionKind.TO_COLD if tier is Tier.COLD else ActionKind.TO_WARM,
        reason=f"age {age} d >= {tier.value} at {threshold} d (class {state.retention_class})",
        steps=steps,
        holds=holds,
    )


def _plan_hold_index(
    state: IndexState, hold: LegalHold | None, policy: RetentionPolicy, at: datetime
) -> PlannedAction:
    if hold is None:
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.NONE,
            reason=f"no record of hold {state.hold_id}: kept until it is accounted for",
        )
    if hold.is_active(at):
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.NONE,
            reason=f"kept while hold {hold.id} ({hold.reference}) is active",
            blocked_by=(hold.id,),
        )
    ended = hold.released_at if hold.released_at is not None else hold.expires_at
    rules = policy.classes.get(state.retention_class)
    if rules is None:
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.NONE,
            reason=f"hold {hold.id} ended; class {state.retention_class!r} unknown: kept",
        )
    age = state.age_days(at)
    if age >= rules.delete_after_days:
        return _action(
            state,
            policy,
            at,
            kind=ActionKind.DELETE,
            reason=f"hold {hold.id} ended {ended}; newest copy is {age} d old >= "
            f"{rules.delete_after_days} d (class {state.retention_class})",
            steps=_delete_steps(state),
        )
    expires = state.day + timedelta(days=rules.delete_after_days + 1)
    return _action(
        state,
        policy,
        at,
        kind=ActionKind.NONE,
        reason=f"hold {hold.id} ended {ended}; copies expire from {expires}",
    )
