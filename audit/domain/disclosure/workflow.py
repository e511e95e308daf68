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
    NoticeStatus,
    Outcome,
    ProcessType,
    ProducedBundle,
    Production,
    Redirect,
    RedirectOutcome,
    Review,
    ReviewOutcome,
    ScopeLimits,
    Verification,
    unknown_categories,
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
    return with_hold(request, hold, by=by, at=at), hold


def with_hold(
    request: DisclosureRequest, hold: HoldRequest, *, by: str, at: datetime, why: str = ""
) -> DisclosureRequest:
    expiry = hold.expires_at.isoformat() if hold.expires_at else "none"
    entry = _entry(by, at, "hold_requested", why, hold_id=hold.hold_id, expires_at=expiry)
    return request.changed(
        entry,
        hold_id=hold.hold_id,
        hold_ids=(*request.hold_ids, hold.hold_id),
        hold_released=False,
    )


def preservation_hold(
    request: DisclosureRequest,
    *,
    by: str,
    at: datetime,
    part: str = "",
    expires_at: datetime | None = None,
) -> HoldRequest:
    """The legal hold a request asks for: its organizations (and mapped users), until its
    preservation expiry. ``part`` tells apart later holds of the same request (a renewal)."""
    source = f"disclosure:{request.id}" + (f":{part}" if part else "")
    entities: dict[str, tuple[str, ...]] = {}
    orgs = request.intake.organization_ids
    if request.mapping is not None:
        orgs = request.mapping.organization_ids or orgs
        if request.mapping.user_ids:
            entities["user.id"] = request.mapping.user_ids
    expiry = expires_at if expires_at is not None else preservation_expiry(request)
    return HoldRequest(
        hold_id=hold_id_for(source),
        source=source,
        reason=f"{request.process_type.value} from {request.intake.authority} "
        f"({request.intake.reference or 'no reference'}): {request.scope}",
        organization_ids=orgs,
        entities=entities,
        requested_at=at,
        requested_by=by,
        expires_at=expiry,
    )


def preserve(
    request: DisclosureRequest, *, by: str, at: datetime, expires_at: datetime | None, why: str
) -> tuple[DisclosureRequest, HoldRequest]:
    """Preserve the data of a request that is not itself a preservation (a subpoena with a
    preservation letter): ask for a hold until ``expires_at`` (None: until closure)."""
    _open(request, "preservation")
    if request.hold_id is not None and not request.hold_released:
        raise DisclosureRefused(
            f"request {request.id} already holds {request.hold_id}; renew it instead"
        )
    if expires_at is not None and expires_at <= at:
        raise DisclosureRefused("a preservation must expire after it is placed")
    hold = preservation_hold(
        request, by=by, at=at, part=f"preserve:{len(request.hold_ids)}", expires_at=expires_at
    )
    if expires_at is None:
        hold = hold.model_copy(update={"expires_at": None})
    return with_hold(request, hold, by=by, at=at, why=why), hold


def record_hold_released(
    request: DisclosureRequest, *, by: str, at: datetime, why: str
) -> DisclosureRequest:
    """Record that the request's hold was released (at closure, or at its expiry)."""
    if request.hold_id is None or request.hold_released:
        raise DisclosureRefused(f"request {request.id} has no hold in force to release")
    entry = _entry(by, at, "hold_released", why, hold_id=request.hold_id)
    return request.changed(entry, hold_released=True)


def preservation_lapsed(request: DisclosureRequest, at: datetime) -> bool:
    """A preservation whose period ended by ``at`` and whose hold is not yet released."""
    if request.process_type not in PRESERVING_PROCESSES or request.hold_released:
        return False
    expiry = preservation_expiry(request)
    return request.hold_id is not None and expiry is not None and expiry <= at


def verify(
    request: DisclosureRequest,
    *,
    contact_used: str,
    contact_source: str,
    confirmed: bool,
    by: str,
    at: datetime,
    method: str = "callback",
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
        method=method,
    )
    entry = _entry(
        by,
        at,
        "verified",
        confirmed=str(confirmed).lower(),
        source=contact_source,
        contact=contact_used,
        method=method,
    )
    return request.changed(entry, verification=verification)


def map_data(
    request: DisclosureRequest,
    *,
    data_categories: Sequence[str],
    organization_ids: Sequence[str],
    by: str,
    at: datetime,
    note: str = "",
    user_ids: Sequence[str] = (),
    time_from: datetime | None = None,
    time_to: datetime | None = None,
) -> DisclosureRequest:
    """Record which data categories, customers, users and time range the request reaches.

    Customer content makes the redirect to the customer the next step.
    """
    _open(request, "data mapping")
    if not organization_ids:
        raise DisclosureRefused("a mapping names at least one organization")
    if not data_categories:
        raise DisclosureRefused("a mapping names at least one data category")
    # production exports the mapped categories only: a misspelt one would export nothing
    unknown_categories(data_categories, raise_as=DisclosureRefused)
    if time_from is not None and time_to is not None and time_to <= time_from:
        raise DisclosureRefused("the mapped time range ends before it starts")
    mapping = DataMapping(
        data_categories=tuple(sorted(set(data_categories))),
        organization_ids=tuple(sorted(set(organization_ids))),
        mapped_by=by,
        mapped_at=at,
        note=note,
        user_ids=tuple(sorted(set(user_ids))),
        time_from=time_from,
        time_to=time_to,
    )
    entry = _entry(
        by,
        at,
        "data_mapped",
        note,
        categories=",".join(mapping.data_categories),
        organizations=",".join(mapping.organization_ids),
        users=",".join(mapping.user_ids),
        time_from=time_from.isoformat() if time_from else "",
        time_to=time_to.isoformat() if time_to else "",
    )
    return request.changed(entry, mapping=mapping)


def next_steps(request: DisclosureRequest) -> tuple[str, ...]:
    """What must happen next, in order (for the CLI and the checklist view)."""
    if request.closed:
        return ()
    steps: list[str] = []
    if not request.verified:
        steps.append("verify")
    if request.review is None:
        steps.append("review")
    elif request.blocked:
        return (*steps, "close")
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


def review(
    request: DisclosureRequest,
    outcome: ReviewOutcome | str,
    *,
    reason: str,
    by: str,
    at: datetime,
    scope: str = "",
    limits: ScopeLimits | None = None,
) -> DisclosureRequest:
    """Legal review of the scope: accept, narrow (a new scope text and/or limits on
    organizations, users and time that production may export), reject or challenge
    (both block production). A later review amends an earlier one."""
    _open(request, "a review")
    result = ReviewOutcome(outcome)
    if not reason.strip():
        raise DisclosureRefused("a review records its reason")
    if result is ReviewOutcome.NARROW and not scope.strip() and limits is None:
        raise DisclosureRefused(
            "narrow: give the narrowed scope text or limits (orgs, users, time)"
        )
    if result is not ReviewOutcome.NARROW and limits is not None:
        raise DisclosureRefused("limits are given only when narrowing")
    if request.production is not None:
        raise DisclosureRefused(f"request {request.id} was produced; its review is final")
    if limits is not None and limits.organization_ids:
        outside = set(limits.organization_ids) - set(request.intake.organization_ids)
        if outside:
            raise DisclosureRefused(
                f"narrowing cannot add organizations the request does not name: {sorted(outside)}"
            )
    record = Review(outcome=result, reason=reason, limits=limits, reviewed_by=by, reviewed_at=at)
    changes = {"outcome": result.value}
    if limits is not None:
        changes["limits"] = limits.key()
    new_scope = scope.strip() or request.scope
    if new_scope != request.scope:
        changes.update(before=request.scope, after=new_scope)
    return request.changed(
        _entry(by, at, "reviewed", reason, **changes), review=record, scope=new_scope
    )


def record_ndo(
    request: DisclosureRequest,
    *,
    expires_at: datetime | None,
    by: str,
    at: datetime,
    reference: str = "",
    issuer: str = "",
    scope: str = "",
) -> DisclosureRequest:
    """Record a non-disclosure order (``expires_at`` None: no fixed expiry), e.g. under
    18 U.S.C. 2705(b); the customer notice waits until it expires."""
    _open(request, "recording an NDO")
    if request.customer_notice is not None and request.customer_notice.sent:
        raise DisclosureRefused(f"request {request.id}: the customer was notified already")
    ndo = NonDisclosureOrder(
        reference=reference,
        issuer=issuer,
        scope=scope,
        expires_at=expires_at,
        recorded_by=by,
        recorded_at=at,
    )
    expiry = expires_at.isoformat() if expires_at else "none"
    entry = _entry(by, at, "ndo_recorded", reference, expires_at=expiry, issuer=issuer, scope=scope)
    return request.changed(entry, ndo=ndo)


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


def record_notice(
    request: DisclosureRequest,
    status: NoticeStatus | str,
    *,
    reason: str,
    by: str,
    at: datetime,
) -> DisclosureRequest:
    """The customer notice: ``sent`` (refused while an NDO bars it: it may be sent from
    the order's expiry on, not a minute later than due), ``deferred`` (only while an NDO
    bars it, or in an emergency until production) or ``not_required`` (with the reason)."""
    result = NoticeStatus(status)
    if result is NoticeStatus.SENT:
        sent = send_customer_notice(request, by=by, at=at)
        if not reason:
            return sent
        assert sent.customer_notice is not None
        notice = sent.customer_notice.model_copy(update={"reason": reason})
        return sent.model_copy(update={"customer_notice": notice})
    _open(request, "a customer notice")
    if not reason.strip():
        raise DisclosureRefused(f"a {result.value} customer notice records its reason")
    if request.customer_notice is not None and request.customer_notice.sent:
        raise DisclosureRefused(f"request {request.id}: the customer was notified already")
    until = None
    if result is NoticeStatus.DEFERRED:
        if request.ndo is not None and request.ndo.bars_notice_at(at):
            until = request.ndo.expires_at
        elif not request.emergency:
            raise DisclosureRefused(
                f"request {request.id}: a notice is deferred only under a non-disclosure "
                "order in force or after an emergency disclosure"
            )
    customers = (
        request.mapping.organization_ids if request.mapping else request.intake.organization_ids
    )
    notice = CustomerNotice(
        sent_at=at,
        sent_by=by,
        organization_ids=customers,
        status=result,
        reason=reason,
        deferred_until=until,
    )
    changes = {"status": result.value, "until": until.isoformat() if until else ""}
    return request.changed(
        _entry(by, at, "customer_notice", reason, **changes), customer_notice=notice
    )


def approve(
    request: DisclosureRequest, *, principal: str, roles: Sequence[str], at: datetime
) -> DisclosureRequest:
    """One legal principal's approval of the export scope as it is now; the same principal
    cannot approve it twice. A later change of mapping or review needs new approvals."""
    _open(request, "approval")
    if LEGAL_ROLE not in roles:
        raise DisclosureRefused(f"{principal} is not a legal principal (role {LEGAL_ROLE!r})")
    if request.blocked:
        raise DisclosureRefused(
            f"request {request.id}: legal review answered {request.review.outcome.value}"  # type: ignore[union-attr]
            "; nothing can be approved for production"
        )
    scope = request.export_scope
    if scope is None:
        raise DisclosureRefused(
            f"request {request.id}: map the data first (approve what is mapped)"
        )
    key = request.approval_key
    if any(a.principal == principal and a.scope_key == key for a in request.approvals):
        raise DisclosureRefused(
            f"{principal} has already approved request {request.id}; a second, distinct "
            "legal principal must approve"
        )
    approval = Approval(principal=principal, approved_at=at, scope_key=key)
    approvals = (*request.approvals, approval)
    count = len({a.principal for a in approvals if a.scope_key == key})
    entry = _entry(principal, at, "approved", count=str(count), scope=key)
    return request.changed(entry, approvals=approvals)


def check_producible(
    request: DisclosureRequest, at: datetime, notice_period: timedelta = DEFAULT_NOTICE_PERIOD
) -> ScopeLimits:
    """The approved export scope, or :class:`DisclosureRefused` saying what is missing.

    Called before anything is exported, so that a refused production exports nothing.
    """
    _open(request, "production")
    if request.production is not None:
        raise DisclosureRefused(f"request {request.id} was already produced")
    if request.emergency and not request.verified:
        raise DisclosureRefused(
            f"request {request.id}: an emergency request is produced only after the requester "
            "was verified through an independently sourced contact (forged emergency "
            "requests from compromised police mailboxes are a known attack)"
        )
    if request.blocked:
        raise DisclosureRefused(
            f"request {request.id}: legal review answered "
            f"{request.review.outcome.value}; it cannot be produced"  # type: ignore[union-attr]
        )
    if request.redirect is not None and request.redirect.outcome in (
        RedirectOutcome.CUSTOMER_WILL_RESPOND,
        RedirectOutcome.REQUESTER_WITHDREW,
    ):
        raise DisclosureRefused(
            f"request {request.id}: redirected to the customer "
            f"({request.redirect.outcome.value}); close it as redirected"
        )
    missing = [s for s in next_steps(request) if s not in ("produce", "close")]
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
    scope = request.export_scope
    if scope is None or not scope.organization_ids:
        raise DisclosureRefused(f"request {request.id}: the approved scope reaches no data")
    return scope


def combined_digest(bundles: Sequence[ProducedBundle]) -> str:
    """One SHA-256 over the production's bundles (organization and manifest digest)."""
    lines = sorted(f"{b.organization_id}:{b.manifest_sha256}" for b in bundles)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def produce(
    request: DisclosureRequest,
    *,
    bundle_id: str = "",
    manifest_sha256: str = "",
    by: str,
    at: datetime,
    bundles: Sequence[ProducedBundle] = (),
    notice_period: timedelta = DEFAULT_NOTICE_PERIOD,
) -> DisclosureRequest:
    """Record the production by reference to its signed export bundles and their
    manifest digests (one bundle per organization of the approved scope)."""
    scope = check_producible(request, at, notice_period)
    if bundles:
        exported = {b.organization_id for b in bundles}
        if exported != set(scope.organization_ids):
            raise DisclosureRefused(
                f"request {request.id}: bundles cover {sorted(exported)}, the approved scope "
                f"is {sorted(scope.organization_ids)}"
            )
        bundle_id = bundle_id or ",".join(b.bundle_id for b in bundles)
        manifest_sha256 = manifest_sha256 or (
            bundles[0].manifest_sha256 if len(bundles) == 1 else combined_digest(bundles)
        )
    production = Production(
        bundle_id=bundle_id,
        manifest_sha256=manifest_sha256,
        produced_by=by,
        produced_at=at,
        bundles=tuple(bundles),
        scope=scope,
    )
    entry = _entry(
        by,
        at,
        "produced",
        bundle_id=bundle_id,
        manifest_sha256=manifest_sha256,
        scope=scope.key(),
    )
    return request.changed(entry, production=production)


def renew_preservation(
    request: DisclosureRequest,
    *,
    by: str,
    at: datetime,
    why: str,
    production_order: str = "",
) -> DisclosureRequest:
    """Extend the preservation: a US preservation (18 U.S.C. 2703(f)(2)) once, for 90
    more days; an EU preservation order (Reg. 2023/1543 Art. 11(1)) continues only when
    the issuing authority confirms, within its 60 days, that a production order was
    issued (``production_order``: its reference) and then lasts until production."""
    _open(request, "renewing preservation")
    if request.process_type not in PRESERVING_PROCESSES:
        raise DisclosureRefused(f"request {request.id} is not a preservation request")
    expiry = preservation_expiry(request)
    if expiry is not None and at >= expiry:
        raise DisclosureRefused(
            f"request {request.id}: the preservation ended at {expiry.isoformat()}; "
            "a lapsed preservation cannot be renewed"
        )
    if request.process_type is ProcessType.EU_PRESERVATION_ORDER:
        if request.production_order_confirmed_at is not None:
            raise DisclosureRefused(f"request {request.id}: the production order is confirmed")
        if not production_order.strip():
            raise DisclosureRefused(
                "an EU preservation order continues only on the authority's confirmation of "
                "a production order (Reg. 2023/1543 Art. 11(1)); give its reference"
            )
        entry = _entry(by, at, "production_order_confirmed", why, production_order=production_order)
        return request.changed(entry, production_order_confirmed_at=at)
    if request.preservation_renewals >= MAX_PRESERVATION_RENEWALS:
        raise DisclosureRefused(
            f"request {request.id}: preservation was already renewed; it can be renewed once"
        )
    renewed = request.model_copy(
        update={"preservation_renewals": request.preservation_renewals + 1}
    )
    new_expiry = preservation_expiry(renewed)
    entry = _entry(
        by, at, "preservation_renewed", why, expires_at=new_expiry.isoformat() if new_expiry else ""
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
    unanswered = request.needs_redirect and request.redirect is None
    if unanswered and result not in (Outcome.WITHDRAWN, Outcome.REJECTED):
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
