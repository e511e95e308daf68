"""The incident lifecycle and the changes people make to an incident.

``open -> acknowledged -> investigating -> contained -> resolved -> closed``,
and ``false_positive`` (closed with a reason) from any state that is not
closed. Anything else raises :class:`InvalidTransition` naming the allowed
next states.
"""

from __future__ import annotations

from datetime import datetime

from audit.domain.checklists.decisions import ItemDecision, append_decision
from audit.domain.checklists.evaluation import validate_decision
from audit.domain.checklists.template import ChecklistTemplate
from audit.domain.incidents.model import (
    TERMINAL_STATUSES,
    HistoryEntry,
    Incident,
    IncidentStatus,
)
from audit.domain.legal.hold_requests import HoldRequest, hold_id_for
from audit.errors import InvalidTransition

S = IncidentStatus
ALLOWED_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.FALSE_POSITIVE}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.FALSE_POSITIVE}),
    S.INVESTIGATING: frozenset({S.CONTAINED, S.FALSE_POSITIVE}),
    S.CONTAINED: frozenset({S.RESOLVED, S.FALSE_POSITIVE}),
    S.RESOLVED: frozenset({S.CLOSED, S.FALSE_POSITIVE}),
    S.CLOSED: frozenset(),
    S.FALSE_POSITIVE: frozenset(),
}


def allowed_next(status: IncidentStatus) -> tuple[IncidentStatus, ...]:
    """The states ``status`` may move to, in lifecycle order."""
    order = list(IncidentStatus)
    return tuple(sorted(ALLOWED_TRANSITIONS[status], key=order.index))


def transition(
    incident: Incident, to: IncidentStatus | str, *, by: str, at: datetime, why: str = ""
) -> Incident:
    """Move ``incident`` to ``to``; ``false_positive`` needs a reason (``why``)."""
    try:
        target = IncidentStatus(to)
    except ValueError:
        raise InvalidTransition(
            f"unknown status {to!r}; statuses: {', '.join(s.value for s in IncidentStatus)}"
        ) from None
    if target not in ALLOWED_TRANSITIONS[incident.status]:
        allowed = ", ".join(s.value for s in allowed_next(incident.status))
        raise InvalidTransition(
            f"incident {incident.id}: cannot go from {incident.status.value} to {target.value}; "
            + (f"allowed next: {allowed}" if allowed else f"{incident.status.value} is final")
        )
    if target is IncidentStatus.FALSE_POSITIVE and not why.strip():
        raise InvalidTransition(
            f"incident {incident.id}: false_positive needs a reason; pass why (--note)"
        )
    entry = HistoryEntry(
        at=at,
        by=by,
        action="status_changed",
        why=why,
        changes={"from": incident.status.value, "to": target.value},
    )
    closure = why if target in TERMINAL_STATUSES else incident.closure_reason
    return incident.changed(entry, status=target, closure_reason=closure)


def _refuse_if_final(incident: Incident, what: str) -> None:
    if incident.status in TERMINAL_STATUSES:
        raise InvalidTransition(
            f"incident {incident.id} is {incident.status.value}; {what} is not possible"
        )


def assign(incident: Incident, assignee: str, *, by: str, at: datetime, why: str = "") -> Incident:
    """Give ``incident`` to ``assignee``."""
    _refuse_if_final(incident, "assigning it")
    entry = HistoryEntry(
        at=at,
        by=by,
        action="assigned",
        why=why,
        changes={"from": incident.assignee or "", "to": assignee},
    )
    return incident.changed(entry, assignee=assignee)


def add_evidence(
    incident: Incident, reference: str, *, by: str, at: datetime, why: str
) -> Incident:
    """Attach a piece of evidence by reference (an event id, an export bundle id, a URL)."""
    entry = HistoryEntry(at=at, by=by, action="evidence_added", why=why, changes={"ref": reference})
    return incident.changed(entry, evidence=(*incident.evidence, reference))


def record_decision(
    incident: Incident, decision: ItemDecision, template: ChecklistTemplate | None = None
) -> Incident:
    """Append a checklist decision (an amendment if the item was decided before).

    With ``template`` the item and answer are validated against it.
    """
    if template is not None:
        validate_decision(template, decision)
    amended = any(d.item_id == decision.item_id for d in incident.decisions)
    decisions = append_decision(incident.decisions, decision)
    entry = HistoryEntry(
        at=decision.decided_at,
        by=decision.decided_by,
        action="decision_amended" if amended else "decision_recorded",
        why=decision.rationale,
        changes={"item_id": decision.item_id, "answer": decision.answer},
    )
    return incident.changed(entry, decisions=decisions)


def legal_hold_request(incident: Incident, *, by: str, at: datetime) -> HoldRequest:
    """The legal hold the checklist's first item asks for: the incident's organizations,
    entities and data categories, until released by a person."""
    source = f"incident:{incident.id}"
    return HoldRequest(
        hold_id=hold_id_for(source),
        source=source,
        reason=f"evidence of incident {incident.id} ({incident.title})",
        organization_ids=_union(incident.organization_ids, incident.affected_organization_ids),
        entities=dict(incident.entities),
        data_categories=incident.data_categories,
        requested_at=at,
        requested_by=by,
    )


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({v for g in groups for v in g}))
