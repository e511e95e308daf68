"""Lawful disclosure requests: the inbox by clock, a request's page, its steps,
approvals, the transparency report.

A request is recorded (``/ui/disclosures/new``) and its steps are taken through
the API's route functions, with forms built from their body models
(audit/ui/routes/steps.py). A step
the workflow refuses (its preconditions are not met, the same principal
approves twice) comes back to the request's page with the problem's message
as an alert, and the form that was posted keeps its values.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from audit.api.access_log import RequestRecord
from audit.api.principal import Principal
from audit.api.problems import ApiProblem, forbidden
from audit.api.routers import disclosures as disclosures_api
from audit.api.schemas.disclosures import DisclosureDecisionIn, DisclosureIn
from audit.domain.disclosure.model import PRESERVING_PROCESSES, DisclosureRequest
from audit.domain.disclosure.report import transparency_report
from audit.services.disclosures import nearest_clock
from audit.ui.guard import Console, ConsoleState, Form, Record, Viewer, text
from audit.ui.routes.common import REFUSALS, after_post, build, refusal_of, services_of
from audit.ui.routes.steps import Step, body_from, find_step, may_take, served_steps, step_for

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class InboxRow:
    request: DisclosureRequest
    due: datetime | None  # the nearest of the request's clocks


@dataclass(frozen=True)
class StepView:
    """One step on a request's page: its form (None: a button or nothing), whether
    it can be taken now, and what it waits for when not."""

    name: str
    form: Step | None
    mine: bool  # the route's rule lets the viewer take it
    served: bool  # the API serves it
    waits_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    step: str  # the step (or form) that was refused
    posted: dict[str, str]


# Steps that are not "next" but may be taken while the request is open: which of
# them the page offers, given the request. Others (verify, produce, close, ...)
# appear only when the workflow names them next; a step route the API adds later
# is offered until it is given a rule here.
def _notified(r: DisclosureRequest) -> bool:
    return r.customer_notice is not None and r.customer_notice.sent


def _holding(r: DisclosureRequest) -> bool:
    return r.hold_id is not None and not r.hold_released


def _offered(r: DisclosureRequest) -> bool:
    return True


OTHER_STEPS: dict[str, Callable[[DisclosureRequest], bool]] = {
    "verify": lambda r: False,
    "redirect": lambda r: False,
    "produce": lambda r: False,
    "close": lambda r: False,
    # a later review or mapping amends the earlier one (new approvals are needed)
    "review": lambda r: r.review is not None and r.production is None,
    "map": lambda r: r.mapping is not None and r.production is None,
    "ndo": lambda r: not _notified(r),
    "notice": lambda r: not _notified(r),
    "preserve": lambda r: not _holding(r),
    "renew": lambda r: r.process_type in PRESERVING_PROCESSES and _holding(r),
}


def _waits_for(name: str, before: list[str]) -> tuple[str, ...]:
    """What a next step waits for (the workflow refuses it until then): approval
    approves the mapped scope; production comes after every step before it."""
    if name == "approve":
        return tuple(s for s in before if s == "map_data")
    if name == "produce":
        return tuple(before)
    return ()


def _visible_requests(request: Request, principal: Principal) -> list[DisclosureRequest]:
    return [
        r
        for r in services_of(request).disclosures.listing()
        if principal.sees_all(r.intake.organization_ids)
    ]


@functools.cache
def intake_form() -> Step:
    """The form of ``POST /v1/disclosures`` (the request as received), from its body model."""
    for route in disclosures_api.router.routes:
        if (
            isinstance(route, APIRoute)
            and route.path == "/v1/disclosures"
            and "POST" in (route.methods or ())
        ):
            form = step_for("new", route)
            if form is not None:
                return form
    raise RuntimeError("the API serves no POST /v1/disclosures whose body is a form")


@router.get("/ui/disclosures")
def inbox(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    rows = [InboxRow(r, nearest_clock(r)) for r in _visible_requests(request, principal)]
    record.count = len(rows)
    return state.pages.render(
        request,
        "disclosures.html",
        rows=rows,
        now=services_of(request).clock(),
        may_record=may_take(principal, intake_form()),
    )


def _intake_page(request: Request, state: ConsoleState, refusal: Refusal | None = None) -> Response:
    return state.pages.render(
        request,
        "disclosure_new.html",
        status=refusal.status if refusal else 200,
        form=intake_form(),
        refusal=refusal,
        kept=refusal.posted if refusal else {},
    )


@router.get("/ui/disclosures/new")
def new_request_page(
    request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    if not may_take(principal, intake_form()):
        raise forbidden()
    return _intake_page(request, state)


@router.post("/ui/disclosures/new")
def new_request(
    request: Request, form: Form, principal: Viewer, record: Record, state: Console
) -> Response:
    """Record a request through the API's route (its rule: who may; its checks: whose
    organizations); a refusal comes back to the form, which keeps its values."""
    intake = intake_form()
    if not may_take(principal, intake):
        raise forbidden()
    services = services_of(request)
    try:
        body = build(DisclosureIn, body_from(intake, form))
        created = disclosures_api.create_disclosure(
            body, principal, services, record, services.clock()
        )
    except REFUSALS as err:
        # a 403 here is about the organizations typed in: said on the form
        refused = refusal_of(err, forbidden_in_place=True)
        if refused is None:
            raise
        status, message = refused
        return _intake_page(request, state, Refusal(status, message, "new", _posted(form)))
    return after_post(f"/ui/disclosures/{created.request.id}", done="request recorded")


@router.get("/ui/disclosures/report")
def report(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    now = services_of(request).clock()
    year_text = request.query_params.get("year", "")
    year = int(year_text) if year_text.isdigit() and 2000 <= int(year_text) <= 2100 else now.year
    summary = transparency_report(_visible_requests(request, principal), year)
    record.count = summary.total
    return state.pages.render(request, "report.html", report=summary, year=year)


def _steps(principal: Principal, detail: Any) -> tuple[list[StepView], list[StepView]]:
    """(the workflow's next steps in order, the other steps open to the request)."""
    nexts: list[StepView] = []
    covered: set[str] = set()
    for index, name in enumerate(detail.next_steps):
        found = None if name == "approve" else find_step(name)
        if found is not None:
            covered.add(found.path.rsplit("/", 1)[1])
        nexts.append(
            StepView(
                name,
                found,
                mine=found is not None and may_take(principal, found),
                served=name == "approve" or found is not None,
                waits_for=_waits_for(name, detail.next_steps[:index]),
            )
        )
    others: list[StepView] = []
    if detail.closed_at is None:
        for name in served_steps():
            if name in covered or not OTHER_STEPS.get(name, _offered)(detail):
                continue
            found = find_step(name)
            if found is not None and may_take(principal, found):
                others.append(StepView(name, found, mine=True, served=True))
    return nexts, others


def _page(
    request_id: str,
    request: Request,
    principal: Principal,
    record: RequestRecord,
    state: ConsoleState,
    refusal: Refusal | None = None,
) -> Response:
    services = services_of(request)
    now = services.clock()
    detail = disclosures_api.get_disclosure(request_id, principal, services, record, now)
    nexts, others = _steps(principal, detail)
    key = detail.approval_key
    current = [a for a in detail.approvals if a.scope_key == key]
    return state.pages.render(
        request,
        "disclosure.html",
        status=refusal.status if refusal else 200,
        item=detail,
        steps=nexts,
        others=others,
        now=now,
        done="" if refusal else request.query_params.get("done", ""),
        refusal=refusal,
        approvals=current,
        earlier_approvals=[a for a in detail.approvals if a.scope_key != key],
        # of the scope as it is now: an amended mapping needs everyone's approval again
        approved_by_me=any(a.principal == principal.id for a in current),
    )


def _posted(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _taken(
    request_id: str,
    request: Request,
    principal: Principal,
    record: RequestRecord,
    state: ConsoleState,
    form: FormData,
    step: str,
    act: Callable[[], None],
    done: str,
) -> Response:
    try:
        act()
    except REFUSALS as err:
        refused = refusal_of(err)
        if refused is None:
            raise
        status, message = refused
        posted = _posted(form)
        return _page(
            request_id, request, principal, record, state, Refusal(status, message, step, posted)
        )
    return after_post(f"/ui/disclosures/{request_id}", done=done)


@router.get("/ui/disclosures/{request_id}")
def request_page(
    request_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    return _page(request_id, request, principal, record, state)


@router.post("/ui/disclosures/{request_id}/approvals")
def approve(
    request_id: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
    state: Console,
) -> Response:
    services = services_of(request)

    def act() -> None:
        disclosures_api.approve_disclosure(
            request_id, principal, services, record, services.clock()
        )

    return _taken(
        request_id, request, principal, record, state, form, "approve", act, "approval recorded"
    )


@router.post("/ui/disclosures/{request_id}/steps/{step}")
def take_step(
    request_id: str,
    step: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
    state: Console,
) -> Response:
    """One workflow step through the API route that serves it (its rule, its function)."""
    services = services_of(request)
    found = find_step(step)
    if found is None:
        raise ApiProblem(404, "not-found", "Not found", f"no step {step!r} is served")
    if not may_take(principal, found):
        raise forbidden()
    step_form = found

    def act() -> None:
        body = build(step_form.model, body_from(step_form, form))
        arguments = {
            "request_id": request_id,
            "body": body,
            "principal": principal,
            "services": services,
            "record": record,
            "now": services.clock(),
        }
        wanted = inspect.signature(step_form.route.endpoint).parameters
        step_form.route.endpoint(**{k: v for k, v in arguments.items() if k in wanted})

    done = f"{step.replace('_', ' ')} recorded"
    return _taken(request_id, request, principal, record, state, form, step, act, done)


@router.post("/ui/disclosures/{request_id}/checklist/{item_id}/decisions")
def decide(
    request_id: str,
    item_id: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
    state: Console,
) -> Response:
    services = services_of(request)

    def act() -> None:
        body = build(
            DisclosureDecisionIn,
            {"answer": text(form, "answer"), "rationale": text(form, "rationale")},
        )
        disclosures_api.decide_disclosure(
            request_id, item_id, body, principal, services, record, services.clock()
        )

    done = f"decision on {item_id} recorded"
    return _taken(request_id, request, principal, record, state, form, f"item:{item_id}", act, done)
