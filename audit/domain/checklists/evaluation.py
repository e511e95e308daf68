"""Evaluating a checklist template against facts and decisions.

Pure: the current time is passed in. Items appear (``applicable``) when
their condition holds; each carries its computed deadline (``due_at``, UTC)
and a status: ``done``, ``overdue``, ``due_soon`` (within ``due_soon_within``),
``pending`` or ``not_applicable``. An item whose clock starts at a decision
has no deadline until that decision is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from audit.domain.checklists.attributes import OrgAttributes, PlatformAttributes
from audit.domain.checklists.decisions import (
    DecisionRefused,
    ItemDecision,
    decisions_by_item,
)
from audit.domain.checklists.facts import FactValue, IncidentFacts, incident_fact_map
from audit.domain.checklists.template import (
    ChecklistTemplate,
    Clock,
    Condition,
    ItemTemplate,
)
from audit.domain.legal.deadlines import BusinessCalendar, add_months, to_utc
from audit.errors import ConfigurationError

DUE_SOON = timedelta(hours=12)


class ItemStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    NOT_APPLICABLE = "not_applicable"
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"


class ChecklistItemState(BaseModel):
    """One item of an evaluated checklist (one per organization for per-org items)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    template_item_id: str
    organization_id: str | None = None
    title: str
    legal_basis: str
    guidance: str = ""
    applicable: bool
    status: ItemStatus
    due_at: AwareDatetime | None = None
    answers: tuple[str, ...] = ()
    decision: ItemDecision | None = None
    previous_decisions: tuple[ItemDecision, ...] = ()
    late: bool = False
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Context:
    facts: Mapping[str, FactValue]
    history: Mapping[str, list[ItemDecision]]
    orgs: Mapping[str, OrgAttributes]
    policy: Mapping[str, int]
    calendar: BusinessCalendar
    org: str | None = None

    def ref(self, ref: str) -> str:
        return ref.replace("{org}", self.org or "")

    def latest(self, ref: str) -> ItemDecision | None:
        items = self.history.get(self.ref(ref))
        return items[-1] if items else None


def _holds(cond: Condition, ctx: _Context) -> bool:
    if cond.all_ is not None:
        return all(_holds(c, ctx) for c in cond.all_)
    if cond.any_ is not None:
        return any(_holds(c, ctx) for c in cond.any_)
    if cond.not_ is not None:
        return not _holds(cond.not_, ctx)
    if cond.decision is not None:
        decision = ctx.latest(cond.decision)
        if decision is None:
            return False
        return cond.in_ is None or decision.answer in cond.in_
    if cond.org is not None:
        attrs = ctx.orgs.get(ctx.org or "")
        return bool(getattr(attrs, cond.org, False)) if attrs is not None else False
    value = ctx.facts.get(cond.fact or "")
    if cond.contains is not None:
        return isinstance(value, tuple) and cond.contains in value
    if cond.equals is not None:
        return value == cond.equals
    if cond.in_ is not None:
        return value in cond.in_
    return bool(value)


def _anchor(clock: Clock, ctx: _Context) -> datetime | None:
    if clock.from_ == "t0":
        value = ctx.facts.get("t0")
        return value if isinstance(value, datetime) else None
    kind, _, name = clock.from_.partition(":")
    if kind == "fact":
        value = ctx.facts.get(name)
        return to_utc(value) if isinstance(value, datetime) else None
    decision = ctx.latest(name)
    if decision is None:
        return None
    return decision.anchor if kind == "decision" else decision.expires_at


def _clock_due(clock: Clock, ctx: _Context, template: ChecklistTemplate) -> datetime | None:
    if clock.when is not None and not _holds(clock.when, ctx):
        return None
    start = _anchor(clock, ctx)
    if start is None:
        return None
    hours = clock.hours
    if clock.policy_hours is not None:
        if clock.policy_hours not in ctx.policy:
            raise ConfigurationError(
                f"{template.source}: policy {clock.policy_hours!r} is not a platform "
                f"policy target (known: {sorted(ctx.policy)})"
            )
        hours += ctx.policy[clock.policy_hours]
    due = start + timedelta(hours=hours, days=clock.days)
    if clock.months:
        due = add_months(due, clock.months)
    if clock.business_days:
        cutoff = time.fromisoformat(clock.cutoff) if clock.cutoff else None
        due = ctx.calendar.add_business_days(due, clock.business_days, cutoff)
    return due


def _due_at(item: ItemTemplate, ctx: _Context, template: ChecklistTemplate) -> datetime | None:
    candidates = [d for c in item.deadline if (d := _clock_due(c, ctx, template)) is not None]
    due = min(candidates) if candidates else None
    if due is not None and item.deferred_by is not None:
        delay = ctx.latest(item.deferred_by)
        if delay is not None and delay.expires_at is not None and delay.expires_at > due:
            due = min(delay.expires_at, _delay_cap(item, delay, due, template))
    return due


def _delay_cap(
    item: ItemTemplate, delay: ItemDecision, due: datetime, template: ChecklistTemplate
) -> datetime:
    """The latest a delay may move ``item``'s deadline to (no cap: its expiry)."""
    assert delay.expires_at is not None
    try:
        caps = template.item(item.deferred_by or "").delay_caps
    except KeyError:
        return delay.expires_at
    limit = delay.expires_at
    for cap in caps:
        if cap.answer != delay.answer or (cap.items and item.id not in cap.items):
            continue
        start = due if cap.from_ == "deadline" else delay.anchor
        limit = min(limit, start + timedelta(days=cap.days))
    return limit


def _state(
    item: ItemTemplate,
    ctx: _Context,
    template: ChecklistTemplate,
    now: datetime,
    due_soon_within: timedelta,
) -> ChecklistItemState:
    instance = f"{item.id}:{ctx.org}" if ctx.org is not None else item.id
    history = tuple(ctx.history.get(instance, ()))
    decision = history[-1] if history else None
    problems: list[str] = []
    if ctx.org is not None and ctx.org not in ctx.orgs:
        problems.append(
            f"attributes of organization {ctx.org!r} are not configured; "
            "per-organization obligations cannot be decided"
        )
    applicable = item.applies_when is None or _holds(item.applies_when, ctx)
    title = f"{item.title} ({ctx.org})" if ctx.org is not None else item.title
    common = {
        "item_id": instance,
        "template_item_id": item.id,
        "organization_id": ctx.org,
        "title": title,
        "legal_basis": item.legal_basis,
        "guidance": item.guidance,
        "answers": item.answers,
        "decision": decision,
        "previous_decisions": history[:-1],
    }
    if not applicable:
        return ChecklistItemState(
            **common, applicable=False, status=ItemStatus.NOT_APPLICABLE, problems=()
        )
    due = _due_at(item, ctx, template)
    if item.done_when is not None:
        done = _holds(item.done_when, ctx)
    else:
        done = decision is not None and (
            item.done_answers is None or decision.answer in item.done_answers
        )
    late = False
    if done and due is not None:
        # Judged from when the decision was recorded, not from a time the decider
        # says it took effect (GDPR Art. 33(1): a late notification gives reasons).
        finished = decision.decided_at if decision is not None else now
        late = finished > due
        if late and item.late_requires_reasons and not (decision and decision.late_reasons):
            problems.append(
                "done after the deadline without reasons for the delay: "
                "record a later decision with late_reasons"
            )
    if done:
        status = ItemStatus.DONE
    elif due is not None and now > due:
        status = ItemStatus.OVERDUE
    elif due is not None and due - now <= due_soon_within:
        status = ItemStatus.DUE_SOON
    else:
        status = ItemStatus.PENDING
    return ChecklistItemState(
        **common,
        applicable=True,
        status=status,
        due_at=due,
        late=late,
        problems=tuple(problems),
    )


def evaluate_items(
    template: ChecklistTemplate,
    facts: Mapping[str, FactValue],
    decisions: Sequence[ItemDecision],
    *,
    now: datetime,
    calendar: BusinessCalendar,
    org_attributes: Mapping[str, OrgAttributes] | None = None,
    policy: Mapping[str, int] | None = None,
    due_soon_within: timedelta = DUE_SOON,
) -> list[ChecklistItemState]:
    """Evaluate any template against a flat fact map (incidents and lawful requests)."""
    now = to_utc(now)
    base = _Context(
        facts=facts,
        history=decisions_by_item(decisions),
        orgs=org_attributes or {},
        policy=policy or {},
        calendar=calendar,
    )
    states: list[ChecklistItemState] = []
    for item in template.items:
        if item.for_each is None:
            states.append(_state(item, base, template, now, due_soon_within))
            continue
        orgs = facts.get("affected_organization_ids")
        org_ids = orgs if isinstance(orgs, tuple) else ()
        if not org_ids:
            states.append(
                ChecklistItemState(
                    item_id=item.id,
                    template_item_id=item.id,
                    title=item.title,
                    legal_basis=item.legal_basis,
                    guidance=item.guidance,
                    applicable=False,
                    status=ItemStatus.NOT_APPLICABLE,
                    answers=item.answers,
                )
            )
        for org in org_ids:
            ctx = _Context(
                facts=base.facts,
                history=base.history,
                orgs=base.orgs,
                policy=base.policy,
                calendar=base.calendar,
                org=org,
            )
            states.append(_state(item, ctx, template, now, due_soon_within))
    return states


def evaluate_checklist(
    template: ChecklistTemplate,
    incident_facts: IncidentFacts,
    org_attributes: Mapping[str, OrgAttributes],
    platform_attributes: PlatformAttributes,
    decisions: Sequence[ItemDecision],
    calendar: BusinessCalendar | None = None,
    *,
    now: datetime,
    due_soon_within: timedelta = DUE_SOON,
) -> list[ChecklistItemState]:
    """The incident checklist: every item with ``applicable``, ``status``, ``due_at``
    and the decision in force. ``calendar`` defaults to the platform's SEC calendar."""
    if template.kind != "incident":
        raise ConfigurationError(
            f"{template.source}: template {template.id} is not an incident one"
        )
    return evaluate_items(
        template,
        incident_fact_map(incident_facts, org_attributes, platform_attributes),
        decisions,
        now=now,
        calendar=calendar or platform_attributes.sec_calendar,
        org_attributes=org_attributes,
        policy={
            "processor_notice_hours": platform_attributes.processor_notice_hours,
        },
        due_soon_within=due_soon_within,
    )


def refuse_late_without_reasons(
    template: ChecklistTemplate, states: Sequence[ChecklistItemState], decision: ItemDecision
) -> None:
    """At recording time: a decision on an item that requires reasons when late
    (``late_requires_reasons``, GDPR Art. 33(1)) recorded after the item's deadline
    must carry ``late_reasons``. ``states``: the checklist evaluated before it."""
    try:
        item = template.item(decision.item_id)
    except KeyError:
        return
    if not item.late_requires_reasons or (decision.late_reasons or "").strip():
        return
    for state in states:
        due = state.due_at
        if state.item_id == decision.item_id and due is not None and decision.decided_at > due:
            raise DecisionRefused(
                f"{decision.item_id!r} is recorded after its deadline {due.isoformat()}; "
                f"give the reasons for the delay (late_reasons; {item.legal_basis})"
            )


def validate_decision(template: ChecklistTemplate, decision: ItemDecision) -> None:
    """Refuse a decision on an unknown item, with an answer the item does not allow,
    or taking effect after it was recorded."""
    try:
        item = template.item(decision.item_id)
    except KeyError:
        known = ", ".join(i.id for i in template.items)
        raise DecisionRefused(
            f"no item {decision.item_id!r} in checklist {template.id} v{template.version} "
            f"(items: {known})"
        ) from None
    if (item.for_each is None) != (":" not in decision.item_id):
        shape = f"{item.id}:<organization id>" if item.for_each else item.id
        raise DecisionRefused(f"item {decision.item_id!r}: decide it as {shape!r}")
    if item.answers and decision.answer not in item.answers:
        raise DecisionRefused(
            f"answer {decision.answer!r} is not allowed for {item.id!r}; "
            f"allowed: {', '.join(item.answers)}"
        )
    if decision.effective_at is not None and decision.effective_at > decision.decided_at:
        raise DecisionRefused(
            f"effective_at {decision.effective_at.isoformat()} is after the decision was "
            f"recorded ({decision.decided_at.isoformat()}); a decision cannot take effect later"
        )
