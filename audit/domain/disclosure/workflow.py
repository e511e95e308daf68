"""Steps of a lawful disclosure request, each returning a new record.

Refusals raise :class:`DisclosureRefused` saying what is missing. The
enforced rules: verification through an independently sourced contact;
customer-content requests are redirected to the customer before anything
else; two distinct legal principals approve; the customer is told before
disclosure (default 7 days) unless a non-disclosure order bars it or it is
an emergency, in which case the notice is deferred to the order's expiry;
preservation is renewed at most once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from audit.domain.checklists.decisions import ItemDecision, append_decision
from audit.domain.disclosure.clocks import MAX_PRESERVATION_RENEWALS, preservation_expiry
from audit.domain.disclosure.model import (
    LEGAL_ROLE,
    PRESERVING_PROCESSES,
    Approval,
    CustomerNotice,
    DataMapping,
    DisclosureRequest,
    Intake,
    NonDisclosureOrder,
    Outcome,
    ProcessType,
    Production,
    Redirect,
    RedirectOutcome,
    Verification,
)
from audit.domain.incidents.model import HistoryEntry
from audit.domain.legal.hold_requests import HoldRequest, hold_id_for
from audit.errors import InvalidTransition

DEFAULT_NOTICE_PERIOD = timedelta(days=7)
NOT_INDEPENDENT_SOURCES = frozenset({"request", "requester", "email signature", "letterhead"})


class DisclosureRefused(InvalidTransition):
    """A step of a lawful disclosure request is not allowed yet (or at all).

    The message says which step must come first or which rule refuses it.
    """


def request_id_for(intake: Intake) -> str:
    """Deterministic id from the tenant scope, authority, reference and receipt time.

    The scope is part of it so that one tenant's request can never collide
    with (and so reveal or squat) another tenant's of the same reference.
    """
    scope = ",".join(sorted(intake.organization_ids))
    key = f"{scope}|{intake.authority}|{intake.reference}|{intake.received_at.isoformat()}"
    return "ldr-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def _entry(by: str, at: datetime, action: str, why: str = "", **changes: str) -> HistoryEntry:
    return HistoryEntry(at=at, by=by, action=action, why=why, changes=changes)


def _open(request: DisclosureRequest, step: str) -> None:
    if request.closed:
        raise DisclosureRefused(f"request {request.id} is closed; {step} is not possible")


def receive(
    intake: Intake, process_type: ProcessType | str, *, by: str, at: datetime, scope: str = ""
) -> tuple[DisclosureRequest, HoldRequest | None]:
    """Record a new request; a preservation request also returns the legal hold to place."""
    process = ProcessType(process_type)
    request = DisclosureRequest(
        id=request_id_for(intake),
        intake=intake,
        process_type=process,
        scope=scope or intake.requested_data,
        history=(_entry(by, at, "received", process=process.value),),
    )
    if process not in PRESERVING_PROCESSES:
        return request, None
    hold = preservation_hold(request, by=by, at=at)
    request = request.changed(
        _entry(by, at, "hold_requested", hold_id=hold.hold_id), hold_id=hold.hold_id
    )
    return request, hold


def preservation_hold(request: DisclosureRequest, *, by: str, at: datetime) -> HoldRequest:
    """The legal hold a preservation request asks for, until its preservation expiry."""
    source = f"disclosure:{request.id}"
    return HoldRequest(
        hold_id=hold_id_for(source),
        source=source,
        reason=f"{request.process_type.value} from {request.intake.authority} "
        f"({request.intake.reference or 'no reference'}): {request.scope}",
        organization_ids=request.intake.organization_ids,
        requested_at=at,
        requested_by=by,
        expires_at=preservation_expiry(request),
    )


def verify(
    request: DisclosureRequest,
    *,
    contact_used: str,
    contact_source: str,
    confirmed: bool,
    by: str,
    at: datetime,
) -> DisclosureRequest:
    """Record the call-back through a contact found independently of the request."""
    _open(request, "verification")
    if contact_source.strip().lower() in NOT_INDEPENDENT_SOURCES:
        raise DisclosureRefused(
            f"contact source {contact_source!r} comes from the request itself; verify through "
            "an independently sourced contact (official directory, known liaison)"
        )
    verification = Verification(
        contact_used=contact_used,
        contact_source=contact_source,
        confirmed=confirmed,
        verified_by=by,
        verified_at=at,
    )
    entry = _entry(by, at, "verified", confirmed=str(confirmed).lower(), source=contact_source)
    return request.changed(entry, verification=verification)


def map_data(
    request: DisclosureRequest,
    *,
    data_categories: Sequence[str],
    organization_ids: Sequence[str],
    by: str,
    at: datetime,
    note: str = "",
) -> DisclosureRequest:
    """Record which data categories and customers the request reaches.

    Customer content makes the redirect to the customer the next step.
    """
    _open(request, "data mapping")
    mapping = DataMapping(
        data_categories=tuple(sorted(set(data_categories))),
        organization_ids=tuple(sorted(set(organization_ids))),
        mapped_by=by,
        mapped_at=at,
        note=note,
    )
    entry = _entry(by, at, "data_mapped", note, categories=",".join(mapping.data_categories))
    return request.changed(entry, mapping=mapping)


def next_steps(request: DisclosureRequest) -> tuple[str, ...]:
    """What must happen next, in order (for the CLI and the checklist view)."""
    if request.closed:
        return ()
    steps: list[str] = []
    if not request.verified:
        steps.append("verify")
    if request.mapping is None:
        steps.append("map_data")
    elif request.needs_redirect and request.redirect is None:
        return (*steps, "redirect_to_customer")
    if not request.approved:
        steps.append("approve")
    if request.production is None:
        steps.append("produce")
    steps.append("close")
    return tuple(steps)


def record_redirect(
    request: DisclosureRequest,
    outcome: RedirectOutcome | str,
    *,
    by: str,
    at: datetime,
    note: str = "",
) -> DisclosureRequest:
    """Record the outcome of sending the requester to the customer (controller) first."""
    _open(request, "a redirect")
    if not request.needs_redirect:
        raise DisclosureRefused(
            f"request {request.id}: no customer content mapped; a redirect applies to "
            "customer content only (map the data first)"
        )
    redirect = Redirect(outcome=RedirectOutcome(outcome), recorded_by=by, recorded_at=at, note=note)
    entry = _entry(by, at, "redirect_recorded", note, outcome=redirect.outcome.value)
    return request.changed(entry, redirect=redirect)


def narrow_scope(
    request: DisclosureRequest, scope: str, *, by: str, at: datetime, why: str
) -> DisclosureRequest:
    _open(request, "narrowing the scope")
    if not scope.strip():
        raise DisclosureRefused("a narrowed scope cannot be empty; close the request instead")
    entry = _entry(by, at, "scope_narrowed", why, before=request.scope, after=scope)
    return request.changed(entry, scope=scope)


def record_ndo(
    request: DisclosureRequest,
    *,
    expires_at: datetime | None,
    by: str,
    at: datetime,
    reference: str = "",
) -> DisclosureRequest:
    """Record a non-disclosure order (``expires_at`` None: no fixed expiry)."""
    _open(request, "recording an NDO")
    ndo = NonDisclosureOrder(
        reference=reference, expires_at=expires_at, recorded_by=by, recorded_at=at
    )
    expiry = expires_at.isoformat() if expires_at else "none"
    return request.changed(_entry(by, at, "ndo_recorded", reference, expires_at=expiry), ndo=ndo)


class NoticeMode(StrEnum):
    BEFORE_DISCLOSURE = "before_disclosure"
    DEFERRED = "deferred"
    NOT_APPLICABLE = "not_applicable"


class NoticePlan(BaseModel):
    """How and when the customer hears of the request.

    ``before_disclosure``: notify now; disclose no earlier than
    ``earliest_disclosure_at`` (notice + notice period). ``deferred``: the
    notice is scheduled at ``scheduled_at`` (the NDO's expiry; None when the
    order has no expiry or, in an emergency, until production).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: NoticeMode
    reason: str
    scheduled_at: AwareDatetime | None = None
    earliest_disclosure_at: AwareDatetime | None = None


def notice_plan(
    request: DisclosureRequest, notice_period: timedelta = DEFAULT_NOTICE_PERIOD
) -> NoticePlan:
    customers = (
        request.mapping.organization_ids if request.mapping else request.intake.organization_ids
    )
    if not customers:
        return NoticePlan(mode=NoticeMode.NOT_APPLICABLE, reason="no customer data concerned")
    if request.ndo is not None:
        return NoticePlan(
            mode=NoticeMode.DEFERRED,
            reason="a non-disclosure order bars notice until it expires",
            scheduled_at=request.ndo.expires_at,
        )
    if request.emergency:
        produced = request.production.produced_at if request.production else None
        return NoticePlan(
            mode=NoticeMode.DEFERRED,
            reason="emergency disclosure: notice follows the disclosure",
            scheduled_at=produced,
        )
    sent = request.customer_notice.sent_at if request.customer_notice else None
    return NoticePlan(
        mode=NoticeMode.BEFORE_DISCLOSURE,
        reason=f"notify the customer at least {notice_period.days} days before disclosure",
        earliest_disclosure_at=sent + notice_period if sent else None,
    )


def send_customer_notice(request: DisclosureRequest, *, by: str, at: datetime) -> DisclosureRequest:
    """Record that the customer was told; refused while a non-disclosure order bars it."""
    _open(request, "a customer notice")
    if request.ndo is not None and request.ndo.bars_notice_at(at):
        expiry = request.ndo.expires_at.isoformat() if request.ndo.expires_at else "no expiry"
        raise DisclosureRefused(
            f"request {request.id}: a non-disclosure order bars notice until {expiry}"
        )
    customers = (
        request.mapping.organization_ids if request.mapping else request.intake.organization_ids
    )
    notice = CustomerNotice(sent_at=at, sent_by=by, organization_ids=customers)
    entry = _entry(by, at, "customer_notified", organizations=",".join(customers))
    return request.changed(entry, customer_notice=notice)


def approve(
    request: DisclosureRequest, *, principal: str, roles: Sequence[str], at: datetime
) -> DisclosureRequest:
    """One legal principal's approval; the same principal cannot approve twice."""
    _open(request, "approval")
    if LEGAL_ROLE not in roles:
        raise DisclosureRefused(f"{principal} is not a legal principal (role {LEGAL_ROLE!r})")
    if any(a.principal == principal for a in request.approvals):
        raise DisclosureRefused(
            f"{principal} has already approved request {request.id}; a second, distinct "
            "legal principal must approve"
        )
    approvals = (*request.approvals, Approval(principal=principal, approved_at=at))
    entry = _entry(principal, at, "approved", count=str(len(approvals)))
    return request.changed(entry, approvals=approvals)


def produce(
    request: DisclosureRequest,
    *,
    bundle_id: str,
    manifest_sha256: str,
    by: str,
    at: datetime,
    notice_period: timedelta = DEFAULT_NOTICE_PERIOD,
) -> DisclosureRequest:
    """Record the production by reference to an export bundle and its manifest hash."""
    _open(request, "production")
    missing = [s for s in next_steps(request) if s not in ("produce", "close")]
    if request.production is not None:
        raise DisclosureRefused(f"request {request.id} was already produced")
    if missing:
        raise DisclosureRefused(f"request {request.id}: first {', then '.join(missing)}")
    plan = notice_plan(request, notice_period)
    if plan.mode is NoticeMode.BEFORE_DISCLOSURE:
        if plan.earliest_disclosure_at is None:
            raise DisclosureRefused(
                f"request {request.id}: notify the customer first (no NDO, not an emergency)"
            )
        if at < plan.earliest_disclosure_at:
            raise DisclosureRefused(
                f"request {request.id}: the customer notice period runs until "
                f"{plan.earliest_disclosure_at.isoformat()}"
            )
    production = Production(
        bundle_id=bundle_id, manifest_sha256=manifest_sha256, produced_by=by, produced_at=at
    )
    entry = _entry(by, at, "produced", bundle_id=bundle_id, manifest_sha256=manifest_sha256)
    return request.changed(entry, production=production)


def renew_preservation(
    request: DisclosureRequest, *, by: str, at: datetime, why: str
) -> DisclosureRequest:
    """Extend the preservation period, at most once."""
    _open(request, "renewing preservation")
    if request.process_type not in PRESERVING_PROCESSES:
        raise DisclosureRefused(f"request {request.id} is not a preservation request")
    if request.preservation_renewals >= MAX_PRESERVATION_RENEWALS:
        raise DisclosureRefused(
            f"request {request.id}: preservation was already renewed; it can be renewed once"
        )
    renewed = request.model_copy(
        update={"preservation_renewals": request.preservation_renewals + 1}
    )
    expiry = preservation_expiry(renewed)
    entry = _entry(
        by, at, "preservation_renewed", why, expires_at=expiry.isoformat() if expiry else ""
    )
    return request.changed(entry, preservation_renewals=renewed.preservation_renewals)


def close(
    request: DisclosureRequest, outcome: Outcome | str, *, by: str, at: datetime, why: str = ""
) -> DisclosureRequest:
    _open(request, "closing it again")
    result = Outcome(outcome)
    disclosed = result in (Outcome.DISCLOSED, Outcome.PARTIALLY_DISCLOSED)
    if disclosed and request.production is None:
        raise DisclosureRefused(f"request {request.id}: outcome {result.value} needs a production")
    if request.needs_redirect and request.redirect is None and result is not Outcome.WITHDRAWN:
        raise DisclosureRefused(f"request {request.id}: record the redirect to the customer first")
    entry = _entry(by, at, "closed", why, outcome=result.value)
    return request.changed(entry, outcome=result, closed_at=at)


def record_decision(request: DisclosureRequest, decision: ItemDecision) -> DisclosureRequest:
    """Append a checklist decision (amendments append; nothing is edited)."""
    decisions = append_decision(request.decisions, decision)
    entry = _entry(
        decision.decided_by,
        decision.decided_at,
        "decision_recorded",
        decision.rationale,
        item_id=decision.item_id,
        answer=decision.answer,
    )
    return request.changed(entry, decisions=decisions)
