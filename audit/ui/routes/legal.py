"""Lawful disclosure requests: the inbox by clock, a request's page, approvals, the
transparency report. Steps go through the API's route functions; a step the API
does not serve yet is shown as pending, not offered as a button."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit.api.problems import ApiProblem, forbidden
from audit.api.routers import disclosures as disclosures_api
from audit.api.schemas.disclosures import DisclosureDecisionIn
from audit.domain.disclosure.clocks import clocks
from audit.domain.disclosure.model import DisclosureRequest
from audit.domain.disclosure.report import transparency_report
from audit.services.disclosures import DisclosureService
from audit.ui.guard import Console, Form, Record, Viewer, text
from audit.ui.routes.common import after_post, build, services_of
from audit.ui.routes.steps import body_from, find_step, may_take

router = APIRouter(include_in_schema=False)


_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class InboxRow:
    request: DisclosureRequest
    due: datetime | None  # the nearest of the request's clocks


def _all(service: DisclosureService) -> list[DisclosureRequest]:
    # The service lists requests only for the transparency report; read the
    # same store here until it exposes a listing of its own.
    return list(service._store.all())


def _nearest(request: DisclosureRequest) -> datetime | None:
    due = [v for v in clocks(request).model_dump().values() if isinstance(v, datetime)]
    return min(due) if due else None


@router.get("/ui/disclosures")
def inbox(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    rows: list[InboxRow] = []
    for item in _all(services.disclosures):
        if not principal.sees_all(item.intake.organization_ids):
            continue
        rows.append(InboxRow(item, _nearest(item)))
    rows.sort(key=lambda r: (r.request.closed_at is not None, r.due is None, r.due or _FAR))
    record.count = len(rows)
    return state.pages.render(request, "disclosures.html", rows=rows, now=services.clock())


@router.get("/ui/disclosures/report")
def report(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    services = services_of(request)
    now = services.clock()
    year_text = request.query_params.get("year", "")
    year = int(year_text) if year_text.isdigit() and 2000 <= int(year_text) <= 2100 else now.year
    visible = [
        r for r in _all(services.disclosures) if principal.sees_all(r.intake.organization_ids)
    ]
    summary = transparency_report(visible, year)
    record.count = summary.total
    return state.pages.render(request, "report.html", report=summary, year=year)


@router.get("/ui/disclosures/{request_id}")
def request_page(
    request_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    services = services_of(request)
    now = services.clock()
    detail = disclosures_api.get_disclosure(request_id, principal, services, record, now)
    steps: list[dict[str, Any]] = []
    for name in detail.next_steps:
        found = None if name == "approve" else find_step(name)
        steps.append(
            {
                "name": name,
                "form": found if found and may_take(principal, found) else None,
                "served": name == "approve" or found is not None,
            }
        )
    return state.pages.render(
        request,
        "disclosure.html",
        item=detail,
        steps=steps,
        now=now,
        done=request.query_params.get("done", ""),
        approved_by_me=any(a.principal == principal.id for a in detail.approvals),
    )


@router.post("/ui/disclosures/{request_id}/approvals")
def approve(
    request_id: str, request: Request, form: Form, principal: Viewer, record: Record
) -> Response:
    services = services_of(request)
    disclosures_api.approve_disclosure(request_id, principal, services, record, services.clock())
    return after_post(f"/ui/disclosures/{request_id}", done="approval recorded")


@router.post("/ui/disclosures/{request_id}/steps/{step}")
def take_step(
    request_id: str,
    step: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
) -> Response:
    """One workflow step through the API route that serves it (its rule, its function)."""
    services = services_of(request)
    found = find_step(step)
    if found is None:
        raise ApiProblem(404, "not-found", "Not found", f"no step {step!r} is served")
    if not may_take(principal, found):
        raise forbidden()
    body = build(found.model, body_from(found, form))
    arguments = {
        "request_id": request_id,
        "body": body,
        "principal": principal,
        "services": services,
        "record": record,
        "now": services.clock(),
    }
    wanted = inspect.signature(found.route.endpoint).parameters
    found.route.endpoint(**{k: v for k, v in arguments.items() if k in wanted})
    return after_post(f"/ui/disclosures/{request_id}", done=f"{step.replace('_', ' ')} recorded")


@router.post("/ui/disclosures/{request_id}/checklist/{item_id}/decisions")
def decide(
    request_id: str,
    item_id: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
) -> Response:
    services = services_of(request)
    body = build(
        DisclosureDecisionIn, {"answer": text(form, "answer"), "rationale": text(form, "rationale")}
    )
    disclosures_api.decide_disclosure(
        request_id, item_id, body, principal, services, record, services.clock()
    )
    return after_post(f"/ui/disclosures/{request_id}", done=f"decision on {item_id} recorded")
