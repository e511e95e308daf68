"""Lawful disclosure requests: the inbox by clock, a request's page, approvals, the
transparency report. Steps go through the API's route functions; a step the API
does not serve yet is shown as pending, not offered as a button."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit.api.routers import disclosures as disclosures_api
from audit.api.schemas.disclosures import DisclosureDecisionIn
from audit.domain.disclosure.clocks import clocks
from audit.domain.disclosure.model import DisclosureRequest
from audit.domain.disclosure.report import transparency_report
from audit.services.disclosures import DisclosureService
from audit.ui.guard import Console, Form, Record, Viewer, text
from audit.ui.routes.common import after_post, build, services_of

router = APIRouter(include_in_schema=False)
# The steps the console can take itself (a form each); the others are listed.
FORMS = frozenset({"approve"})


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
    steps: list[dict[str, Any]] = [
        {"name": step, "form": step in FORMS} for step in detail.next_steps
    ]
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
