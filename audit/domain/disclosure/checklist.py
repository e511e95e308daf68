"""The lawful-request checklist: the request's state as facts for a template.

Facts: ``t0`` (received_at), ``process_type``, ``emergency``, ``verified``,
``reviewed``, ``review_outcome``, ``blocked``,
``customer_content``, ``redirect_recorded``, ``hold_requested``, ``ndo``,
``notice_mode``, ``notice_sent``, ``deferred_notice_at``, ``approved``,
``produced``, ``closed``, ``data_held_abroad`` and the clocks
(``preservation_expires_at``, ``response_due_at``, ``motion_to_quash_due_at``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from audit.domain.checklists.evaluation import DUE_SOON, ChecklistItemState, evaluate_items
from audit.domain.checklists.facts import FactValue
from audit.domain.checklists.template import ChecklistTemplate
from audit.domain.disclosure.clocks import clocks
from audit.domain.disclosure.model import DisclosureRequest
from audit.domain.disclosure.workflow import DEFAULT_NOTICE_PERIOD, notice_plan
from audit.domain.legal.deadlines import BusinessCalendar
from audit.errors import ConfigurationError


def request_fact_map(
    request: DisclosureRequest, notice_period: timedelta = DEFAULT_NOTICE_PERIOD
) -> dict[str, FactValue]:
    plan = notice_plan(request, notice_period)
    times = clocks(request)
    return {
        "t0": request.intake.received_at,
        "process_type": request.process_type.value,
        "emergency": request.emergency,
        "verified": request.verified,
        "reviewed": request.review is not None,
        "review_outcome": request.review.outcome.value if request.review else None,
        "blocked": request.blocked,
        "customer_content": request.needs_redirect,
        "redirect_recorded": request.redirect is not None,
        "hold_requested": request.hold_id is not None,
        "ndo": request.ndo is not None,
        "notice_mode": plan.mode.value,
        "notice_sent": request.customer_notice is not None and request.customer_notice.sent,
        "deferred_notice_at": plan.scheduled_at if plan.mode.value == "deferred" else None,
        "approved": request.approved,
        "produced": request.production is not None,
        "closed": request.closed,
        "data_held_abroad": request.intake.data_held_abroad,
        "preservation_expires_at": times.preservation_expires_at,
        "response_due_at": times.response_due_at,
        "motion_to_quash_due_at": times.motion_to_quash_due_at,
        "affected_organization_ids": request.intake.organization_ids,
    }


def evaluate_request_checklist(
    template: ChecklistTemplate,
    request: DisclosureRequest,
    *,
    now: datetime,
    calendar: BusinessCalendar | None = None,
    notice_period: timedelta = DEFAULT_NOTICE_PERIOD,
    due_soon_within: timedelta = DUE_SOON,
) -> list[ChecklistItemState]:
    """Every item of the lawful-request checklist, with status and deadline."""
    if template.kind != "lawful_request":
        raise ConfigurationError(
            f"{template.source}: template {template.id} is not a lawful_request checklist"
        )
    return evaluate_items(
        template,
        request_fact_map(request, notice_period),
        request.decisions,
        now=now,
        calendar=calendar or BusinessCalendar(),
        due_soon_within=due_soon_within,
    )
